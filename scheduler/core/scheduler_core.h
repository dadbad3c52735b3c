// SchedulerCore: the scheduler's state machine, as one facade over rooms with one job
// each (see docs/architecture.md):
//   JobTable       jobs, tasks, stage counters, frame and job dependencies
//   AttemptTable   attempt ids (fencing), lease facts, what attempts hold
//   WorkerRegistry workers, drain, live views of free slots and memory, model catalog
//   TaskLifecycle  start / succeed / fail / cancel attempts, lose workers
//   Dispatcher     placement rounds, preemption, unplaceable reasons
//   JobCommands    submit, cancel, pause, resume, retry, priority
//   WorkerEvents   hello, heartbeat, progress, results, drain, lease expiry
//   WatchHub       job watchers;  CoreViews: every protobuf view;  RecoverTables()
// Policy lives in scheduler/policy and is asked, never embedded: placement and preemption
// (PlacementPolicy), retries and backoff (RetryPolicy), blame and blocklisting
// (BlamePolicy), fair-share memory (UsageLedger).
//
// Task states: waiting (job waits on other jobs or is paused before start) -> blocked
// (upstream frames missing) -> queued -> running -> succeeded | failed | canceled.
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
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/ids.h"
#include "genfarm/v1/farm_service.pb.h"
#include "genfarm/v1/job_service.pb.h"
#include "genfarm/v1/types.pb.h"
#include "genfarm/v1/worker_service.pb.h"
#include "scheduler/core/attempt_table.h"
#include "scheduler/core/core_observer.h"
#include "scheduler/core/core_options.h"
#include "scheduler/core/core_signals.h"
#include "scheduler/core/core_views.h"
#include "scheduler/core/dispatcher.h"
#include "scheduler/core/job_builder.h"
#include "scheduler/core/job_commands.h"
#include "scheduler/core/job_table.h"
#include "scheduler/core/model_catalog.h"
#include "scheduler/core/state_sink.h"
#include "scheduler/core/task_lifecycle.h"
#include "scheduler/core/watch_hub.h"
#include "scheduler/core/worker_channel.h"
#include "scheduler/core/worker_events.h"
#include "scheduler/core/worker_registry.h"
#include "scheduler/policy/blame_policy.h"
#include "scheduler/policy/placement_policy.h"
#include "scheduler/policy/retry_policy.h"
#include "scheduler/policy/usage_ledger.h"
#include "scheduler/store/job_store.h"

namespace genfarm::scheduler {

// The non-placement policies, for callers (tests, the simulator) that bring their own.
// Null members are built from CoreOptions.
struct CorePolicies {
  RetryPolicy* retry = nullptr;
  BlamePolicy* blame = nullptr;
  UsageLedger* usage = nullptr;
};

class SchedulerCore {
 public:
  SchedulerCore(Clock& clock, StateSink& sink, PlacementPolicy& policy, CoreOptions options,
                CoreObserver* observer = nullptr, CorePolicies policies = {});

  // Rebuilds state from the store. Attempts that were running stay running until
  // their worker reconnects and claims them, or a lease time passes.
  absl::Status Recover(const StoreSnapshot& snapshot);

  // --- Jobs ---
  // Validates, plans and adds the job here and now (tests, the simulator, benchmarks).
  absl::StatusOr<SubmitResult> SubmitJob(v1::JobSpec spec, const std::string& idempotency_key) {
    StateSink::Unit unit(sink_);  // a job and all its tasks commit together
    return commands_.Submit(std::move(spec), idempotency_key);
  }
  // Adds a job PrepareJob built off the core thread (the server's path): the core thread
  // only moves it in, whatever its size.
  absl::StatusOr<SubmitResult> AdmitJob(PreparedJob prepared, const std::string& idempotency_key) {
    StateSink::Unit unit(sink_);
    return commands_.Admit(std::move(prepared), idempotency_key);
  }
  // PrepareJob (job_builder.h) with this core's model catalog and caps. Thread-safe (the
  // catalog locks itself, the options never change): the server calls it on its planner
  // thread, then AdmitJob on the core's.
  // `id` defaults to a fresh one (JobTable::NextId is thread-safe).
  // Out of memory fails this request with RESOURCE_EXHAUSTED; the process lives.
  absl::StatusOr<PreparedJob> PrepareJob(v1::JobSpec spec, std::optional<JobId> id = {});
  // The catalog learns models (from a hello, the store at recovery, tests); jobs that
  // waited for them are planned.
  void LearnModels(const std::vector<v1::ModelInfo>& models);
  // What workers have said of each model: PrepareJob reads it (thread-safe).
  const ModelCatalog& catalog() const { return catalog_; }
  // Where jobs that waited for model facts are planned (default: inline, on the core thread).
  void SetPlanRunner(PlanRunner runner) { commands_.set_plan_runner(std::move(runner)); }
  absl::StatusOr<v1::Job> GetJob(JobId id) const;
  // Every task (in-process callers only: a reply to a client pages, see ListTasks).
  absl::StatusOr<std::vector<v1::Task>> GetTasks(JobId id) const;
  // Newest first. page_token is the last id of the previous page. Unchecked: a request
  // CheckedListJobs refuses gets an empty page.
  v1::ListJobsResponse ListJobs(const v1::ListJobsRequest& request) const {
    return views_.ListJobs(request).value_or(v1::ListJobsResponse{});
  }
  // The bounded views that gRPC and the dashboard answer with (CoreViews): GetJob's tasks
  // only for jobs of at most kGetJobMaxTasks, job summaries, one page of tasks per call.
  // Each refuses a malformed field with INVALID_ARGUMENT naming it.
  absl::StatusOr<v1::GetJobResponse> GetJob(const v1::GetJobRequest& request) const {
    return views_.GetJob(request);
  }
  absl::StatusOr<v1::ListJobsResponse> CheckedListJobs(const v1::ListJobsRequest& request) const {
    return views_.ListJobs(request);
  }
  absl::StatusOr<v1::ListTasksResponse> ListTasks(const v1::ListTasksRequest& request) const {
    return views_.ListTasks(request);
  }
  absl::StatusOr<v1::Job> CancelJob(JobId id) {
    StateSink::Unit unit(sink_);
    return commands_.Cancel(id);
  }
  absl::StatusOr<v1::Job> PauseJob(JobId id) {
    StateSink::Unit unit(sink_);
    return commands_.Pause(id);
  }
  absl::StatusOr<v1::Job> ResumeJob(JobId id) {
    StateSink::Unit unit(sink_);
    return commands_.Resume(id);
  }
  absl::StatusOr<int32_t> RetryTasks(JobId id, bool failed_only,
                                     const std::vector<int32_t>& tasks) {
    StateSink::Unit unit(sink_);
    return commands_.Retry(id, failed_only, tasks);
  }
  absl::StatusOr<v1::Job> SetPriority(JobId id, int32_t priority) {
    StateSink::Unit unit(sink_);
    return commands_.SetPriority(id, priority);
  }

  // Deletes an ended job (succeeded, failed or canceled) from memory and the store: its
  // tasks, logs and idempotency key go; its id is never handed out again. Returns the job
  // as it was. NOT_FOUND for an unknown job; FAILED_PRECONDITION, naming the state, for
  // one that has not ended, or naming the job, while a job that has not ended depends on
  // it. Reply from WhenDurable.
  absl::StatusOr<v1::Job> DeleteJob(JobId id);

  // Watchers get the job now and on every change until it ends (then `done` is true).
  using JobListener = WatchHub::JobListener;
  absl::StatusOr<int64_t> Watch(JobId id, JobListener listener) {
    return watch_hub_.Watch(id, std::move(listener));
  }
  void Unwatch(int64_t watch_id) { watch_hub_.Unwatch(watch_id); }

  // --- Workers ---
  // Models the worker advertises enter the catalog; jobs that waited for them are planned.
  absl::Status WorkerHello(const v1::Hello& hello, std::shared_ptr<WorkerChannel> channel);
  // The stream ended: its running attempts are requeued.
  void WorkerGone(const WorkerId& worker, const WorkerChannel* channel) {
    worker_events_.Gone(worker, channel);
  }
  void WorkerHeartbeat(const WorkerId& worker, const v1::Heartbeat& heartbeat) {
    worker_events_.Heartbeat(worker, heartbeat);
  }
  void WorkerProgress(const WorkerId& worker, const v1::Progress& progress) {
    worker_events_.Progress(worker, progress);
  }
  // True when the result was accepted; false when it was fenced off as stale.
  bool WorkerResult(const WorkerId& worker, const v1::Result& result) {
    StateSink::Unit unit(sink_);  // the task's end and the dependents it releases
    return worker_events_.Result(worker, result);
  }
  // The same, fenced by the stream the message came on too: a message from a stream that is
  // not the worker's current one (refused, replaced or lost) is ignored (see WorkerEvents).
  void WorkerHeartbeat(const WorkerId& worker, const WorkerChannel* stream,
                       const v1::Heartbeat& heartbeat) {
    worker_events_.Heartbeat(worker, heartbeat, stream);
  }
  void WorkerProgress(const WorkerId& worker, const WorkerChannel* stream,
                      const v1::Progress& progress) {
    worker_events_.Progress(worker, progress, stream);
  }
  bool WorkerResult(const WorkerId& worker, const WorkerChannel* stream, const v1::Result& result) {
    StateSink::Unit unit(sink_);
    return worker_events_.Result(worker, result, stream);
  }
  // The drain is persisted (a drained worker stays drained across restarts); reply from
  // WhenDurable.
  absl::StatusOr<v1::Worker> SetDrain(const WorkerId& worker, bool drain);
  std::vector<v1::Worker> ListWorkers(bool include_offline) const {
    return views_.ListWorkers(include_offline);
  }
  v1::FarmStats Stats() const { return views_.Stats(); }
  // Runnable tasks (queued, not backing off) per (project, tier) of every known job, for
  // the queue-depth gauge (pairs with nothing queued are 0, so they show as an empty queue).
  std::map<std::pair<std::string, v1::Tier>, int64_t> QueueDepths() const {
    return views_.QueueDepths();
  }

  // Calls `done` once every change made so far is durable, without blocking: a reply that
  // promises durability (SubmitJob, CancelJob, ...) is sent from `done`. Call it on the
  // core thread right after the change.
  void WhenDurable(std::function<void(absl::Status)> done) { sink_.WhenDurable(std::move(done)); }

  // Expires leases and timeouts, releases backoffs, runs a slice of background work,
  // dispatches.
  void Tick();

  // Work too big for one turn of the core thread (changes to every task of a big job:
  // JobTable sweeps): runs one slice (CoreOptions::sweep_slice_tasks tasks); true while
  // more remains. The server posts it again after each turn until it returns false.
  bool RunBackgroundWork();
  bool HasBackgroundWork() const { return jobs_.has_sweeps(); }

  // Places queued work on free slots and tells watchers what changed. Called after every
  // event that may free a slot or make a task runnable; cheap when nothing changed.
  void Dispatch();

  int64_t task_count() const { return jobs_.task_count(); }

 private:
  int64_t NowMs() const { return ToMillis(clock_.Now()); }
  void ForgiveWorkers(int64_t now_ms);
  // Jobs that jobs not yet ended depend on (these cannot be deleted).
  absl::flat_hash_set<JobId> NeededJobs() const;
  absl::StatusOr<v1::Job> DeleteEnded(JobId id, const absl::flat_hash_set<JobId>& needed);
  // Retention: deletes jobs ended longer than options_.retain_finished ago, a bounded
  // batch per call so no Tick holds the core thread long.
  void RetireFinished(int64_t now_ms);
  // Frees a bounded share of deleted jobs' memory.
  void FreeDeleted();
  void TimeOutAttempts(int64_t now_ms);

  Clock& clock_;
  StateSink& sink_;
  CoreOptions options_;
  NullCoreObserver null_observer_;
  CoreObserver& observer_;
  absl::BitGen bitgen_;
  // Policies built from options_ when the caller brought none.
  std::unique_ptr<RetryPolicy> own_retry_;
  std::unique_ptr<BlamePolicy> own_blame_;
  std::unique_ptr<UsageLedger> own_usage_;
  RetryPolicy& retry_;
  BlamePolicy& blame_;
  UsageLedger& usage_;

  CoreSignals signals_;
  ModelCatalog catalog_;
  JobTable jobs_;
  AttemptTable attempts_;
  WorkerRegistry workers_;
  CoreViews views_;
  TaskLifecycle lifecycle_;
  Dispatcher dispatcher_;
  JobCommands commands_;
  WorkerEvents worker_events_;
  WatchHub watch_hub_;
  int64_t recovery_deadline_ms_ = 0;
  int64_t last_unplaceable_ms_ = 0;
  int64_t last_policy_ms_ = 0;
  // Retention: ids of jobs found due at the last scan, oldest first, deleted a batch per Tick.
  std::deque<JobId> retire_due_;
  int64_t next_retire_scan_ms_ = 0;
  std::vector<LiveJob> deleted_;  // removed jobs whose memory is not freed yet
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_SCHEDULER_CORE_H_
