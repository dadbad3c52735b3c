// SchedulerCore: the scheduler's state machine. It owns every job, task, attempt and
// connected worker in memory, decides nothing about placement itself (it asks a
// PlacementPolicy), and hands every changed record to a StateSink for durability.
//
// Task states: waiting (job waits on other jobs or is paused before start) -> blocked
// (upstream frames missing) -> queued -> running -> succeeded | failed | canceled.
// A failed attempt is requeued after a backoff while retries remain; a worker that
// fails several tasks of one job is kept off that job for a forgive time; results are
// fenced by attempt id, so a late or duplicate result from a lost worker is ignored.
//
// Threading: not thread-safe. Everything runs on one executor thread (see
// SerialExecutor); gRPC reactors post closures to it. Time comes from the injected
// Clock; call Tick() periodically (production: every 100 ms; tests: after advancing a
// FakeClock) to expire leases, time out attempts and release backoffs.
//
//   SchedulerCore core(clock, sink, policy, CoreOptions{});
//   GENFARM_RETURN_IF_ERROR(core.Recover(snapshot));
//   auto id = core.SubmitJob(spec, "ci-build-812");
//   core.WorkerHello(hello, channel);   // assignments are pushed through the channel
#ifndef GENFARM_SCHEDULER_CORE_SCHEDULER_CORE_H_
#define GENFARM_SCHEDULER_CORE_SCHEDULER_CORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/ids.h"
#include "genfarm/v1/farm_service.pb.h"
#include "genfarm/v1/job_service.pb.h"
#include "genfarm/v1/types.pb.h"
#include "genfarm/v1/worker_service.pb.h"
#include "scheduler/core/core_observer.h"
#include "scheduler/core/job_plan.h"
#include "scheduler/core/state_sink.h"
#include "scheduler/core/worker_channel.h"
#include "scheduler/policy/placement_policy.h"
#include "scheduler/store/job_store.h"

namespace genfarm::scheduler {

struct CoreOptions {
  absl::Duration lease_ttl = absl::Seconds(15);  // heartbeat silence before a worker is lost
  absl::Duration heartbeat_interval = absl::Seconds(2);
  absl::Duration retry_backoff_base = absl::Seconds(1);  // doubles per failure
  absl::Duration retry_backoff_max = absl::Seconds(60);
  int blocklist_failures = 3;  // failures of one job on one worker
  absl::Duration blocklist_forgive = absl::Minutes(10);
  int64_t max_tasks_per_job = 1'000'000;
  int max_log_lines_per_task = 1000;
  // How often Tick() asks the policy again although nothing changed: time-based rules
  // (waiting for a warm worker, preemption limits) change their answer with time alone.
  absl::Duration policy_interval = absl::Seconds(1);
  // Half-life of each project's decayed usage (ProjectUsage::decayed_usage), the
  // fair-share memory: a project that got little recently is owed more.
  absl::Duration usage_half_life = absl::Minutes(10);
};

struct SubmitResult {
  JobId id;
  bool created = false;
};

class SchedulerCore {
 public:
  SchedulerCore(Clock& clock, StateSink& sink, PlacementPolicy& policy, CoreOptions options,
                CoreObserver* observer = nullptr);

  // Rebuilds state from the store. Attempts that were running stay running until
  // their worker reconnects and claims them, or a lease time passes.
  absl::Status Recover(const StoreSnapshot& snapshot);

  // --- Jobs ---
  absl::StatusOr<SubmitResult> SubmitJob(v1::JobSpec spec, const std::string& idempotency_key);
  absl::StatusOr<v1::Job> GetJob(JobId id) const;
  absl::StatusOr<std::vector<v1::Task>> GetTasks(JobId id) const;
  // Newest first. page_token is the last id of the previous page.
  v1::ListJobsResponse ListJobs(const v1::ListJobsRequest& request) const;
  absl::StatusOr<v1::Job> CancelJob(JobId id);
  absl::StatusOr<v1::Job> PauseJob(JobId id);
  absl::StatusOr<v1::Job> ResumeJob(JobId id);
  absl::StatusOr<int32_t> RetryTasks(JobId id, bool failed_only, const std::vector<int32_t>& tasks);
  absl::StatusOr<v1::Job> SetPriority(JobId id, int32_t priority);

  // Watchers get the job now and on every change until it ends (then `done` is true).
  using JobListener = std::function<void(const v1::JobEvent& event, bool done)>;
  absl::StatusOr<int64_t> Watch(JobId id, JobListener listener);
  void Unwatch(int64_t watch_id);

  // --- Workers ---
  absl::Status WorkerHello(const v1::Hello& hello, std::shared_ptr<WorkerChannel> channel);
  // The stream ended: its running attempts are requeued.
  void WorkerGone(const WorkerId& worker, const WorkerChannel* channel);
  void WorkerHeartbeat(const WorkerId& worker, const v1::Heartbeat& heartbeat);
  void WorkerProgress(const WorkerId& worker, const v1::Progress& progress);
  // True when the result was accepted (success or failure applied to its task); false
  // when fenced off as stale or duplicate (unknown attempt, another worker's, moved on).
  bool WorkerResult(const WorkerId& worker, const v1::Result& result);
  absl::StatusOr<v1::Worker> SetDrain(const WorkerId& worker, bool drain);
  std::vector<v1::Worker> ListWorkers(bool include_offline) const;
  v1::FarmStats Stats() const;
  // Runnable tasks (queued, not backing off) per (project, tier) of every known job, for
  // the queue-depth gauge (pairs with nothing queued are 0, so they show as an empty queue).
  std::map<std::pair<std::string, v1::Tier>, int64_t> QueueDepths() const;

  // Expires leases and timeouts, releases backoffs, dispatches.
  void Tick();

  // Places queued work on free slots. Called after every event that may free a slot
  // or make a task runnable; cheap when nothing changed.
  void Dispatch();

  int64_t task_count() const { return total_tasks_; }

 private:
  struct Task {
    TaskRecord rec;
    int32_t unmet_deps = 0;
    std::vector<int32_t> dependents;
    std::vector<int32_t> deps;
    int64_t runnable_since_ms = 0;
    int32_t device = -1;
    int64_t reserved_bytes = 0;
    // Leading frames of the chunk written by a preempted attempt; the next attempt is
    // assigned only the rest. Cleared when the task ends (a retry renders everything).
    int64_t kept_frames = 0;
    std::vector<std::string> log;  // bounded recent lines (full history in the store)
  };
  struct Stage {
    std::set<int32_t> queued;  // runnable task indexes, lowest first
    int64_t frames_total = 0;
    int64_t frames_done = 0;
    absl::flat_hash_map<int, int64_t> count;  // TaskState -> tasks
    std::string unplaceable;                  // why nobody can run it, for status
    int64_t last_start_ms = 0;                // when one of its tasks last started
  };
  struct Blocklist {
    int failures = 0;
    int64_t until_ms = 0;
  };
  struct Job {
    JobRecord rec;
    JobPlan plan;
    std::vector<Task> tasks;
    std::vector<Stage> stages;
    int32_t unmet_jobs = 0;
    std::vector<JobId> dependents;
    absl::flat_hash_map<std::string, Blocklist> blocklist;
    std::vector<int32_t> changed;  // tasks changed since the last watch event
  };
  struct Attempt {
    TaskId task;
    WorkerId worker;
    int64_t start_ms = 0;
    int64_t deadline_ms = 0;  // 0 = no timeout
  };
  struct WorkerState {
    v1::Hello hello;
    std::shared_ptr<WorkerChannel> channel;  // null when offline
    bool draining = false;                   // by the operator (genfarm drain); survives reconnects
    bool shutting_down = false;  // the worker drains itself (SIGTERM); its next hello clears it
    int64_t last_seen_ms = 0;
    absl::flat_hash_set<int64_t> attempts;
    absl::flat_hash_set<std::string> loaded;
    std::vector<v1::Device> devices;
  };
  struct Watcher {
    JobId job;
    JobListener listener;
  };

  int64_t NowMs() const { return ToMillis(clock_.Now()); }
  Job* FindJob(JobId id);
  const Job* FindJob(JobId id) const;
  absl::StatusOr<Job*> MutableJob(JobId id);
  void BuildJob(Job& job, const v1::JobSpec& spec);
  void SetTaskState(Job& job, int32_t index, v1::TaskState state);
  void PersistTask(Job& job, int32_t index);
  void PersistJob(Job& job);
  void MakeRunnable(Job& job, int32_t index);  // blocked/waiting -> queued or blocked
  void OnTaskSucceeded(Job& job, int32_t index);
  void OnTaskFailedFinal(Job& job, int32_t index);
  void FailAttempt(int64_t attempt_id, v1::FailureReason reason, const std::string& message,
                   bool charge_retry);
  void EndAttempt(int64_t attempt_id);
  void UpdateJobState(Job& job);
  void OnJobEnded(Job& job);
  void UpdateUnplaceable();
  // Tags, models and devices of a worker (no slot or memory use).
  WorkerView StaticView(const WorkerId& id, const WorkerState& worker) const;
  // StaticView minus what its running attempts hold: free slots and free device memory.
  WorkerView LiveView(const WorkerId& id, const WorkerState& worker) const;
  WorkGroup MakeGroup(const Job& job, int32_t stage, int64_t now_ms) const;
  void StartJobIfReady(Job& job);
  void AssignTask(Job& job, int32_t index, WorkerState& worker, int32_t device);
  void LoseWorker(const WorkerId& id, const std::string& why);
  // Asks the policy which batch attempts to preempt for waiting work (any tier) and
  // preempts them. Returns true when it preempted anything.
  bool PreemptForWaitingWork();
  void AppendLog(Job& job, int32_t index, AttemptId attempt, const std::string& text);
  void NotifyWatchers();
  v1::Job ToProto(const Job& job) const;
  v1::Task ToProto(const Job& job, int32_t index) const;
  v1::Worker ToProto(const WorkerId& id, const WorkerState& w) const;
  TemporalWindow ModelWindow(const std::string& model) const;
  int64_t TaskMemory(const Job& job, int32_t stage) const;

  Clock& clock_;
  StateSink& sink_;
  PlacementPolicy& policy_;
  CoreOptions options_;
  CoreObserver* observer_;
  NullCoreObserver null_observer_;

  std::map<JobId, Job> jobs_;
  absl::flat_hash_map<std::string, JobId> idempotency_;
  absl::flat_hash_set<JobId> active_jobs_;  // jobs with queued or running work
  absl::flat_hash_map<int64_t, Attempt> attempts_;
  std::map<WorkerId, WorkerState> workers_;
  std::multimap<int64_t, TaskId> backoff_;  // not_before_ms -> task
  absl::flat_hash_set<JobId> dirty_jobs_;
  std::map<int64_t, Watcher> watchers_;
  absl::flat_hash_map<std::string, v1::ModelInfo> models_;  // union of workers' models
  int64_t next_job_id_ = 1;
  int64_t attempt_high_water_ = 0;
  int64_t next_watch_id_ = 1;
  int64_t total_tasks_ = 0;
  int64_t recovery_deadline_ms_ = 0;
  int64_t last_unplaceable_ms_ = 0;
  int64_t last_policy_ms_ = 0;
  // Decayed slot-seconds per project, and the running slots they were last integrated with.
  struct DecayedUsage {
    double slot_seconds = 0;
    double running = 0;
  };
  absl::flat_hash_map<std::string, DecayedUsage> usage_;
  int64_t usage_ms_ = 0;
  bool dispatch_needed_ = true;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_SCHEDULER_CORE_H_
