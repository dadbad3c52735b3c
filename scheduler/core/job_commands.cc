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
  ApplyJobSpecDefaults(&spec);
  GENFARM_RETURN_IF_ERROR(ValidateJobSpec(spec));
  // Interpolation models retime by 2 unless told otherwise; recording the factor in the
  // spec keeps the planner's frame mapping and the worker's identical.
  for (v1::StageSpec& stage : *spec.mutable_stages()) {
    const v1::ModelInfo* model = p_.workers.FindModel(stage.model());
    if (model != nullptr && model->kind() == "interpolate" && !stage.params().contains("factor")) {
      (*stage.mutable_params())["factor"] = absl::StrCat(kDefaultRetimeFactor);
    }
  }
  for (int64_t dep : spec.depends_on_jobs()) {
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
  GENFARM_ASSIGN_OR_RETURN(JobPlan plan, PlanJob(spec, [this](const std::string& m) {
                             return p_.workers.ModelWindow(m);
                           }));
  if (static_cast<int64_t>(plan.tasks.size()) > p_.options.max_tasks_per_job) {
    return absl::InvalidArgumentError(absl::StrCat("job has ", plan.tasks.size(),
                                                   " tasks, more than the limit of ",
                                                   p_.options.max_tasks_per_job, "; raise chunk"));
  }
  // Record the effective temporal windows in the spec so recovery re-plans the same
  // dependencies even before any worker has advertised its models.
  for (int s = 0; s < spec.stages_size(); ++s) {
    spec.mutable_stages(s)->set_window_before(plan.windows[s].before);
    spec.mutable_stages(s)->set_window_after(plan.windows[s].after);
  }
  JobRecord rec;
  rec.id = p_.jobs.NextId();
  rec.idempotency_key = idempotency_key;
  rec.spec = std::move(spec);
  rec.submit_ms = NowMs();
  rec.state = v1::JOB_STATE_ACTIVE;
  LiveJob& job = p_.jobs.Insert(std::move(rec), std::move(plan));
  p_.jobs.InitNewTasks(job);
  p_.jobs.LinkJobDependencies(job);
  if (job.unmet_jobs > 0) {
    job.rec.state = v1::JOB_STATE_WAITING;
    job.rec.message = "waiting for jobs " + absl::StrJoin(job.rec.spec.depends_on_jobs(), ", ");
  }
  p_.jobs.PersistJob(job);
  for (size_t i = 0; i < job.tasks.size(); ++i) p_.jobs.PersistTask(job, static_cast<int32_t>(i));
  p_.jobs.StartJobIfReady(job);
  spdlog::info("job {} '{}' submitted: {} tasks in {} stages", job.rec.id.value(),
               job.rec.spec.name(), job.tasks.size(), job.stages.size());
  return SubmitResult{job.rec.id, true};
}

absl::StatusOr<v1::Job> JobCommands::Cancel(JobId id) {
  GENFARM_ASSIGN_OR_RETURN(LiveJob * job, p_.jobs.Mutable(id));
  if (IsEnded(job->rec.state) && job->rec.state != v1::JOB_STATE_FAILED) {
    return p_.views.Job(*job);
  }
  job->rec.state = v1::JOB_STATE_CANCELED;
  job->rec.message = "canceled by user";
  for (size_t i = 0; i < job->tasks.size(); ++i) {
    LiveTask& task = job->tasks[i];
    if (IsTerminal(task.rec.state)) continue;
    if (task.rec.state == v1::TASK_STATE_RUNNING) {
      p_.lifecycle.CancelOnWorker(task.rec.attempt.value(), v1::FAILURE_REASON_CANCELED);
      p_.lifecycle.End(task.rec.attempt.value());
    }
    task.rec.failure_reason = v1::FAILURE_REASON_CANCELED;
    task.rec.message = "canceled by user";
    p_.jobs.SetTaskState(*job, static_cast<int32_t>(i), v1::TASK_STATE_CANCELED);
  }
  p_.jobs.OnJobEnded(*job);  // jobs waiting on this one will never start
  p_.jobs.PersistJob(*job);
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
  std::vector<int32_t> chosen;
  if (failed_only || indexes.empty()) {
    for (size_t i = 0; i < job->tasks.size(); ++i) {
      const v1::TaskState s = job->tasks[i].rec.state;
      if (s == v1::TASK_STATE_FAILED || s == v1::TASK_STATE_CANCELED)
        chosen.push_back(static_cast<int32_t>(i));
    }
  }
  for (int32_t i : indexes) {
    if (i < 0 || static_cast<size_t>(i) >= job->tasks.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "task ", i, " does not exist in job ", id.value(), " (", job->tasks.size(), " tasks)"));
    }
    if (!IsTerminal(job->tasks[i].rec.state)) {
      return absl::FailedPreconditionError(absl::StrCat("task ", i, " is ",
                                                        TaskStateName(job->tasks[i].rec.state),
                                                        "; only finished tasks can be retried"));
    }
    chosen.push_back(i);
  }
  std::sort(chosen.begin(), chosen.end());
  chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
  if (chosen.empty()) return 0;
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
    if (job->rec.state == v1::JOB_STATE_ACTIVE) p_.jobs.MakeRunnable(*job, i);
  }
  p_.jobs.PersistJob(*job);
  p_.jobs.UpdateJobState(*job);
  return static_cast<int32_t>(chosen.size());
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
