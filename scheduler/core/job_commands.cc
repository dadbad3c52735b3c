#include "scheduler/core/job_commands.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/enum_names.h"
#include "common/job_spec.h"
#include "common/stage_params.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler {

absl::StatusOr<SubmitResult> JobCommands::Submit(v1::JobSpec spec,
                                                 const std::string& idempotency_key) {
  if (auto existing = p_.jobs.FindByIdempotencyKey(idempotency_key)) {
    return SubmitResult{*existing, false};
  }
  GENFARM_ASSIGN_OR_RETURN(
      PreparedJob prepared,
      PrepareJob(std::move(spec), catalog_, p_.options.max_tasks_per_job, p_.jobs.NextId()));
  return Admit(std::move(prepared), idempotency_key);
}

absl::StatusOr<SubmitResult> JobCommands::Admit(PreparedJob prepared,
                                                const std::string& idempotency_key) {
  if (auto existing = p_.jobs.FindByIdempotencyKey(idempotency_key)) {
    return SubmitResult{*existing, false};
  }
  for (int64_t dep : prepared.job.rec.spec.depends_on_jobs()) {
    const LiveJob* upstream = p_.jobs.Find(JobId(dep));
    if (upstream == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("depends_on_jobs: job ", dep, " not found"));
    }
    if (upstream->rec.state == v1::JOB_STATE_FAILED ||
        upstream->rec.state == v1::JOB_STATE_CANCELED) {
      return absl::FailedPreconditionError(
          absl::StrCat("depends_on_jobs: job ", dep, " has ",
                       upstream->rec.state == v1::JOB_STATE_FAILED ? "failed" : "been canceled",
                       "; retry it first"));
    }
  }
  prepared.job.rec.idempotency_key = idempotency_key;
  prepared.job.rec.submit_ms = NowMs();
  LiveJob& job = p_.jobs.Admit(std::move(prepared.job), std::move(prepared.records));
  p_.jobs.LinkJobDependencies(job);
  if (!job.rec.planned) {
    unplanned_.insert(job.rec.id);
  } else if (job.unmet_jobs > 0) {
    job.rec.state = v1::JOB_STATE_WAITING;
    job.rec.message = "waiting for jobs " + absl::StrJoin(job.rec.spec.depends_on_jobs(), ", ");
  }
  p_.jobs.PersistJob(job);
  p_.jobs.StartJobIfReady(job);
  spdlog::info("job {} '{}' submitted: {} tasks in {} stages{}", job.rec.id.value(),
               job.rec.spec.name(), job.tasks.size(), job.stages.size(),
               job.rec.planned ? "" : absl::StrCat(" (", job.rec.message, ")"));
  const JobId id = job.rec.id;
  // Prepared off the core thread, it may have missed a hello that taught the catalog its
  // model between PrepareJob and now: that hello's PlanWaiting ran before this job was
  // here, and no later one need come. Plan it now if it can be.
  if (!job.rec.planned) PlanWaiting();
  return SubmitResult{id, true};
}

void JobCommands::PlanWaiting() {
  std::vector<JobId> ready;  // AdoptPlan may run inline and change unplanned_
  for (JobId id : unplanned_) {
    if (planning_.contains(id)) continue;
    const LiveJob* job = p_.jobs.Find(id);
    if (job == nullptr) continue;
    bool known = true;
    for (const v1::StageSpec& stage : job->rec.spec.stages()) {
      if (stage.kind() == v1::STAGE_KIND_MODEL && !catalog_.Find(stage.model()).has_value())
        known = false;
    }
    if (known) ready.push_back(id);
  }
  for (JobId id : ready) {
    const LiveJob* job = p_.jobs.Find(id);
    planning_.insert(id);
    auto done = [this, id](absl::StatusOr<PreparedJob> prepared) {
      AdoptPlan(id, std::move(prepared));
    };
    if (runner_) {
      runner_(job->rec.spec, id, std::move(done));
    } else {
      done(PrepareJob(job->rec.spec, catalog_, p_.options.max_tasks_per_job, id));
    }
  }
}

void JobCommands::AdoptPlan(JobId id, absl::StatusOr<PreparedJob> prepared) {
  planning_.erase(id);
  LiveJob* job = p_.jobs.Find(id);
  if (job == nullptr || job->rec.planned) {
    unplanned_.erase(id);
    return;
  }
  if (IsEnded(job->rec.state)) {  // canceled while it waited
    unplanned_.erase(id);
    return;
  }
  if (prepared.ok() && !prepared->planned()) {  // a model it needs was forgotten meanwhile
    job->rec.message = UnplannedMessage(prepared->missing_models);
    p_.jobs.PersistJob(*job);
    return;
  }
  unplanned_.erase(id);
  StateSink::Unit unit(p_.jobs.sink());
  if (!prepared.ok()) {
    // Validated at submit; only a changed fact (a retime now too long) lands here.
    job->rec.state = v1::JOB_STATE_FAILED;
    job->rec.message = absl::StrCat("cannot be planned: ", prepared.status().message());
    p_.jobs.OnJobEnded(*job);
    p_.jobs.PersistJob(*job);
    return;
  }
  LiveJob planned = std::move(prepared->job);
  planned.rec.idempotency_key = job->rec.idempotency_key;
  planned.rec.submit_ms = job->rec.submit_ms;
  planned.rec.state =
      job->rec.state == v1::JOB_STATE_PAUSED ? v1::JOB_STATE_PAUSED : v1::JOB_STATE_WAITING;
  planned.rec.message.clear();
  planned.unmet_jobs = job->unmet_jobs;
  planned.dependents = std::move(job->dependents);
  const int32_t unmet = planned.unmet_jobs;
  p_.jobs.Erase(id);
  LiveJob& live = p_.jobs.Admit(std::move(planned), std::move(prepared->records));
  if (unmet > 0) {
    live.rec.message = "waiting for jobs " + absl::StrJoin(live.rec.spec.depends_on_jobs(), ", ");
  }
  p_.jobs.PersistJob(live);
  p_.jobs.StartJobIfReady(live);
  spdlog::info("job {} '{}' planned: {} tasks in {} stages", id.value(), live.rec.spec.name(),
               live.tasks.size(), live.stages.size());
}

void JobCommands::CancelRunning(LiveJob& job, const std::string& why) {
  std::vector<std::pair<int64_t, int32_t>> running;  // attempt, task index
  for (const auto& [attempt_id, attempt] : p_.attempts.all()) {
    if (attempt.task.job == job.rec.id) running.emplace_back(attempt_id, attempt.task.index);
  }
  for (const auto& [attempt_id, index] : running) {
    p_.lifecycle.CancelOnWorker(attempt_id, v1::FAILURE_REASON_CANCELED);
    p_.lifecycle.End(attempt_id);
    LiveTask& task = job.tasks[index];
    task.rec.failure_reason = v1::FAILURE_REASON_CANCELED;
    task.rec.message = why;
    p_.jobs.SetTaskState(job, index, v1::TASK_STATE_CANCELED);
  }
}

absl::StatusOr<v1::Job> JobCommands::Cancel(JobId id) {
  GENFARM_ASSIGN_OR_RETURN(LiveJob * job, p_.jobs.Mutable(id));
  if (IsEnded(job->rec.state) && job->rec.state != v1::JOB_STATE_FAILED) {
    return p_.views.Job(*job);
  }
  job->rec.state = v1::JOB_STATE_CANCELED;
  job->rec.message = "canceled by user";
  // Running attempts first (there are at most as many as the farm has slots): the rest of
  // the job's tasks are only waiting or queued, and the sweep cancels them a slice a turn.
  CancelRunning(*job, "canceled by user");
  p_.jobs.OnJobEnded(*job);  // jobs waiting on this one will never start
  p_.jobs.PersistJob(*job);
  p_.jobs.StartSweep(*job, SweepKind::kCancel, "canceled by user");
  return p_.views.Job(*job);
}

absl::StatusOr<v1::Job> JobCommands::Pause(JobId id) {
  GENFARM_ASSIGN_OR_RETURN(LiveJob * job, p_.jobs.Mutable(id));
  if (IsEnded(job->rec.state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id.value(), " has ended; nothing to pause"));
  }
  job->rec.state = v1::JOB_STATE_PAUSED;
  job->rec.message = "paused: running tasks finish, no new tasks start";
  p_.jobs.PersistJob(*job);
  return p_.views.Job(*job);
}

absl::StatusOr<v1::Job> JobCommands::Resume(JobId id) {
  GENFARM_ASSIGN_OR_RETURN(LiveJob * job, p_.jobs.Mutable(id));
  if (job->rec.state != v1::JOB_STATE_PAUSED) {
    return absl::FailedPreconditionError(absl::StrCat("job ", id.value(), " is not paused"));
  }
  job->rec.state = job->unmet_jobs > 0 ? v1::JOB_STATE_WAITING : v1::JOB_STATE_ACTIVE;
  job->rec.message.clear();
  p_.jobs.StartJobIfReady(*job);
  p_.jobs.PersistJob(*job);
  p_.jobs.UpdateJobState(*job);
  p_.signals.dispatch_needed = true;
  return p_.views.Job(*job);
}

absl::StatusOr<int32_t> JobCommands::Retry(JobId id, bool failed_only,
                                           const std::vector<int32_t>& indexes) {
  GENFARM_ASSIGN_OR_RETURN(LiveJob * job, p_.jobs.Mutable(id));
  if (indexes.size() > static_cast<size_t>(kMaxRetryIndexes)) {
    return absl::InvalidArgumentError(absl::StrCat("task_indexes: at most ", kMaxRetryIndexes,
                                                   " per call, got ", indexes.size(),
                                                   "; use failed_only to retry every failed task"));
  }
  for (int32_t i : indexes) {
    if (i < 0 || static_cast<size_t>(i) >= job->tasks.size()) {
      return absl::InvalidArgumentError(absl::StrCat("task_indexes: task ", i,
                                                     " does not exist in job ", id.value(), " (",
                                                     job->tasks.size(), " tasks)"));
    }
    if (!IsTerminal(job->tasks[i].rec.state)) {
      return absl::FailedPreconditionError(absl::StrCat("task_indexes: task ", i, " is ",
                                                        TaskStateName(job->tasks[i].rec.state),
                                                        "; only finished tasks can be retried"));
    }
  }
  if (const Sweep* sweep = p_.jobs.FindSweep(id);
      sweep != nullptr && sweep->kind == SweepKind::kCancel) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id.value(), " is still being canceled (", sweep->next, " of ",
                     job->tasks.size(), " tasks); retry when that has finished"));
  }
  // Every failed and canceled task: counted from the stage counters, reset by a sweep.
  const bool sweep_all = failed_only || indexes.empty();
  int64_t count = 0;
  if (sweep_all) {
    for (const LiveStage& stage : job->stages)
      count += stage.Count(v1::TASK_STATE_FAILED) + stage.Count(v1::TASK_STATE_CANCELED);
  }
  std::vector<int32_t> chosen;  // named tasks the sweep would not reset
  for (int32_t i : indexes) {
    if (!sweep_all || job->tasks[i].rec.state == v1::TASK_STATE_SUCCEEDED) chosen.push_back(i);
  }
  std::sort(chosen.begin(), chosen.end());
  chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
  count += static_cast<int64_t>(chosen.size());
  if (count == 0) return 0;
  if (IsEnded(job->rec.state)) {
    job->rec.state = job->unmet_jobs > 0 ? v1::JOB_STATE_WAITING : v1::JOB_STATE_ACTIVE;
    job->rec.message.clear();
    job->rec.end_ms = 0;
  }
  for (int32_t i : chosen) {
    TaskRecord& rec = job->tasks[i].rec;
    rec.attempts = 0;
    rec.not_before_ms = 0;
    rec.failure_reason = v1::FAILURE_REASON_UNSPECIFIED;
    rec.message.clear();
    p_.jobs.SetTaskState(*job, i, v1::TASK_STATE_WAITING);
  }
  job->blocklist.clear();
  for (int32_t i : chosen) {
    LiveTask& task = job->tasks[i];
    task.unmet_deps = 0;
    for (int32_t dep : task.deps)
      task.unmet_deps += job->tasks[dep].rec.state != v1::TASK_STATE_SUCCEEDED;
    if (!sweep_all && job->rec.state == v1::JOB_STATE_ACTIVE) p_.jobs.MakeRunnable(*job, i);
  }
  p_.jobs.PersistJob(*job);
  if (sweep_all) {
    p_.jobs.StartSweep(*job, SweepKind::kRetry);  // also makes the named ones runnable
  } else {
    p_.jobs.UpdateJobState(*job);
  }
  return static_cast<int32_t>(count);
}

absl::StatusOr<v1::Job> JobCommands::SetPriority(JobId id, int32_t priority) {
  if (priority < 0 || priority > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("priority: must be between 0 and 100, got ", priority));
  }
  GENFARM_ASSIGN_OR_RETURN(LiveJob * job, p_.jobs.Mutable(id));
  job->rec.spec.set_priority(priority);
  p_.jobs.PersistJob(*job);
  p_.signals.dispatch_needed = true;
  return p_.views.Job(*job);
}

}  // namespace genfarm::scheduler
