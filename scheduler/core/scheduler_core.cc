#include "scheduler/core/scheduler_core.h"

#include <new>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "scheduler/core/recovery.h"
#include "scheduler/policy/exponential_retry_policy.h"

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
  for (const v1::ModelInfo& model : models) learned |= catalog_.Learn(model);
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
