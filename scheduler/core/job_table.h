// JobTable: every job and task the scheduler knows, in memory: task states and the
// per-stage counters and queues that follow them, frame-level task dependencies and
// job-level dependencies, idempotency keys, and the retry backoff queue. Each change it
// makes is handed to the StateSink (the store) and marked for watchers.
//
//   JobTable jobs(clock, sink, signals);
//   LiveJob& job = jobs.Insert(std::move(record), std::move(plan));
//   jobs.SetTaskState(job, 0, v1::TASK_STATE_QUEUED);   // persisted, watchers told
//   jobs.ReleaseDependents(job, 0);                      // after task 0 succeeded
//
// It knows nothing of workers or attempts (AttemptTable, WorkerRegistry) and decides no
// policy. Not thread-safe: the core's one thread owns it.
#ifndef GENFARM_SCHEDULER_CORE_JOB_TABLE_H_
#define GENFARM_SCHEDULER_CORE_JOB_TABLE_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/ids.h"
#include "genfarm/v1/types.pb.h"
#include "scheduler/core/core_signals.h"
#include "scheduler/core/job_plan.h"
#include "scheduler/core/state_sink.h"
#include "scheduler/store/job_store.h"

namespace genfarm::scheduler {

struct LiveTask {
  TaskRecord rec;
  int32_t unmet_deps = 0;
  std::vector<int32_t> dependents;
  std::vector<int32_t> deps;
  int64_t runnable_since_ms = 0;
  // Leading frames of the chunk written by a preempted attempt; the next attempt is
  // assigned only the rest. Cleared when the task ends (a retry renders everything).
  int64_t kept_frames = 0;
  std::vector<std::string> log;  // bounded recent lines (full history in the store)
};

struct LiveStage {
  std::set<int32_t> queued;  // runnable task indexes, lowest first
  int64_t frames_total = 0;
  int64_t frames_done = 0;
  absl::flat_hash_map<int, int64_t> count;  // TaskState -> tasks
  std::string unplaceable;                  // why nobody can run it, for status
  int64_t last_start_ms = 0;                // when one of its tasks last started

  int64_t Count(v1::TaskState state) const {
    auto it = count.find(state);
    return it == count.end() ? 0 : it->second;
  }
};

// Blamed failures of one worker on one job (BlamePolicy says what they mean).
struct BlocklistEntry {
  int failures = 0;
  int64_t until_ms = 0;  // kept off the job until then (0 = not kept off)
};

struct LiveJob {
  JobRecord rec;
  JobPlan plan;
  std::vector<LiveTask> tasks;
  std::vector<LiveStage> stages;
  int32_t unmet_jobs = 0;
  std::vector<JobId> dependents;
  absl::flat_hash_map<std::string, BlocklistEntry> blocklist;  // by worker id
  std::vector<int32_t> changed;  // tasks changed since the last watch event
};

bool IsTerminal(v1::TaskState state);
bool IsEnded(v1::JobState state);

// A change to every task of a job, made a slice at a time (JobTable::StartSweep): at the
// caps (1,000,000 tasks) one pass would hold the core thread for a second.
enum class SweepKind {
  kActivate,  // waiting tasks of an active job become queued or blocked
  kCancel,    // tasks that have not ended (and are not running) are canceled
  kRetry,     // failed and canceled tasks start again, then as kActivate
};

struct Sweep {
  JobId job;
  SweepKind kind = SweepKind::kActivate;
  int32_t next = 0;          // first task index not yet visited
  std::string task_message;  // kCancel: why, on each task
  std::string job_message;   // set on the job when the sweep ends (if not empty)
};

class JobTable {
 public:
  JobTable(Clock& clock, StateSink& sink, CoreSignals& signals)
      : clock_(clock), sink_(sink), signals_(signals) {}

  LiveJob* Find(JobId id);
  const LiveJob* Find(JobId id) const;
  // Find(), or NOT_FOUND naming the job.
  absl::StatusOr<LiveJob*> Mutable(JobId id);
  const std::map<JobId, LiveJob>& jobs() const { return jobs_; }
  std::optional<JobId> FindByIdempotencyKey(const std::string& key) const;

  // A fresh job id, never handed out before (ids of recovered and deleted jobs included).
  // Thread-safe: the planner thread reserves the id of a job it builds (a submission refused
  // later leaves a gap, never handed out again while the scheduler runs). The high water
  // goes to the store with the job that takes the id (Admit).
  JobId NextId() { return JobId(next_job_id_.fetch_add(1)); }
  // After recovery: ids up to the stored high water are used, whether or not their jobs
  // are still in the store (deleted jobs never free their ids).
  void RecoverJobHighWater(int64_t high_water) { RaiseNextId(JobId(high_water)); }
  // The id NextId() hands out next.
  int64_t next_job_id() const { return next_job_id_.load(); }
  // Adds a job with tasks built from `plan` (records and states still to fill, see
  // InitNewTasks) and remembers its idempotency key. Persists nothing.
  LiveJob& Insert(JobRecord rec, JobPlan plan);
  // Adds a job built off the core thread (PrepareJob, job_builder.h, under an id from
  // NextId()); `records` (the same tasks) go to the store in one call with the job. Cheap
  // at any size: moves only.
  LiveJob& Admit(LiveJob job, std::vector<TaskRecord> records);
  // Forgets a job that was inserted but could not be rebuilt (recovery only: nothing may
  // refer to it yet). Its id stays used.
  void Erase(JobId id);
  // Deletes an ended job from memory and, through the sink, from the store (retention).
  // The caller has checked nothing needs it (SchedulerCore::DeleteJob). Its id stays used.
  // Returns the job's memory for the caller to free when it suits it: a million tasks
  // take longer to free than a tick may hold the core thread.
  LiveJob Remove(JobId id);
  // New job: every task waiting with its dependencies unmet; job dependencies linked.
  void InitNewTasks(LiveJob& job);
  // Links `job` to the jobs it depends on that have not succeeded yet.
  void LinkJobDependencies(LiveJob& job);

  // Moves a task to `state`, keeping stage counters, queues and backoffs in step;
  // persists it (unless !persist) and marks it changed for watchers. Waiting, blocked
  // and queued need no persisting: recovery derives them (see recovery.cc Unstrand).
  void SetTaskState(LiveJob& job, int32_t index, v1::TaskState state, bool persist = true);
  // waiting/blocked -> queued (or blocked while upstream frames are missing).
  void MakeRunnable(LiveJob& job, int32_t index, bool persist = true);
  // Task `index` succeeded: dependents with nothing else missing are queued.
  void ReleaseDependents(LiveJob& job, int32_t index);
  // Task `index` failed for good: whatever needs its frames is canceled, saying why.
  void CancelDownstream(LiveJob& job, int32_t index);
  // Recounts the job's state from its tasks; ends it (and tells dependent jobs) when
  // every task is done.
  void UpdateJobState(LiveJob& job);
  // Starts a job whose dependencies are met and that is not paused.
  void StartJobIfReady(LiveJob& job);
  // The job ended: jobs waiting on it start, or are canceled when it did not succeed.
  void OnJobEnded(LiveJob& job);

  void PersistJob(LiveJob& job);
  void PersistTask(const LiveJob& job, int32_t index);
  // Marks a task changed for watchers without a state change (progress).
  void MarkChanged(LiveJob& job, int32_t index);

  // Starts a sweep of `job` and runs its first slice now, so a job of up to sweep_slice()
  // tasks is swept when this returns; RunSweeps() does the rest. A job has one sweep at a
  // time: a new one replaces the old (a cancel covers everything an activation or retry
  // would have touched; a retry activates too). While a job is swept its state is not
  // recounted; the sweep's end does it.
  void StartSweep(LiveJob& job, SweepKind kind, std::string task_message = "",
                  std::string job_message = "");
  // Runs sweep slices until about `budget` tasks were visited; true while sweeps remain.
  bool RunSweeps(int64_t budget);
  const Sweep* FindSweep(JobId id) const;
  bool has_sweeps() const { return !sweeps_.empty(); }
  void set_sweep_slice(int64_t tasks) { sweep_slice_ = tasks; }
  int64_t sweep_slice() const { return sweep_slice_; }

  // Queued tasks whose backoff ran out become runnable; true when any did.
  bool ReleaseBackoffs(int64_t now_ms);
  // Puts a recovered queued task on its stage queue or the backoff queue.
  void RequeueRecovered(LiveJob& job, int32_t index, int64_t now_ms);

  // Jobs with queued or running work.
  const absl::flat_hash_set<JobId>& active() const { return active_; }
  void MarkActive(JobId id) { active_.insert(id); }
  // Jobs changed since the watchers were last told; TakeDirty() hands them over.
  absl::flat_hash_set<JobId> TakeDirty();
  void MarkDirty(JobId id) { dirty_.insert(id); }

  int64_t task_count() const { return total_tasks_; }
  StateSink& sink() { return sink_; }
  void AddTaskCount(int64_t n) { total_tasks_ += n; }

 private:
  int64_t NowMs() const { return ToMillis(clock_.Now()); }
  void RaiseNextId(JobId used);
  // Visits up to `budget` tasks of `sweep`; true when the sweep is done.
  bool RunSweepSlice(Sweep& sweep, int64_t budget);
  void EndSweep(const Sweep& sweep);

  Clock& clock_;
  StateSink& sink_;
  CoreSignals& signals_;
  std::map<JobId, LiveJob> jobs_;
  absl::flat_hash_map<std::string, JobId> idempotency_;
  absl::flat_hash_set<JobId> active_;
  absl::flat_hash_set<JobId> dirty_;
  std::multimap<int64_t, TaskId> backoff_;  // not_before_ms -> task
  std::atomic<int64_t> next_job_id_{1};
  int64_t total_tasks_ = 0;
  std::deque<Sweep> sweeps_;  // in the order they run, one per job
  int64_t sweep_slice_ = 5'000;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_JOB_TABLE_H_
