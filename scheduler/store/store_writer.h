// StoreWriter: makes the scheduler's changes durable without making the scheduler wait for the
// disk. The core thread hands over changed records (Put*/AppendLog, a short mutex and a map
// insert); a writer thread commits whatever is pending as one WriteBatch through a JobStore.
// While a commit runs, new writes accumulate for the next one: group commit without a timer,
// so a burst of 10,000 task updates costs a handful of transactions, and an idle farm costs
// none. Pending jobs and tasks coalesce by id (latest wins): a task updated five times between
// commits is written once. Logs are appended in order.
//
//   StoreWriter::Options options;
//   options.on_commit = [&](const CommitStats& s) { metrics.commit_seconds.Observe(s.seconds); };
//   StoreWriter writer(*store, RealClock::Get(), options);
//   writer.PutTask(task);                      // never blocks on I/O
//   writer.AppendLog({task.id, attempt, now_ms, "loaded model upres_v2"});
//   ...
//   GENFARM_RETURN_IF_ERROR(writer.Flush());   // on shutdown: everything above is durable
//   writer.Stop();
//
// Failures: a failed commit is logged (spdlog), reported through on_commit and last_error(),
// and retried after common/backoff.h's exponential delay, waited out on the injected clock
// (FakeClock::Advance() ends it in tests); its records stay pending (newer updates to the same
// keys win) so nothing is lost. A permanent failure (disk full, a reused idempotency key) keeps
// the writer retrying and last_error() non-OK, which is what /healthz should report.
//
// Ownership: borrows the store and the clock, which must outlive the writer; owns the writer
// thread, started by the constructor and joined by Stop() or the destructor.
// Thread-safety: Put*, AppendLog, Set*HighWater, Flush, last_error and pending_records
// are safe from any thread. The store is only called from the writer thread. Do not call
// Flush or Stop from on_commit (it runs on the writer thread they wait for).
#ifndef GENFARM_SCHEDULER_STORE_STORE_WRITER_H_
#define GENFARM_SCHEDULER_STORE_STORE_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "scheduler/store/job_store.h"

namespace genfarm::scheduler {

// What one commit attempt did, for metrics.
struct CommitStats {
  size_t records = 0;  // jobs + tasks + logs in the batch
  size_t jobs = 0;
  size_t tasks = 0;
  size_t logs = 0;
  double seconds = 0;  // Commit duration, measured with the injected clock
  bool ok = false;
};

class StoreWriter {
 public:
  struct Options {
    // Upper bound on records per transaction (0 = no bound). A larger backlog is committed as
    // several transactions back to back; Flush waits for all of them.
    size_t max_batch_records = 0;
    // Retry backoff after a failed commit: doubles from initial to max (BackoffDelay, no
    // jitter: one writer per store has nobody to fall out of step with), reset by a success.
    // Waited on the injected clock; Stop() cuts it short, new writes do not.
    absl::Duration initial_backoff = absl::Milliseconds(50);
    absl::Duration max_backoff = absl::Seconds(5);
    // Called on the writer thread after every commit attempt, without locks held.
    std::function<void(const CommitStats&)> on_commit;
  };

  StoreWriter(JobStore& store, const Clock& clock);
  StoreWriter(JobStore& store, const Clock& clock, Options options);
  // Stop()s if still running.
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // Enqueue a change. Cheap: a lock, a map insert, a notify. Never waits for a commit.
  void PutJob(JobRecord job);
  void PutTask(TaskRecord task);
  // Tasks of a new job, taken whole (a move, whatever their number). Written before the
  // PutTask records of the same commit, so a later PutTask of one of them wins.
  void PutNewTasks(std::vector<TaskRecord> tasks);
  void AppendLog(LogRecord log);
  void PutWorker(WorkerRecord worker);
  void PutModel(ModelRecord model);
  // Removes a job with its tasks and logs (committed after any of its records still pending).
  void DeleteJob(JobId job);
  // Raise the pending attempt / job id high water (never lower it).
  void SetAttemptHighWater(int64_t high_water);
  void SetJobHighWater(int64_t high_water);

  // An atomic unit: records put between BeginUnit() and EndUnit() are committed in one
  // transaction, never split (the writer does not take the backlog while a unit is open,
  // and max_batch_records never splits a backlog holding a unit). A job and all its tasks
  // are one unit, so no crash can leave a torn job. Units nest; keep them short (one core
  // event), since the writer waits for them to close.
  void BeginUnit();
  void EndUnit();

  // Calls `done` once everything enqueued before the call is committed: OK then, or
  // FailedPrecondition if the writer stops first. Never blocks: `done` runs on the writer
  // thread after the commit (or at once on the calling thread when nothing is pending),
  // without locks held, so it must be quick (reactors finish their call and return). This
  // is how a reply promises durability without the core thread waiting for the disk.
  void WhenDurable(std::function<void(absl::Status)> done);

  // Blocks until everything enqueued before the call is committed. Returns OK then;
  // DeadlineExceeded (carrying the last commit error) if `timeout` passes first (on the
  // injected clock);
  // FailedPrecondition if the writer is stopped before it gets there.
  absl::Status Flush(absl::Duration timeout = absl::InfiniteDuration());

  // Makes one final attempt to commit what is pending, then joins the writer thread.
  // Returns that attempt's error (naming how many records were not made durable), else OK.
  // Changes enqueued after Stop() are dropped. Idempotent.
  absl::Status Stop();

  // The error of the most recent commit attempt; OK once a commit succeeds again.
  absl::Status last_error() const;
  // Records enqueued but not yet committed (including a batch being committed).
  size_t pending_records() const;

 private:
  // Pending changes, taken whole by the writer thread.
  struct Pending {
    absl::flat_hash_map<JobId, JobRecord> jobs;
    // Task puts in order. A deque, coalesced by id (latest wins) only when the writer takes
    // them (Split): appending never moves what is there, so a million puts between two
    // commits never cost the core thread a rehash of a million records.
    std::deque<TaskRecord> tasks;
    std::vector<std::vector<TaskRecord>> new_tasks;  // PutNewTasks runs, older than `tasks`
    size_t new_task_count = 0;
    std::vector<LogRecord> logs;
    absl::flat_hash_map<WorkerId, WorkerRecord> workers;
    absl::flat_hash_map<std::string, ModelRecord> models;
    std::vector<JobId> deleted_jobs;
    int64_t attempt_high_water = 0;
    int64_t job_high_water = 0;
    bool holds_unit = false;  // an atomic unit's records are here: commit in one transaction

    bool empty() const {
      return jobs.empty() && tasks.empty() && new_tasks.empty() && logs.empty() &&
             workers.empty() && models.empty() && deleted_jobs.empty() && attempt_high_water == 0 &&
             job_high_water == 0;
    }
    size_t records() const {
      return jobs.size() + tasks.size() + new_task_count + logs.size() + workers.size() +
             models.size() + deleted_jobs.size();
    }
  };
  struct DurableWaiter {
    uint64_t seq = 0;  // durable once committed_seq_ reaches it
    std::function<void(absl::Status)> done;
  };
  // Waiters whose records are committed (or all of them, with an error, when stopped).
  std::vector<DurableWaiter> TakeDueWaiters(bool all) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void Run();
  // Commits `batches` in order; returns the index of the first failing batch (size() if all
  // succeeded) and its error in *error.
  size_t CommitAll(std::vector<WriteBatch>& batches, absl::Status* error) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<WriteBatch> Split(Pending pending) const;
  // Puts the uncommitted batches back in front of what was enqueued meanwhile.
  void Requeue(std::vector<WriteBatch>& batches, size_t first) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  JobStore& store_;
  const Clock& clock_;
  const Options options_;

  mutable absl::Mutex mu_;
  Pending pending_ ABSL_GUARDED_BY(mu_);
  size_t in_flight_records_ ABSL_GUARDED_BY(mu_) = 0;
  // Every Put bumps enqueued_seq_; committed_seq_ is the enqueued_seq_ at the moment the
  // writer took a backlog that has since been committed in full.
  uint64_t enqueued_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t committed_seq_ ABSL_GUARDED_BY(mu_) = 0;
  int open_units_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<DurableWaiter> waiters_ ABSL_GUARDED_BY(mu_);  // in seq order
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;  // Stop() called: final attempt, then exit
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;   // writer thread has exited
  absl::Status stop_status_ ABSL_GUARDED_BY(mu_);

  // Never drawn from (no jitter); ExponentialBackoff wants a generator all the same.
  absl::InsecureBitGen unused_bitgen_;
  absl::Mutex join_mu_;  // serialises Stop() callers around the join
  std::thread thread_;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_STORE_STORE_WRITER_H_
