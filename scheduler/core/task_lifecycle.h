// TaskLifecycle: the transitions of one attempt of a task, the mechanism between the
// tables: start it on a worker (attempt id, lease facts, the Assignment message), end it
// in success, or in failure (asking the RetryPolicy whether it is charged and retried
// after what delay, and the BlamePolicy whether the worker is kept off the job), cancel
// it on its worker, and lose every attempt of a worker that went away.
//
//   TaskLifecycle life({{clock, options, signals, jobs, attempts, workers}, retry, blame,
//                       observer, sink});
//   life.Start(job, index, worker_id, device);                  // sends the assignment
//   life.Fail(attempt_id, v1::FAILURE_REASON_TIMEOUT, "timed out after 60 s");
//
// Not thread-safe: the core's one thread owns it.
#ifndef GENFARM_SCHEDULER_CORE_TASK_LIFECYCLE_H_
#define GENFARM_SCHEDULER_CORE_TASK_LIFECYCLE_H_

#include <cstdint>
#include <string>

#include "common/clock.h"
#include "common/ids.h"
#include "genfarm/v1/types.pb.h"
#include "scheduler/core/attempt_table.h"
#include "scheduler/core/core_observer.h"
#include "scheduler/core/core_options.h"
#include "scheduler/core/core_rooms.h"
#include "scheduler/core/core_signals.h"
#include "scheduler/core/job_table.h"
#include "scheduler/core/state_sink.h"
#include "scheduler/core/worker_registry.h"
#include "scheduler/policy/blame_policy.h"
#include "scheduler/policy/retry_policy.h"

namespace genfarm::scheduler {

class TaskLifecycle {
 public:
  struct Parts : CoreRooms {
    const RetryPolicy& retry;
    const BlamePolicy& blame;
    CoreObserver& observer;
    StateSink& sink;
  };
  explicit TaskLifecycle(Parts parts) : p_(parts) {}

  // Starts task `index` of `job` on `worker` (online) and device `device`; sends it the
  // assignment.
  void Start(LiveJob& job, int32_t index, const WorkerId& worker, int32_t device);
  // The attempt succeeded: its task succeeds and its dependents may run.
  void Succeed(int64_t attempt_id);
  // The attempt failed: requeued (after a backoff) or failed for good, as the retry
  // policy says; a charged failure the blame policy pins on the worker counts towards
  // keeping it off the job.
  void Fail(int64_t attempt_id, v1::FailureReason reason, const std::string& message);
  // Tells the attempt's worker (when online) to stop it, for `reason`.
  void CancelOnWorker(int64_t attempt_id, v1::FailureReason reason);
  // Removes the attempt and frees its slot; its task's state is the caller's business.
  void End(int64_t attempt_id);
  // The worker is gone: its stream is closed and every attempt it held is requeued
  // without charging a retry.
  void LoseWorker(const WorkerId& id, const std::string& why);

  // Records one log line of a task (the store keeps all; memory the newest).
  void AppendLog(LiveJob& job, int32_t index, AttemptId attempt, const std::string& text);
  // Device memory one task of the stage needs: the stage's own figure or the model's.
  int64_t TaskMemory(const LiveJob& job, int32_t stage) const;

 private:
  int64_t NowMs() const { return ToMillis(p_.clock.Now()); }
  void Blame(LiveJob& job, const WorkerId& worker);

  Parts p_;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_TASK_LIFECYCLE_H_
