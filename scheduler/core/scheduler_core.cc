#include "scheduler/core/scheduler_core.h"

#include <algorithm>
#include <new>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/enum_names.h"
#include "common/status_macros.h"
#include "scheduler/core/recovery.h"
#include "scheduler/policy/exponential_retry_policy.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler {
namespace {

template <typename T>
T& OwnOr(T* given, std::unique_ptr<T>& own, std::unique_ptr<T> fallback) {
  if (given != nullptr) return *given;
  own = std::move(fallback);
  return *own;
}

}  // namespace

SchedulerCore::SchedulerCore(Clock& clock, StateSink& sink, PlacementPolicy& policy,
                             CoreOptions options, CoreObserver* observer, CorePolicies policies)
    : clock_(clock),
      sink_(sink),
      options_(options),
      observer_(observer ? *observer : null_observer_),
      retry_(OwnOr<RetryPolicy>(
          policies.retry, own_retry_,
          // Task retries use the bare curve (no jitter): a retry's delay is shown in
          // `genfarm status` and tested exactly.
          std::make_unique<ExponentialRetryPolicy>(
              BackoffOptions{options.retry_backoff_base, options.retry_backoff_max, 0.0},
              bitgen_))),
      blame_(OwnOr<BlamePolicy>(policies.blame, own_blame_,
                                std::make_unique<ThresholdBlamePolicy>(options.blocklist_failures,
                                                                       options.blocklist_forgive))),
      usage_(OwnOr<UsageLedger>(policies.usage, own_usage_,
                                std::make_unique<DecayingUsageLedger>(options.usage_half_life))),
      jobs_(clock, sink, signals_),
      attempts_(sink),
      views_(jobs_, attempts_, workers_),
      lifecycle_({{clock, options_, signals_, jobs_, attempts_, workers_},
                  retry_,
                  blame_,
                  observer_,
                  sink}),
      dispatcher_({clock, signals_, jobs_, attempts_, workers_, lifecycle_, policy, usage_}),
      commands_({{clock, options_, signals_, jobs_, attempts_, workers_}, lifecycle_, views_},
                catalog_),
      worker_events_({{clock, options_, signals_, jobs_, attempts_, workers_}, lifecycle_, views_},
                     observer_),
      watch_hub_(jobs_, views_) {
  jobs_.set_sweep_slice(options_.sweep_slice_tasks);
}

absl::Status SchedulerCore::Recover(const StoreSnapshot& snapshot) {
  const int64_t now = NowMs();
  recovery_deadline_ms_ = now + absl::ToInt64Milliseconds(options_.lease_ttl);
  absl::Status status = RecoverTables(snapshot, now, jobs_, attempts_, workers_);
  // The stored catalog first (already durable: not written again), so jobs that waited for
  // a model plan as soon as the store knows it.
  for (const ModelRecord& rec : snapshot.models) catalog_.Learn(rec.model);
  for (const auto& [id, job] : jobs_.jobs()) {
    if (!job.rec.planned && !IsEnded(job.rec.state)) commands_.AddUnplanned(id);
  }
  commands_.PlanWaiting();
  signals_.dispatch_needed = true;
  return status;
}

absl::Status SchedulerCore::WorkerHello(const v1::Hello& hello,
                                        std::shared_ptr<WorkerChannel> channel) {
  GENFARM_RETURN_IF_ERROR(worker_events_.Hello(hello, std::move(channel)));
  LearnModels({hello.models().begin(), hello.models().end()});
  return absl::OkStatus();
}

void SchedulerCore::LearnModels(const std::vector<v1::ModelInfo>& models) {
  bool learned = false;
  {
    StateSink::Unit unit(sink_);
    for (const v1::ModelInfo& model : models) {
      if (!catalog_.Learn(model)) continue;
      learned = true;
      sink_.PutModel(ModelRecord{model, NowMs()});  // the catalog survives restarts
    }
  }
  if (learned) commands_.PlanWaiting();
}

absl::StatusOr<PreparedJob> SchedulerCore::PrepareJob(v1::JobSpec spec, std::optional<JobId> id) {
  const JobId job = id.has_value() ? *id : jobs_.NextId();
  // The caps bound what a spec may ask for; this is the last line should the machine still
  // run out of memory building it: one request fails, the scheduler goes on.
  try {
    return ::genfarm::scheduler::PrepareJob(std::move(spec), catalog_, options_.max_tasks_per_job,
                                            job);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        "the scheduler ran out of memory planning this job; submit it in smaller jobs");
  }
}

bool SchedulerCore::RunBackgroundWork() {
  const bool more = jobs_.RunSweeps(options_.sweep_slice_tasks);
  signals_.dispatch_needed = true;
  return more;
}

absl::StatusOr<v1::Job> SchedulerCore::GetJob(JobId id) const {
  const LiveJob* job = jobs_.Find(id);
  if (job == nullptr) return absl::NotFoundError(absl::StrCat("job ", id.value(), " not found"));
  return views_.Job(*job);
}

absl::StatusOr<std::vector<v1::Task>> SchedulerCore::GetTasks(JobId id) const {
  const LiveJob* job = jobs_.Find(id);
  if (job == nullptr) return absl::NotFoundError(absl::StrCat("job ", id.value(), " not found"));
  std::vector<v1::Task> out;
  out.reserve(job->tasks.size());
  for (size_t i = 0; i < job->tasks.size(); ++i)
    out.push_back(views_.Task(*job, static_cast<int32_t>(i)));
  return out;
}

absl::StatusOr<v1::Worker> SchedulerCore::SetDrain(const WorkerId& worker, bool drain) {
  StateSink::Unit unit(sink_);
  absl::StatusOr<v1::Worker> view = worker_events_.SetDrain(worker, drain);
  if (view.ok()) sink_.PutWorker(WorkerRecord{worker, drain, NowMs()});
  return view;
}

absl::flat_hash_set<JobId> SchedulerCore::NeededJobs() const {
  absl::flat_hash_set<JobId> needed;
  for (const auto& [id, job] : jobs_.jobs()) {
    if (IsEnded(job.rec.state)) continue;
    for (int64_t dep : job.rec.spec.depends_on_jobs()) needed.insert(JobId(dep));
  }
  return needed;
}

absl::StatusOr<v1::Job> SchedulerCore::DeleteJob(JobId id) { return DeleteEnded(id, NeededJobs()); }

absl::StatusOr<v1::Job> SchedulerCore::DeleteEnded(JobId id,
                                                   const absl::flat_hash_set<JobId>& needed) {
  const LiveJob* job = jobs_.Find(id);
  if (job == nullptr) return absl::NotFoundError(absl::StrCat("job ", id.value(), " not found"));
  if (!IsEnded(job->rec.state)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", id.value(), " is ", JobStateName(job->rec.state),
        "; only an ended job (succeeded, failed or canceled) can be deleted: cancel it first"));
  }
  if (needed.contains(id)) {
    for (const auto& [other_id, other] : jobs_.jobs()) {
      if (IsEnded(other.rec.state)) continue;
      for (int64_t dep : other.rec.spec.depends_on_jobs()) {
        if (dep != id.value()) continue;
        return absl::FailedPreconditionError(absl::StrCat(
            "job ", id.value(), ": job ", other_id.value(), " (", JobStateName(other.rec.state),
            ") depends on it; delete it after that job ends"));
      }
    }
  }
  v1::Job view = views_.Job(*job);
  // Watchers hear what is pending (an ended job's last event ends their watch) first.
  watch_hub_.Notify();
  // An ended job can still have an attempt its worker has not stopped yet: stop it.
  std::vector<int64_t> live;
  for (const auto& [attempt_id, attempt] : attempts_.all()) {
    if (attempt.task.job == id) live.push_back(attempt_id);
  }
  StateSink::Unit unit(sink_);
  for (int64_t attempt_id : live) {
    lifecycle_.CancelOnWorker(attempt_id, v1::FAILURE_REASON_CANCELED);
    lifecycle_.End(attempt_id);
  }
  deleted_.push_back(jobs_.Remove(id));
  spdlog::info("job {} '{}' deleted", id.value(), view.spec().name());
  return view;
}

void SchedulerCore::FreeDeleted() {
  // About 100k tasks' memory per tick keeps a tick short whatever the size of the job.
  constexpr size_t kTasksPerTick = 100'000;
  size_t budget = kTasksPerTick;
  while (!deleted_.empty() && budget > 0) {
    LiveJob& job = deleted_.back();
    const size_t tasks = std::min(budget, job.tasks.size());
    job.tasks.erase(job.tasks.end() - static_cast<ptrdiff_t>(tasks), job.tasks.end());
    const size_t planned = std::min(budget, job.plan.tasks.size());
    job.plan.tasks.erase(job.plan.tasks.end() - static_cast<ptrdiff_t>(planned),
                         job.plan.tasks.end());
    budget -= std::max(tasks, planned);
    if (job.tasks.empty() && job.plan.tasks.empty()) {
      deleted_.pop_back();
      if (budget > 0) --budget;  // a job with no tasks left still costs something
    }
  }
}

void SchedulerCore::RetireFinished(int64_t now_ms) {
  if (options_.retain_finished == absl::InfiniteDuration()) return;
  const int64_t retain_ms = absl::ToInt64Milliseconds(options_.retain_finished);
  // A scan of every job is cheap next to a tick, but there is no need for one per tick.
  constexpr int64_t kScanIntervalMs = 1000;
  if (retire_due_.empty() && now_ms >= next_retire_scan_ms_) {
    next_retire_scan_ms_ = now_ms + kScanIntervalMs;
    for (const auto& [id, job] : jobs_.jobs()) {
      const int64_t ended_ms = std::max(job.rec.end_ms, job.rec.submit_ms);
      if (IsEnded(job.rec.state) && ended_ms <= now_ms - retain_ms) retire_due_.push_back(id);
    }
  }
  if (retire_due_.empty()) return;
  // Bounded work per tick: freeing a job costs about its task count.
  constexpr int kMaxJobsPerTick = 64;
  constexpr int64_t kMaxTasksPerTick = 200'000;
  const absl::flat_hash_set<JobId> needed = NeededJobs();
  int jobs = 0;
  int64_t tasks = 0;
  while (!retire_due_.empty() && jobs < kMaxJobsPerTick && tasks < kMaxTasksPerTick) {
    const JobId id = retire_due_.front();
    retire_due_.pop_front();
    const LiveJob* job = jobs_.Find(id);
    // Re-checked: it may have been retried, deleted or become needed since the scan.
    if (job == nullptr || !IsEnded(job->rec.state) ||
        std::max(job->rec.end_ms, job->rec.submit_ms) > now_ms - retain_ms) {
      continue;
    }
    const int64_t size = static_cast<int64_t>(job->tasks.size());
    if (DeleteEnded(id, needed).ok()) {
      ++jobs;
      tasks += size;
    }
  }
  if (jobs > 0) {
    spdlog::info("retention: deleted {} jobs ({} tasks) that ended more than {} ago", jobs, tasks,
                 absl::FormatDuration(options_.retain_finished));
  }
}

void SchedulerCore::ForgiveWorkers(int64_t now_ms) {
  // A forgiven worker may take work again; nothing else would trigger a dispatch.
  for (const JobId& id : jobs_.active()) {
    LiveJob* job = jobs_.Find(id);
    if (job == nullptr) continue;
    for (auto& [worker, entry] : job->blocklist) {
      if (entry.until_ms != 0 && entry.until_ms <= now_ms) {
        entry = BlocklistEntry{};
        signals_.dispatch_needed = true;
      }
    }
  }
}

void SchedulerCore::TimeOutAttempts(int64_t now_ms) {
  for (int64_t attempt_id : attempts_.TimedOut(now_ms)) {
    const LiveAttempt* attempt = attempts_.Find(attempt_id);
    if (attempt == nullptr) continue;  // ended by an earlier timeout's consequences
    const std::string worker = attempt->worker.value();
    const LiveJob* job = jobs_.Find(attempt->task.job);
    const int32_t timeout =
        job ? job->rec.spec.stages(job->tasks[attempt->task.index].rec.stage).timeout_seconds() : 0;
    lifecycle_.CancelOnWorker(attempt_id, v1::FAILURE_REASON_TIMEOUT);
    lifecycle_.Fail(attempt_id, v1::FAILURE_REASON_TIMEOUT,
                    absl::StrCat("attempt timed out after ", timeout, " s on worker ", worker));
  }
}

void SchedulerCore::Tick() {
  const int64_t now = NowMs();
  if (HasBackgroundWork()) jobs_.RunSweeps(options_.sweep_slice_tasks);
  ForgiveWorkers(now);
  if (jobs_.ReleaseBackoffs(now)) signals_.dispatch_needed = true;
  TimeOutAttempts(now);
  worker_events_.ExpireLeases(now, recovery_deadline_ms_);
  RetireFinished(now);
  FreeDeleted();
  if (now - last_policy_ms_ >= absl::ToInt64Milliseconds(options_.policy_interval)) {
    last_policy_ms_ = now;
    signals_.dispatch_needed = true;
  }
  Dispatch();
  if (now - last_unplaceable_ms_ >= 1000) {
    last_unplaceable_ms_ = now;
    dispatcher_.UpdateUnplaceable();
  }
}

void SchedulerCore::Dispatch() {
  dispatcher_.Round();
  watch_hub_.Notify();
}

}  // namespace genfarm::scheduler
