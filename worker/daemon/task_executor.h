// TaskExecutor: runs the scheduler's assignments, one thread per running attempt (the
// scheduler never assigns more than the worker's slots), cancels them on request,
// reports progress and results through a send function, and drains.
//
//   TaskExecutor executor(runners, [&](const v1::WorkerMessage& m) { link.Send(m); }, clock);
//   executor.Handle(scheduler_message);   // assign / cancel / drain
//   executor.Drain(absl::Minutes(5));     // SIGTERM: stop taking work, finish what runs
//
// With a LeaseTable (docs/fencing.md) every attempt is fenced: the runner checks its lease
// before each rename, a cancel revokes it, and Lose() (the table's callback when a lease runs
// out or the scheduler took the attempt back) stops it as worker-lost.
//
// Every result carries a last log line saying how the attempt ended, so no task's log is
// empty. The drain grace period is measured on the injected clock. Borrows the clock, the
// runners and the lease table, which must outlive the executor. Thread-safe.
#ifndef GENFARM_WORKER_DAEMON_TASK_EXECUTOR_H_
#define GENFARM_WORKER_DAEMON_TASK_EXECUTOR_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "genfarm/v1/worker_service.pb.h"
#include "worker/daemon/lease_table.h"
#include "worker/daemon/task_runner.h"

namespace genfarm::worker {

// Runs `runner` on `context`; an exception it throws becomes a failed outcome
// (std::bad_alloc: out of memory; anything else: model error) instead of ending the worker.
TaskOutcome RunCatching(TaskRunner& runner, const TaskContext& context);

class TaskExecutor {
 public:
  using Send = std::function<void(const v1::WorkerMessage&)>;
  // Picks the runner for an assignment (model stages vs dailies).
  using RunnerFor = std::function<TaskRunner&(const v1::Assignment&)>;

  TaskExecutor(RunnerFor runner_for, Send send, const Clock& clock, LeaseTable* lease = nullptr);
  ~TaskExecutor();  // cancels and joins everything still running

  void Handle(const v1::SchedulerMessage& message);

  // Stops an attempt this worker may no longer write for (its lease ran out, or the scheduler
  // holds it no more): it is cancelled and reported worker-lost, `why` in its message.
  void Lose(int64_t attempt, const std::string& why);

  // Called with each failed attempt's reason (metrics). Set before the first assignment.
  void SetFailureObserver(std::function<void(v1::FailureReason)> observer) {
    on_failure_ = std::move(observer);
  }

  std::vector<int64_t> Running() const;
  bool draining() const;
  int busy() const;

  // Stops accepting assignments and waits up to `grace` for running attempts; what is
  // still running then is cancelled (its attempt is reported canceled and requeued by
  // the scheduler). Returns true when everything finished on its own.
  bool Drain(absl::Duration grace);

 private:
  struct RunningAttempt {
    std::shared_ptr<CancelToken> cancel;
    v1::FailureReason cancel_reason = v1::FAILURE_REASON_CANCELED;
    std::string lost_why;  // set by Lose
    std::thread thread;
  };
  void Start(const v1::Assignment& assignment);
  void RunAttempt(v1::Assignment assignment, std::shared_ptr<CancelToken> cancel);
  void ReapFinished() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  RunnerFor runner_for_;
  Send send_;
  const Clock& clock_;
  LeaseTable* lease_;  // may be null
  std::function<void(v1::FailureReason)> on_failure_;
  mutable absl::Mutex mu_;
  std::map<int64_t, RunningAttempt> running_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> finished_ ABSL_GUARDED_BY(mu_);  // to join
  bool draining_ ABSL_GUARDED_BY(mu_) = false;              // the scheduler's drain/undrain
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;         // Drain() (SIGTERM): final
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_DAEMON_TASK_EXECUTOR_H_
