#include "scheduler/core/scheduler_core.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/job_spec.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler {
namespace {

bool Terminal(v1::TaskState s) {
  return s == v1::TASK_STATE_SUCCEEDED || s == v1::TASK_STATE_FAILED ||
         s == v1::TASK_STATE_CANCELED;
}

bool JobEnded(v1::JobState s) {
  return s == v1::JOB_STATE_SUCCEEDED || s == v1::JOB_STATE_FAILED || s == v1::JOB_STATE_CANCELED;
}

std::string StateName(v1::TaskState s) {
  std::string name = v1::TaskState_Name(s);
  return absl::AsciiStrToLower(name.substr(std::string("TASK_STATE_").size()));
}

std::string ReasonName(v1::FailureReason r) {
  std::string name = v1::FailureReason_Name(r);
  return absl::AsciiStrToLower(name.substr(std::string("FAILURE_REASON_").size()));
}

constexpr int kStates = v1::TaskState_ARRAYSIZE;

}  // namespace

SchedulerCore::SchedulerCore(Clock& clock, StateSink& sink, PlacementPolicy& policy,
                             CoreOptions options, CoreObserver* observer)
    : clock_(clock),
      sink_(sink),
      policy_(policy),
      options_(options),
      observer_(observer ? observer : &null_observer_) {}

SchedulerCore::Job* SchedulerCore::FindJob(JobId id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

const SchedulerCore::Job* SchedulerCore::FindJob(JobId id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

absl::StatusOr<SchedulerCore::Job*> SchedulerCore::MutableJob(JobId id) {
  Job* job = FindJob(id);
  if (job == nullptr) return absl::NotFoundError(absl::StrCat("job ", id.value(), " not found"));
  return job;
}

TemporalWindow SchedulerCore::ModelWindow(const std::string& model) const {
  auto it = models_.find(model);
  if (it == models_.end()) return {};
  return TemporalWindow{it->second.window_before(), it->second.window_after()};
}

int64_t SchedulerCore::TaskMemory(const Job& job, int32_t stage) const {
  const v1::StageSpec& spec = job.rec.spec.stages(stage);
  if (spec.vram_bytes() > 0) return spec.vram_bytes();
  auto it = models_.find(spec.model());
  return it == models_.end() ? 0 : it->second.memory_bytes();
}

// --- Building and recovering jobs ---

void SchedulerCore::BuildJob(Job& job, const v1::JobSpec& spec) {
  job.stages.assign(spec.stages_size(), Stage{});
  job.tasks.resize(job.plan.tasks.size());
  for (size_t i = 0; i < job.plan.tasks.size(); ++i) {
    PlannedTask& planned = job.plan.tasks[i];
    Task& task = job.tasks[i];
    task.deps = planned.deps;
    for (int32_t dep : planned.deps) job.tasks[dep].dependents.push_back(static_cast<int32_t>(i));
  }
  for (int s = 0; s < spec.stages_size(); ++s) {
    job.stages[s].frames_total = static_cast<int64_t>(job.plan.stage_frames[s].size());
  }
}

absl::StatusOr<SubmitResult> SchedulerCore::SubmitJob(v1::JobSpec spec,
                                                      const std::string& idempotency_key) {
  if (!idempotency_key.empty()) {
    auto it = idempotency_.find(idempotency_key);
    if (it != idempotency_.end()) return SubmitResult{it->second, false};
  }
  ApplyJobSpecDefaults(&spec);
  GENFARM_RETURN_IF_ERROR(ValidateJobSpec(spec));
  // Interpolation models retime by 2 unless told otherwise; recording the factor in the
  // spec keeps the planner's frame mapping and the worker's identical.
  for (v1::StageSpec& stage : *spec.mutable_stages()) {
    auto model = models_.find(stage.model());
    if (model != models_.end() && model->second.kind() == "interpolate" &&
        !stage.params().contains("factor")) {
      (*stage.mutable_params())["factor"] = "2";
    }
  }
  for (int64_t dep : spec.depends_on_jobs()) {
    const Job* upstream = FindJob(JobId(dep));
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
  GENFARM_ASSIGN_OR_RETURN(JobPlan plan,
                           PlanJob(spec, [this](const std::string& m) { return ModelWindow(m); }));
  if (static_cast<int64_t>(plan.tasks.size()) > options_.max_tasks_per_job) {
    return absl::InvalidArgumentError(absl::StrCat("job has ", plan.tasks.size(),
                                                   " tasks, more than the limit of ",
                                                   options_.max_tasks_per_job, "; raise chunk"));
  }
  // Record the effective temporal windows in the spec so recovery re-plans the same
  // dependencies even before any worker has advertised its models.
  for (int s = 0; s < spec.stages_size(); ++s) {
    spec.mutable_stages(s)->set_window_before(plan.windows[s].before);
    spec.mutable_stages(s)->set_window_after(plan.windows[s].after);
  }
  const JobId id(next_job_id_++);
  Job& job = jobs_[id];
  job.rec.id = id;
  job.rec.idempotency_key = idempotency_key;
  job.rec.spec = std::move(spec);
  job.rec.submit_ms = NowMs();
  job.rec.state = v1::JOB_STATE_ACTIVE;
  job.plan = std::move(plan);
  BuildJob(job, job.rec.spec);
  for (size_t i = 0; i < job.tasks.size(); ++i) {
    TaskRecord& rec = job.tasks[i].rec;
    rec.id = TaskId{id, static_cast<int32_t>(i)};
    rec.stage = job.plan.tasks[i].stage;
    rec.frames = job.plan.tasks[i].frames;
    rec.state = v1::TASK_STATE_WAITING;
    job.tasks[i].unmet_deps = static_cast<int32_t>(job.tasks[i].deps.size());
    job.stages[rec.stage].count[v1::TASK_STATE_WAITING]++;
  }
  total_tasks_ += static_cast<int64_t>(job.tasks.size());
  if (!idempotency_key.empty()) idempotency_[idempotency_key] = id;
  for (int64_t dep : job.rec.spec.depends_on_jobs()) {
    Job* upstream = FindJob(JobId(dep));
    if (upstream->rec.state == v1::JOB_STATE_SUCCEEDED) continue;
    job.unmet_jobs++;
    upstream->dependents.push_back(id);
  }
  if (job.unmet_jobs > 0) {
    job.rec.state = v1::JOB_STATE_WAITING;
    job.rec.message = "waiting for jobs " + absl::StrJoin(job.rec.spec.depends_on_jobs(), ", ");
  }
  PersistJob(job);
  for (size_t i = 0; i < job.tasks.size(); ++i) PersistTask(job, static_cast<int32_t>(i));
  StartJobIfReady(job);
  spdlog::info("job {} '{}' submitted: {} tasks in {} stages", id.value(), job.rec.spec.name(),
               job.tasks.size(), job.stages.size());
  return SubmitResult{id, true};
}

void SchedulerCore::StartJobIfReady(Job& job) {
  if (job.unmet_jobs > 0 || job.rec.state == v1::JOB_STATE_PAUSED || JobEnded(job.rec.state))
    return;
  job.rec.state = v1::JOB_STATE_ACTIVE;
  job.rec.message.clear();
  for (size_t i = 0; i < job.tasks.size(); ++i) {
    if (job.tasks[i].rec.state == v1::TASK_STATE_WAITING)
      MakeRunnable(job, static_cast<int32_t>(i));
  }
  PersistJob(job);
  UpdateJobState(job);
}

absl::Status SchedulerCore::Recover(const StoreSnapshot& snapshot) {
  const int64_t now = NowMs();
  recovery_deadline_ms_ = now + absl::ToInt64Milliseconds(options_.lease_ttl);
  // Attempt ids handed out just before a crash may not have reached the store; skip
  // far past them so a late result can never match a new attempt.
  attempt_high_water_ =
      snapshot.jobs.empty() ? snapshot.attempt_high_water : snapshot.attempt_high_water + (1 << 20);
  size_t t = 0;
  for (const JobRecord& rec : snapshot.jobs) {
    Job& job = jobs_[rec.id];
    job.rec = rec;
    next_job_id_ = std::max(next_job_id_, rec.id.value() + 1);
    if (!rec.idempotency_key.empty()) idempotency_[rec.idempotency_key] = rec.id;
    auto plan = PlanJob(rec.spec, [this](const std::string& m) { return ModelWindow(m); });
    if (!plan.ok()) {
      return absl::DataLossError(absl::StrCat(
          "job ", rec.id.value(), ": stored spec no longer plans: ", plan.status().message()));
    }
    job.plan = *std::move(plan);
    BuildJob(job, job.rec.spec);
    size_t n = 0;
    for (; t < snapshot.tasks.size() && snapshot.tasks[t].id.job == rec.id; ++t, ++n) {
      const TaskRecord& task_rec = snapshot.tasks[t];
      if (task_rec.id.index < 0 || static_cast<size_t>(task_rec.id.index) >= job.tasks.size()) {
        return absl::DataLossError(absl::StrCat("task ", task_rec.id.ToString(),
                                                " does not fit job ", rec.id.value(), "'s plan"));
      }
      job.tasks[task_rec.id.index].rec = task_rec;
    }
    if (n != job.tasks.size()) {
      return absl::DataLossError(absl::StrCat("job ", rec.id.value(), " has ", n,
                                              " stored tasks, its plan ", job.tasks.size()));
    }
    total_tasks_ += static_cast<int64_t>(n);
  }
  for (auto& [id, job] : jobs_) {
    for (int64_t dep : job.rec.spec.depends_on_jobs()) {
      Job* upstream = FindJob(JobId(dep));
      if (upstream == nullptr || upstream->rec.state == v1::JOB_STATE_SUCCEEDED) continue;
      job.unmet_jobs++;
      upstream->dependents.push_back(id);
    }
    for (size_t i = 0; i < job.tasks.size(); ++i) {
      Task& task = job.tasks[i];
      for (int32_t dep : task.deps)
        task.unmet_deps += job.tasks[dep].rec.state != v1::TASK_STATE_SUCCEEDED;
      const v1::TaskState state = task.rec.state;
      Stage& stage = job.stages[task.rec.stage];
      stage.count[state]++;
      if (state == v1::TASK_STATE_SUCCEEDED)
        stage.frames_done += static_cast<int64_t>(task.rec.frames.size());
      if (state == v1::TASK_STATE_QUEUED) {
        task.runnable_since_ms = now;
        if (task.rec.not_before_ms > now) {
          backoff_.emplace(task.rec.not_before_ms, task.rec.id);
        } else {
          stage.queued.insert(static_cast<int32_t>(i));
        }
        active_jobs_.insert(id);
      } else if (state == v1::TASK_STATE_RUNNING) {
        // Held for the worker to reclaim on reconnect; requeued at recovery_deadline_ms_.
        // The per-attempt timeout still counts from the attempt's start.
        const int32_t timeout = job.rec.spec.stages(task.rec.stage).timeout_seconds();
        Attempt attempt{task.rec.id, WorkerId(task.rec.worker), task.rec.start_ms,
                        timeout > 0 ? task.rec.start_ms + timeout * 1000LL : 0};
        attempts_[task.rec.attempt.value()] = attempt;
        WorkerState& worker = workers_[WorkerId(task.rec.worker)];
        worker.attempts.insert(task.rec.attempt.value());
        worker.last_seen_ms = now;
        active_jobs_.insert(id);
      }
    }
  }
  spdlog::info("recovered {} jobs, {} tasks, {} running attempts awaiting their workers",
               jobs_.size(), total_tasks_, attempts_.size());
  dispatch_needed_ = true;
  return absl::OkStatus();
}

// --- Task state changes ---

void SchedulerCore::SetTaskState(Job& job, int32_t index, v1::TaskState state) {
  Task& task = job.tasks[index];
  Stage& stage = job.stages[task.rec.stage];
  const v1::TaskState old = task.rec.state;
  if (old == v1::TASK_STATE_QUEUED) stage.queued.erase(index);
  if (old == v1::TASK_STATE_SUCCEEDED)
    stage.frames_done -= static_cast<int64_t>(task.rec.frames.size());
  stage.count[old]--;
  task.rec.state = state;
  stage.count[state]++;
  if (Terminal(state)) task.kept_frames = 0;
  if (state == v1::TASK_STATE_SUCCEEDED)
    stage.frames_done += static_cast<int64_t>(task.rec.frames.size());
  if (state == v1::TASK_STATE_QUEUED) {
    task.runnable_since_ms = NowMs();
    if (task.rec.not_before_ms > task.runnable_since_ms) {
      backoff_.emplace(task.rec.not_before_ms, task.rec.id);
    } else {
      stage.queued.insert(index);
      dispatch_needed_ = true;
    }
    active_jobs_.insert(job.rec.id);
  }
  job.changed.push_back(index);
  dirty_jobs_.insert(job.rec.id);
  PersistTask(job, index);
}

void SchedulerCore::PersistTask(Job& job, int32_t index) { sink_.PutTask(job.tasks[index].rec); }

void SchedulerCore::PersistJob(Job& job) {
  sink_.PutJob(job.rec);
  dirty_jobs_.insert(job.rec.id);
}

void SchedulerCore::MakeRunnable(Job& job, int32_t index) {
  Task& task = job.tasks[index];
  SetTaskState(job, index, task.unmet_deps > 0 ? v1::TASK_STATE_BLOCKED : v1::TASK_STATE_QUEUED);
}

void SchedulerCore::OnTaskSucceeded(Job& job, int32_t index) {
  for (int32_t d : job.tasks[index].dependents) {
    Task& dependent = job.tasks[d];
    if (--dependent.unmet_deps == 0 && dependent.rec.state == v1::TASK_STATE_BLOCKED) {
      SetTaskState(job, d, v1::TASK_STATE_QUEUED);
    }
  }
}

void SchedulerCore::OnTaskFailedFinal(Job& job, int32_t index) {
  // Whatever needs this task's frames can never run: cancel it, saying why.
  std::vector<int32_t> stack = job.tasks[index].dependents;
  const std::string why =
      absl::StrCat("upstream task ", index, " (stage ",
                   job.rec.spec.stages(job.tasks[index].rec.stage).name(), ") failed");
  while (!stack.empty()) {
    int32_t d = stack.back();
    stack.pop_back();
    Task& dependent = job.tasks[d];
    if (Terminal(dependent.rec.state) || dependent.rec.state == v1::TASK_STATE_RUNNING) continue;
    dependent.rec.message = why;
    dependent.rec.failure_reason = v1::FAILURE_REASON_CANCELED;
    SetTaskState(job, d, v1::TASK_STATE_CANCELED);
    stack.insert(stack.end(), dependent.dependents.begin(), dependent.dependents.end());
  }
}

void SchedulerCore::UpdateJobState(Job& job) {
  int64_t terminal = 0, failed = 0;
  for (const Stage& stage : job.stages) {
    auto count = [&](v1::TaskState s) {
      auto it = stage.count.find(s);
      return it == stage.count.end() ? 0 : it->second;
    };
    terminal += count(v1::TASK_STATE_SUCCEEDED) + count(v1::TASK_STATE_FAILED) +
                count(v1::TASK_STATE_CANCELED);
    failed += count(v1::TASK_STATE_FAILED) + count(v1::TASK_STATE_CANCELED);
  }
  const v1::JobState old = job.rec.state;
  const bool all_done = terminal == static_cast<int64_t>(job.tasks.size());
  if (old == v1::JOB_STATE_CANCELED) {
    // stays canceled
  } else if (all_done) {
    job.rec.state = failed > 0 ? v1::JOB_STATE_FAILED : v1::JOB_STATE_SUCCEEDED;
    if (failed > 0)
      job.rec.message = absl::StrCat(failed, " of ", job.tasks.size(), " tasks did not succeed");
  } else if (JobEnded(old)) {
    job.rec.state = v1::JOB_STATE_ACTIVE;  // retried
    job.rec.message.clear();
    job.rec.end_ms = 0;
  }
  if (JobEnded(job.rec.state)) active_jobs_.erase(job.rec.id);
  if (job.rec.state == old) return;
  if (JobEnded(job.rec.state)) OnJobEnded(job);
  PersistJob(job);
}

void SchedulerCore::OnJobEnded(Job& job) {
  job.rec.end_ms = NowMs();
  active_jobs_.erase(job.rec.id);
  spdlog::info("job {} '{}' {}", job.rec.id.value(), job.rec.spec.name(),
               v1::JobState_Name(job.rec.state));
  for (JobId dep_id : job.dependents) {
    Job* dependent = FindJob(dep_id);
    if (dependent == nullptr || JobEnded(dependent->rec.state)) continue;
    if (job.rec.state == v1::JOB_STATE_SUCCEEDED) {
      if (--dependent->unmet_jobs == 0) StartJobIfReady(*dependent);
      continue;
    }
    const std::string why = absl::StrCat("dependency job ", job.rec.id.value(), " did not succeed");
    for (size_t i = 0; i < dependent->tasks.size(); ++i) {
      Task& task = dependent->tasks[i];
      if (Terminal(task.rec.state)) continue;
      task.rec.message = why;
      task.rec.failure_reason = v1::FAILURE_REASON_CANCELED;
      SetTaskState(*dependent, static_cast<int32_t>(i), v1::TASK_STATE_CANCELED);
    }
    UpdateJobState(*dependent);
    dependent->rec.message = why;  // the cause, not UpdateJobState's "N of M tasks" count
    PersistJob(*dependent);
  }
}

// --- Attempts ---

void SchedulerCore::EndAttempt(int64_t attempt_id) {
  auto it = attempts_.find(attempt_id);
  if (it == attempts_.end()) return;
  auto w = workers_.find(it->second.worker);
  if (w != workers_.end()) w->second.attempts.erase(attempt_id);
  if (Job* job = FindJob(it->second.task.job)) {
    Task& task = job->tasks[it->second.task.index];
    task.reserved_bytes = 0;
  }
  attempts_.erase(it);
  dispatch_needed_ = true;
}

void SchedulerCore::FailAttempt(int64_t attempt_id, v1::FailureReason reason,
                                const std::string& message, bool charge_retry) {
  auto it = attempts_.find(attempt_id);
  if (it == attempts_.end()) return;
  const TaskId task_id = it->second.task;
  const WorkerId worker = it->second.worker;
  const double run_seconds = (NowMs() - it->second.start_ms) / 1000.0;
  EndAttempt(attempt_id);
  Job* job = FindJob(task_id.job);
  if (job == nullptr) return;
  Task& task = job->tasks[task_id.index];
  const v1::StageSpec& stage = job->rec.spec.stages(task.rec.stage);
  observer_->OnAttemptEnded(job->rec.spec.project(), stage.model(), false, 0, run_seconds);
  task.rec.failure_reason = reason;
  task.rec.message = message;
  task.rec.end_ms = NowMs();
  if (!charge_retry) task.rec.attempts--;  // not the task's fault: the attempt is not charged
  // A spec the worker cannot execute fails the same way everywhere: no retry, and the
  // worker is not to blame.
  const bool retryable = reason != v1::FAILURE_REASON_BAD_SPEC;
  if (!retryable) charge_retry = false;
  // A missing or corrupt input frame fails the same way on every worker: the task is
  // charged a retry, but the worker is not blocklisted (one bad plate would otherwise
  // keep every worker off the rest of the job).
  const bool worker_to_blame =
      reason != v1::FAILURE_REASON_INPUT_MISSING && reason != v1::FAILURE_REASON_INPUT_CORRUPT;
  if (charge_retry && worker_to_blame && !worker.value().empty()) {
    Blocklist& entry = job->blocklist[worker.value()];
    if (++entry.failures >= options_.blocklist_failures) {
      entry.until_ms = NowMs() + absl::ToInt64Milliseconds(options_.blocklist_forgive);
      spdlog::warn("worker {} kept off job {} after {} failures", worker.value(),
                   task_id.job.value(), entry.failures);
    }
  }
  AppendLog(*job, task_id.index, AttemptId(attempt_id),
            absl::StrCat("attempt failed (", ReasonName(reason), "): ", message));
  if (job->rec.state == v1::JOB_STATE_CANCELED) {
    SetTaskState(*job, task_id.index, v1::TASK_STATE_CANCELED);
  } else if (retryable && task.rec.attempts <= stage.retries()) {
    // Exponential backoff: base * 2^(failures-1), capped.
    absl::Duration backoff = options_.retry_backoff_base;
    for (int i = 1; i < task.rec.attempts && backoff < options_.retry_backoff_max; ++i)
      backoff *= 2;
    backoff = std::min(backoff, options_.retry_backoff_max);
    task.rec.not_before_ms = charge_retry ? NowMs() + absl::ToInt64Milliseconds(backoff) : 0;
    observer_->OnRequeue(ReasonName(reason));
    if (charge_retry) observer_->OnRetry(ReasonName(reason));
    SetTaskState(*job, task_id.index, v1::TASK_STATE_QUEUED);
  } else {
    SetTaskState(*job, task_id.index, v1::TASK_STATE_FAILED);
    observer_->OnTaskFailed(job->rec.spec.project(), stage.model(),
                            static_cast<int64_t>(task.rec.frames.size()));
    OnTaskFailedFinal(*job, task_id.index);
  }
  UpdateJobState(*job);
}

void SchedulerCore::AssignTask(Job& job, int32_t index, WorkerState& worker, int32_t device) {
  Task& task = job.tasks[index];
  const int64_t now = NowMs();
  const int64_t attempt_id = ++attempt_high_water_;
  sink_.SetAttemptHighWater(attempt_high_water_);
  const v1::StageSpec& stage = job.rec.spec.stages(task.rec.stage);
  observer_->OnDispatch(job.rec.spec.project(), (now - task.runnable_since_ms) / 1000.0);
  task.rec.attempts++;
  task.rec.attempt = AttemptId(attempt_id);
  task.rec.worker = worker.hello.worker_id();
  task.rec.start_ms = now;
  task.rec.end_ms = 0;
  task.rec.frames_done = task.kept_frames;
  task.rec.message.clear();
  task.rec.failure_reason = v1::FAILURE_REASON_UNSPECIFIED;
  task.device = device;
  job.stages[task.rec.stage].last_start_ms = now;
  task.reserved_bytes = TaskMemory(job, task.rec.stage);
  if (job.rec.start_ms == 0) {
    job.rec.start_ms = now;
    PersistJob(job);
  }
  SetTaskState(job, index, v1::TASK_STATE_RUNNING);
  Attempt& attempt = attempts_[attempt_id];
  attempt.task = task.rec.id;
  attempt.worker = WorkerId(worker.hello.worker_id());
  attempt.start_ms = now;
  attempt.deadline_ms = stage.timeout_seconds() > 0 ? now + stage.timeout_seconds() * 1000LL : 0;
  worker.attempts.insert(attempt_id);
  if (!stage.model().empty()) worker.loaded.insert(stage.model());

  v1::SchedulerMessage message;
  v1::Assignment* a = message.mutable_assign();
  a->set_attempt_id(attempt_id);
  a->set_job_id(job.rec.id.value());
  a->set_task_index(index);
  a->set_job_name(job.rec.spec.name());
  a->set_project(job.rec.spec.project());
  a->set_shot(job.rec.spec.shot());
  *a->mutable_stage() = stage;
  // Frames a preempted attempt already wrote are not rendered again.
  a->mutable_frames()->Add(
      task.rec.frames.begin() + std::min<int64_t>(task.kept_frames, task.rec.frames.size()),
      task.rec.frames.end());
  // Only what the worker reads: the stage's first frame (the retime numbering base) and
  // the stage frames around the task, widened by the temporal window (at least the next
  // frame, which a retime interpolates towards). The whole set would make every dispatch
  // O(stage frames): 1.6 MB copied per assignment of a 200k-frame stage.
  const auto& all = job.plan.stage_frames[task.rec.stage];
  if (!all.empty() && !task.rec.frames.empty()) {
    const TemporalWindow& window = job.plan.windows[task.rec.stage];
    auto lo = std::lower_bound(all.begin(), all.end(), task.rec.frames.front());
    auto hi = std::upper_bound(all.begin(), all.end(), task.rec.frames.back());
    lo -= std::min<std::ptrdiff_t>(window.before, lo - all.begin());
    hi += std::min<std::ptrdiff_t>(std::max(1, window.after), all.end() - hi);
    if (lo != all.begin()) a->add_stage_frames(all.front());
    a->mutable_stage_frames()->Add(lo, hi);
  }
  a->set_device_index(device);
  a->set_timeout_seconds(stage.timeout_seconds());
  worker.channel->Send(message);
}

void SchedulerCore::LoseWorker(const WorkerId& id, const std::string& why) {
  auto it = workers_.find(id);
  if (it == workers_.end()) return;
  WorkerState& worker = it->second;
  std::vector<int64_t> lost(worker.attempts.begin(), worker.attempts.end());
  std::sort(lost.begin(), lost.end());
  if (worker.channel) {
    worker.channel->Close();
    worker.channel.reset();
  }
  if (!lost.empty())
    spdlog::warn("worker {} lost ({}): requeueing {} attempts", id.value(), why, lost.size());
  observer_->OnWorkerLost(why);
  for (int64_t attempt : lost) {
    FailAttempt(attempt, v1::FAILURE_REASON_WORKER_LOST,
                absl::StrCat("worker ", id.value(), " lost: ", why),
                /*charge_retry=*/false);
  }
  dispatch_needed_ = true;
}

// --- Workers ---

absl::Status SchedulerCore::WorkerHello(const v1::Hello& hello,
                                        std::shared_ptr<WorkerChannel> channel) {
  if (hello.worker_id().empty())
    return absl::InvalidArgumentError("hello.worker_id: must not be empty");
  if (hello.slots() < 0) return absl::InvalidArgumentError("hello.slots: must not be negative");
  const WorkerId id(hello.worker_id());
  WorkerState& worker = workers_[id];
  if (worker.channel && worker.channel != channel) worker.channel->Close();
  // Attempts we think it runs but it no longer claims are lost; attempts it claims that
  // we do not know (or gave to someone else since) must stop.
  absl::flat_hash_set<int64_t> claimed(hello.running_attempts().begin(),
                                       hello.running_attempts().end());
  std::vector<int64_t> lost;
  for (int64_t a : worker.attempts) {
    if (!claimed.contains(a)) lost.push_back(a);
  }
  std::sort(lost.begin(), lost.end());
  for (int64_t a : lost) {
    FailAttempt(a, v1::FAILURE_REASON_WORKER_LOST,
                absl::StrCat("worker ", id.value(), " restarted"), false);
  }
  worker.hello = hello;
  worker.shutting_down = false;  // a new process, or one that will say so again
  worker.channel = std::move(channel);
  worker.last_seen_ms = NowMs();
  worker.devices.assign(hello.devices().begin(), hello.devices().end());
  worker.loaded.clear();
  for (const v1::ModelInfo& model : hello.models()) {
    models_[model.name()] = model;
    if (model.loaded()) worker.loaded.insert(model.name());
  }
  v1::SchedulerMessage welcome;
  welcome.mutable_welcome()->set_worker_id(id.value());
  welcome.mutable_welcome()->set_heartbeat_interval_ms(
      static_cast<int32_t>(absl::ToInt64Milliseconds(options_.heartbeat_interval)));
  worker.channel->Send(welcome);
  for (int64_t a : claimed) {
    auto it = attempts_.find(a);
    if (it == attempts_.end() || it->second.worker != id) {
      v1::SchedulerMessage cancel;
      cancel.mutable_cancel()->set_attempt_id(a);
      cancel.mutable_cancel()->set_reason(v1::FAILURE_REASON_CANCELED);
      worker.channel->Send(cancel);
    }
  }
  if (worker.draining) {
    v1::SchedulerMessage drain;
    drain.mutable_drain()->set_drain(true);
    worker.channel->Send(drain);
  }
  spdlog::info("worker {} online: {} slots, {} devices, {} models", id.value(), hello.slots(),
               hello.devices_size(), hello.models_size());
  dispatch_needed_ = true;
  return absl::OkStatus();
}

void SchedulerCore::WorkerGone(const WorkerId& id, const WorkerChannel* channel) {
  auto it = workers_.find(id);
  if (it == workers_.end() || it->second.channel.get() != channel) return;  // already replaced
  LoseWorker(id, "stream closed");
}

void SchedulerCore::WorkerHeartbeat(const WorkerId& id, const v1::Heartbeat& heartbeat) {
  auto it = workers_.find(id);
  if (it == workers_.end() || !it->second.channel) return;
  WorkerState& worker = it->second;
  worker.last_seen_ms = NowMs();
  if (heartbeat.devices_size() > 0)
    worker.devices.assign(heartbeat.devices().begin(), heartbeat.devices().end());
  worker.loaded = absl::flat_hash_set<std::string>(heartbeat.loaded_models().begin(),
                                                   heartbeat.loaded_models().end());
  // An attempt the worker does not report long after it was assigned never reached it
  // (or died silently): requeue it rather than wait forever. Results travel on the same
  // ordered stream before the heartbeat that omits them, so a finished attempt is never
  // mistaken for a lost one; the lease-long grace covers assignments still in flight.
  const absl::flat_hash_set<int64_t> reported(heartbeat.running_attempts().begin(),
                                              heartbeat.running_attempts().end());
  const int64_t grace_ms = absl::ToInt64Milliseconds(options_.lease_ttl);
  std::vector<int64_t> vanished;
  for (int64_t a : worker.attempts) {
    auto at = attempts_.find(a);
    if (!reported.contains(a) && at != attempts_.end() &&
        NowMs() - at->second.start_ms > grace_ms) {
      vanished.push_back(a);
    }
  }
  std::sort(vanished.begin(), vanished.end());
  for (int64_t a : vanished) {
    FailAttempt(a, v1::FAILURE_REASON_WORKER_LOST,
                absl::StrCat("worker ", id.value(), " no longer reports attempt ", a),
                /*charge_retry=*/false);
  }
}

void SchedulerCore::WorkerProgress(const WorkerId& id, const v1::Progress& progress) {
  auto it = attempts_.find(progress.attempt_id());
  if (it == attempts_.end() || it->second.worker != id) return;
  auto w = workers_.find(id);
  if (w != workers_.end()) w->second.last_seen_ms = NowMs();
  Job* job = FindJob(it->second.task.job);
  if (job == nullptr) return;
  const int32_t index = it->second.task.index;
  Task& task = job->tasks[index];
  task.rec.frames_done = task.kept_frames + progress.frames_done();
  for (const std::string& line : progress.log_lines())
    AppendLog(*job, index, task.rec.attempt, line);
  job->changed.push_back(index);
  dirty_jobs_.insert(job->rec.id);
  PersistTask(*job, index);
}

bool SchedulerCore::WorkerResult(const WorkerId& id, const v1::Result& result) {
  auto it = attempts_.find(result.attempt_id());
  if (it == attempts_.end() || it->second.worker != id) {
    spdlog::info("ignoring result of stale attempt {} from worker {}", result.attempt_id(),
                 id.value());
    return false;
  }
  const TaskId task_id = it->second.task;
  Job* job = FindJob(task_id.job);
  if (job == nullptr) return false;
  Task& task = job->tasks[task_id.index];
  if ((result.job_id() != 0 && result.job_id() != task_id.job.value()) ||
      (result.job_id() != 0 && result.task_index() != task_id.index) ||
      task.rec.attempt.value() != result.attempt_id() || task.rec.state != v1::TASK_STATE_RUNNING) {
    spdlog::info("ignoring result of attempt {}: task {} moved on", result.attempt_id(),
                 task_id.ToString());
    return false;
  }
  for (const std::string& line : result.log_lines())
    AppendLog(*job, task_id.index, task.rec.attempt, line);
  if (!result.success()) {
    v1::FailureReason reason = result.failure_reason() == v1::FAILURE_REASON_UNSPECIFIED
                                   ? v1::FAILURE_REASON_INTERNAL
                                   : result.failure_reason();
    const bool charge =
        reason != v1::FAILURE_REASON_CANCELED && reason != v1::FAILURE_REASON_PREEMPTED;
    // The scheduler never asks for a CANCELED result of a live attempt (its own cancels end
    // the attempt first, so their results arrive stale): a worker cancels on its own only
    // when it shuts down (SIGTERM drain), refusing new work and handing back what outlives
    // its grace. Stop offering it work until its next hello, or every requeued task would
    // bounce off it until it exits.
    if (reason == v1::FAILURE_REASON_CANCELED) {
      auto w = workers_.find(id);
      if (w != workers_.end() && !w->second.shutting_down) {
        w->second.shutting_down = true;
        dispatch_needed_ = true;
        spdlog::info("worker {} is shutting down: no new work for it", id.value());
      }
    }
    FailAttempt(result.attempt_id(), reason, result.message(), charge);
    return true;
  }
  const double run_seconds = (NowMs() - it->second.start_ms) / 1000.0;
  EndAttempt(result.attempt_id());
  task.rec.end_ms = NowMs();
  task.rec.frames_done = static_cast<int64_t>(task.rec.frames.size());
  task.rec.message.clear();
  task.rec.failure_reason = v1::FAILURE_REASON_UNSPECIFIED;
  const v1::StageSpec& stage = job->rec.spec.stages(task.rec.stage);
  observer_->OnAttemptEnded(job->rec.spec.project(), stage.model(), true,
                            static_cast<int64_t>(task.rec.frames.size()), run_seconds);
  SetTaskState(*job, task_id.index, v1::TASK_STATE_SUCCEEDED);
  OnTaskSucceeded(*job, task_id.index);
  UpdateJobState(*job);
  return true;
}

absl::StatusOr<v1::Worker> SchedulerCore::SetDrain(const WorkerId& id, bool drain) {
  auto it = workers_.find(id);
  if (it == workers_.end())
    return absl::NotFoundError(absl::StrCat("worker '", id.value(), "' not found"));
  it->second.draining = drain;
  if (it->second.channel) {
    v1::SchedulerMessage message;
    message.mutable_drain()->set_drain(drain);
    it->second.channel->Send(message);
  }
  dispatch_needed_ = true;
  return ToProto(id, it->second);
}

// --- Job control ---

absl::StatusOr<v1::Job> SchedulerCore::CancelJob(JobId id) {
  GENFARM_ASSIGN_OR_RETURN(Job * job, MutableJob(id));
  if (JobEnded(job->rec.state) && job->rec.state != v1::JOB_STATE_FAILED) return ToProto(*job);
  job->rec.state = v1::JOB_STATE_CANCELED;
  job->rec.message = "canceled by user";
  for (size_t i = 0; i < job->tasks.size(); ++i) {
    Task& task = job->tasks[i];
    if (Terminal(task.rec.state)) continue;
    if (task.rec.state == v1::TASK_STATE_RUNNING) {
      const int64_t attempt = task.rec.attempt.value();
      auto a = attempts_.find(attempt);
      if (a != attempts_.end()) {
        auto w = workers_.find(a->second.worker);
        if (w != workers_.end() && w->second.channel) {
          v1::SchedulerMessage message;
          message.mutable_cancel()->set_attempt_id(attempt);
          message.mutable_cancel()->set_reason(v1::FAILURE_REASON_CANCELED);
          w->second.channel->Send(message);
        }
      }
      EndAttempt(attempt);
    }
    task.rec.failure_reason = v1::FAILURE_REASON_CANCELED;
    task.rec.message = "canceled by user";
    SetTaskState(*job, static_cast<int32_t>(i), v1::TASK_STATE_CANCELED);
  }
  OnJobEnded(*job);  // jobs waiting on this one will never start
  PersistJob(*job);
  return ToProto(*job);
}

absl::StatusOr<v1::Job> SchedulerCore::PauseJob(JobId id) {
  GENFARM_ASSIGN_OR_RETURN(Job * job, MutableJob(id));
  if (JobEnded(job->rec.state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id.value(), " has ended; nothing to pause"));
  }
  job->rec.state = v1::JOB_STATE_PAUSED;
  job->rec.message = "paused: running tasks finish, no new tasks start";
  PersistJob(*job);
  return ToProto(*job);
}

absl::StatusOr<v1::Job> SchedulerCore::ResumeJob(JobId id) {
  GENFARM_ASSIGN_OR_RETURN(Job * job, MutableJob(id));
  if (job->rec.state != v1::JOB_STATE_PAUSED) {
    return absl::FailedPreconditionError(absl::StrCat("job ", id.value(), " is not paused"));
  }
  job->rec.state = job->unmet_jobs > 0 ? v1::JOB_STATE_WAITING : v1::JOB_STATE_ACTIVE;
  job->rec.message.clear();
  StartJobIfReady(*job);
  PersistJob(*job);
  UpdateJobState(*job);
  dispatch_needed_ = true;
  return ToProto(*job);
}

absl::StatusOr<int32_t> SchedulerCore::RetryTasks(JobId id, bool failed_only,
                                                  const std::vector<int32_t>& indexes) {
  GENFARM_ASSIGN_OR_RETURN(Job * job, MutableJob(id));
  std::vector<int32_t> chosen;
  if (failed_only || indexes.empty()) {
    for (size_t i = 0; i < job->tasks.size(); ++i) {
      v1::TaskState s = job->tasks[i].rec.state;
      if (s == v1::TASK_STATE_FAILED || s == v1::TASK_STATE_CANCELED)
        chosen.push_back(static_cast<int32_t>(i));
    }
  }
  for (int32_t i : indexes) {
    if (i < 0 || static_cast<size_t>(i) >= job->tasks.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "task ", i, " does not exist in job ", id.value(), " (", job->tasks.size(), " tasks)"));
    }
    if (!Terminal(job->tasks[i].rec.state)) {
      return absl::FailedPreconditionError(absl::StrCat("task ", i, " is ",
                                                        StateName(job->tasks[i].rec.state),
                                                        "; only finished tasks can be retried"));
    }
    chosen.push_back(i);
  }
  std::sort(chosen.begin(), chosen.end());
  chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
  if (chosen.empty()) return 0;
  if (job->rec.state == v1::JOB_STATE_CANCELED || JobEnded(job->rec.state)) {
    job->rec.state = job->unmet_jobs > 0 ? v1::JOB_STATE_WAITING : v1::JOB_STATE_ACTIVE;
    job->rec.message.clear();
    job->rec.end_ms = 0;
  }
  for (int32_t i : chosen) {
    Task& task = job->tasks[i];
    task.rec.attempts = 0;
    task.rec.not_before_ms = 0;
    task.rec.failure_reason = v1::FAILURE_REASON_UNSPECIFIED;
    task.rec.message.clear();
    SetTaskState(*job, i, v1::TASK_STATE_WAITING);
  }
  job->blocklist.clear();
  for (int32_t i : chosen) {
    Task& task = job->tasks[i];
    task.unmet_deps = 0;
    for (int32_t dep : task.deps)
      task.unmet_deps += job->tasks[dep].rec.state != v1::TASK_STATE_SUCCEEDED;
    if (job->rec.state == v1::JOB_STATE_ACTIVE) MakeRunnable(*job, i);
  }
  PersistJob(*job);
  UpdateJobState(*job);
  return static_cast<int32_t>(chosen.size());
}

absl::StatusOr<v1::Job> SchedulerCore::SetPriority(JobId id, int32_t priority) {
  if (priority < 0 || priority > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("priority: must be between 0 and 100, got ", priority));
  }
  GENFARM_ASSIGN_OR_RETURN(Job * job, MutableJob(id));
  job->rec.spec.set_priority(priority);
  PersistJob(*job);
  dispatch_needed_ = true;
  return ToProto(*job);
}

// --- Logs and watching ---

void SchedulerCore::AppendLog(Job& job, int32_t index, AttemptId attempt, const std::string& text) {
  LogRecord log{TaskId{job.rec.id, index}, attempt, NowMs(), text};
  sink_.AppendLog(log);
  std::vector<std::string>& lines = job.tasks[index].log;
  if (static_cast<int>(lines.size()) >= options_.max_log_lines_per_task) lines.erase(lines.begin());
  lines.push_back(text);
}

absl::StatusOr<int64_t> SchedulerCore::Watch(JobId id, JobListener listener) {
  GENFARM_ASSIGN_OR_RETURN(Job * job, MutableJob(id));
  v1::JobEvent event;
  *event.mutable_job() = ToProto(*job);
  for (size_t i = 0; i < job->tasks.size(); ++i)
    *event.add_changed_tasks() = ToProto(*job, static_cast<int32_t>(i));
  const bool ended = JobEnded(job->rec.state);
  listener(event, ended);
  if (ended) return 0;
  const int64_t watch_id = next_watch_id_++;
  watchers_[watch_id] = Watcher{id, std::move(listener)};
  return watch_id;
}

void SchedulerCore::Unwatch(int64_t watch_id) { watchers_.erase(watch_id); }

void SchedulerCore::NotifyWatchers() {
  if (dirty_jobs_.empty()) return;
  absl::flat_hash_map<JobId, std::vector<int64_t>> by_job;
  for (const auto& [watch_id, watcher] : watchers_) {
    if (dirty_jobs_.contains(watcher.job)) by_job[watcher.job].push_back(watch_id);
  }
  for (const JobId& id : dirty_jobs_) {
    Job* job = FindJob(id);
    if (job == nullptr) continue;
    auto it = by_job.find(id);
    if (it != by_job.end()) {
      v1::JobEvent event;
      *event.mutable_job() = ToProto(*job);
      std::sort(job->changed.begin(), job->changed.end());
      job->changed.erase(std::unique(job->changed.begin(), job->changed.end()), job->changed.end());
      for (int32_t index : job->changed) *event.add_changed_tasks() = ToProto(*job, index);
      const bool ended = JobEnded(job->rec.state);
      for (int64_t watch_id : it->second) {
        auto w = watchers_.find(watch_id);
        if (w == watchers_.end()) continue;
        w->second.listener(event, ended);
        if (ended) watchers_.erase(watch_id);
      }
    }
    job->changed.clear();
  }
  dirty_jobs_.clear();
}

// --- Time and dispatch ---

void SchedulerCore::Tick() {
  const int64_t now = NowMs();
  // A forgiven worker may take work again; nothing else would trigger a dispatch.
  for (const JobId& id : active_jobs_) {
    Job* job = FindJob(id);
    if (job == nullptr) continue;
    for (auto& [worker, entry] : job->blocklist) {
      if (entry.until_ms != 0 && entry.until_ms <= now) {
        entry = Blocklist{};
        dispatch_needed_ = true;
      }
    }
  }
  while (!backoff_.empty() && backoff_.begin()->first <= now) {
    TaskId id = backoff_.begin()->second;
    backoff_.erase(backoff_.begin());
    Job* job = FindJob(id.job);
    if (job == nullptr) continue;
    Task& task = job->tasks[id.index];
    if (task.rec.state == v1::TASK_STATE_QUEUED && task.rec.not_before_ms <= now) {
      job->stages[task.rec.stage].queued.insert(id.index);
      dispatch_needed_ = true;
    }
  }
  std::vector<std::pair<int64_t, std::string>> timed_out;
  for (const auto& [attempt_id, attempt] : attempts_) {
    if (attempt.deadline_ms > 0 && now >= attempt.deadline_ms) {
      timed_out.emplace_back(attempt_id, attempt.worker.value());
    }
  }
  std::sort(timed_out.begin(), timed_out.end());
  for (const auto& [attempt_id, worker_id] : timed_out) {
    auto w = workers_.find(WorkerId(worker_id));
    if (w != workers_.end() && w->second.channel) {
      v1::SchedulerMessage message;
      message.mutable_cancel()->set_attempt_id(attempt_id);
      message.mutable_cancel()->set_reason(v1::FAILURE_REASON_TIMEOUT);
      w->second.channel->Send(message);
    }
    const Attempt& attempt = attempts_[attempt_id];
    const Job* job = FindJob(attempt.task.job);
    const int32_t timeout =
        job ? job->rec.spec.stages(job->tasks[attempt.task.index].rec.stage).timeout_seconds() : 0;
    FailAttempt(attempt_id, v1::FAILURE_REASON_TIMEOUT,
                absl::StrCat("attempt timed out after ", timeout, " s on worker ", worker_id),
                true);
  }
  std::vector<WorkerId> silent;
  for (const auto& [id, worker] : workers_) {
    const bool online = worker.channel != nullptr;
    const int64_t ttl = absl::ToInt64Milliseconds(options_.lease_ttl);
    if (online && now - worker.last_seen_ms > ttl) silent.push_back(id);
    // Recovered attempts whose worker never came back after a scheduler restart.
    if (!online && !worker.attempts.empty() && now >= recovery_deadline_ms_) silent.push_back(id);
  }
  for (const WorkerId& id : silent) LoseWorker(id, "missed heartbeats");
  if (now - last_policy_ms_ >= absl::ToInt64Milliseconds(options_.policy_interval)) {
    last_policy_ms_ = now;
    dispatch_needed_ = true;
  }
  Dispatch();
  if (now - last_unplaceable_ms_ >= 1000) {
    last_unplaceable_ms_ = now;
    UpdateUnplaceable();
  }
}

void SchedulerCore::UpdateUnplaceable() {
  std::vector<WorkerView> accepting;  // online and not draining
  std::vector<std::string> draining;
  for (const auto& [id, worker] : workers_) {
    if (!worker.channel) continue;
    if (worker.draining || worker.shutting_down) {
      draining.push_back(id.value());
      continue;
    }
    accepting.push_back(StaticView(id, worker));
  }
  for (const JobId& id : active_jobs_) {
    Job* job = FindJob(id);
    if (job == nullptr) continue;
    for (size_t s = 0; s < job->stages.size(); ++s) {
      Stage& stage = job->stages[s];
      std::string why;
      if (!stage.queued.empty()) {
        why = policy_.WhyUnplaceable(MakeGroup(*job, static_cast<int32_t>(s), NowMs()), accepting);
        if (accepting.empty() && !draining.empty()) {
          why = absl::StrCat("every connected worker is draining (", absl::StrJoin(draining, ", "),
                             ")");
        }
      }
      if (why != stage.unplaceable) {
        stage.unplaceable = why;
        dirty_jobs_.insert(id);
        for (int32_t index : stage.queued) job->changed.push_back(index);
      }
    }
  }
}

void SchedulerCore::Dispatch() {
  if (dispatch_needed_) {
    dispatch_needed_ = false;
    FarmView view;
    view.now_ms = NowMs();
    std::vector<WorkerState*> worker_ptrs;
    for (auto& [id, worker] : workers_) {
      if (!worker.channel || worker.draining || worker.shutting_down) continue;
      for (const std::string& model : worker.loaded) view.warm_workers[model]++;
      const int32_t free = worker.hello.slots() - static_cast<int32_t>(worker.attempts.size());
      if (free <= 0) continue;
      view.workers.push_back(LiveView(id, worker));
      worker_ptrs.push_back(&worker);
    }
    std::vector<std::pair<Job*, int32_t>> group_refs;
    // Decayed usage: integrate each project's running slots since the last dispatch.
    const double decay = std::exp2(-(view.now_ms - usage_ms_) / 1000.0 /
                                   std::max(1.0, absl::ToDoubleSeconds(options_.usage_half_life)));
    for (auto& [project, usage] : usage_) {
      usage.slot_seconds =
          usage.slot_seconds * decay + usage.running * (view.now_ms - usage_ms_) / 1000.0;
      usage.running = 0;
    }
    usage_ms_ = view.now_ms;
    for (const auto& [id, attempt] : attempts_) {
      if (const Job* job = FindJob(attempt.task.job)) usage_[job->rec.spec.project()].running += 1;
    }
    if (!view.workers.empty()) {
      for (const auto& [id, attempt] : attempts_) {
        if (const Job* job = FindJob(attempt.task.job))
          view.projects[job->rec.spec.project()].running_slots += 1;
      }
      for (const auto& [project, usage] : usage_)
        view.projects[project].decayed_usage = usage.slot_seconds;
      std::vector<JobId> active(active_jobs_.begin(), active_jobs_.end());
      std::sort(active.begin(), active.end());
      for (const JobId& id : active) {
        Job* job = FindJob(id);
        if (job == nullptr || job->rec.state != v1::JOB_STATE_ACTIVE) continue;
        for (size_t s = 0; s < job->stages.size(); ++s) {
          Stage& stage = job->stages[s];
          if (stage.queued.empty()) continue;
          WorkGroup group = MakeGroup(*job, static_cast<int32_t>(s), view.now_ms);
          view.groups.push_back(std::move(group));
          group_refs.emplace_back(job, static_cast<int32_t>(s));
        }
      }
    }
    if (!view.groups.empty()) {
      for (const Placement& p : policy_.Place(view)) {
        auto [job, s] = group_refs[p.group];
        Stage& stage = job->stages[s];
        if (stage.queued.empty()) continue;
        const int32_t index = *stage.queued.begin();
        AssignTask(*job, index, *worker_ptrs[p.worker], p.device);
        usage_[job->rec.spec.project()].running += 1;
      }
    }
    // Preempted attempts free slots that the waiting work takes in the next round.
    if (PreemptForWaitingWork()) {
      dispatch_needed_ = true;
      Dispatch();
      return;
    }
  }
  NotifyWatchers();
}

bool SchedulerCore::PreemptForWaitingWork() {
  PreemptionView view;
  view.now_ms = NowMs();
  for (const JobId& id : active_jobs_) {
    Job* job = FindJob(id);
    if (job == nullptr || job->rec.state != v1::JOB_STATE_ACTIVE) continue;
    for (size_t s = 0; s < job->stages.size(); ++s) {
      if (!job->stages[s].queued.empty())
        view.waiting.push_back(MakeGroup(*job, static_cast<int32_t>(s), view.now_ms));
    }
  }
  if (view.waiting.empty()) return false;
  for (const auto& [project, usage] : usage_)
    view.projects[project].decayed_usage = usage.slot_seconds;
  std::sort(view.waiting.begin(), view.waiting.end(), [](const WorkGroup& a, const WorkGroup& b) {
    return std::tie(a.job_id, a.stage) < std::tie(b.job_id, b.stage);
  });
  for (const auto& [id, worker] : workers_) {
    if (!worker.channel || worker.draining || worker.shutting_down) continue;
    WorkerView wv = LiveView(id, worker);
    std::vector<int64_t> attempts(worker.attempts.begin(), worker.attempts.end());
    std::sort(attempts.begin(), attempts.end());
    for (int64_t a : attempts) {
      auto at = attempts_.find(a);
      if (at == attempts_.end()) continue;
      const Job* job = FindJob(at->second.task.job);
      if (job == nullptr) continue;
      const Task& task = job->tasks[at->second.task.index];
      RunningAttempt running;
      running.attempt_id = a;
      running.worker = view.workers.size();
      running.device = task.device;
      running.project = job->rec.spec.project();
      running.tier =
          job->rec.spec.tier() == v1::TIER_UNSPECIFIED ? v1::TIER_BATCH : job->rec.spec.tier();
      running.priority = job->rec.spec.priority();
      running.start_ms = at->second.start_ms;
      running.memory_bytes = task.reserved_bytes;
      view.running.push_back(std::move(running));
    }
    view.workers.push_back(std::move(wv));
  }
  std::vector<int64_t> victims = policy_.Preempt(view);
  int preempted = 0;
  for (int64_t attempt_id : victims) {
    auto it = attempts_.find(attempt_id);
    if (it == attempts_.end()) continue;
    Job* job = FindJob(it->second.task.job);
    if (job == nullptr) continue;
    Task& task = job->tasks[it->second.task.index];
    const v1::Tier tier = job->rec.spec.tier();
    if (tier != v1::TIER_UNSPECIFIED && tier != v1::TIER_BATCH)
      continue;  // only batch is preemptible
    // The worker writes frames in order, each by an atomic rename, so the first
    // frames_done frames of the chunk are complete on disk: keep them.
    task.kept_frames =
        std::min<int64_t>(task.rec.frames_done, static_cast<int64_t>(task.rec.frames.size()));
    auto w = workers_.find(it->second.worker);
    if (w != workers_.end() && w->second.channel) {
      v1::SchedulerMessage message;
      message.mutable_cancel()->set_attempt_id(attempt_id);
      message.mutable_cancel()->set_reason(v1::FAILURE_REASON_PREEMPTED);
      w->second.channel->Send(message);
    }
    FailAttempt(attempt_id, v1::FAILURE_REASON_PREEMPTED,
                absl::StrCat("preempted for waiting work (higher tier or fair share); ",
                             task.kept_frames, " finished frames kept"),
                /*charge_retry=*/false);
    ++preempted;
  }
  if (preempted > 0) spdlog::info("preempted {} batch attempts for waiting work", preempted);
  return preempted > 0;
}

// --- Views ---

WorkerView SchedulerCore::StaticView(const WorkerId& id, const WorkerState& worker) const {
  WorkerView wv;
  wv.id = id.value();
  wv.free_slots = worker.hello.slots();
  wv.tags.insert(worker.hello.tags().begin(), worker.hello.tags().end());
  for (const v1::ModelInfo& m : worker.hello.models()) wv.models.insert(m.name());
  wv.loaded_models = worker.loaded;
  for (const v1::Device& d : worker.devices) {
    DeviceView dv;
    dv.kind = d.kind();
    dv.index = d.kind() == "cuda" ? d.index() : -1;
    dv.memory_total_bytes = d.memory_total_bytes();
    dv.memory_free_bytes = d.memory_total_bytes();
    wv.devices.push_back(dv);
  }
  return wv;
}

WorkerView SchedulerCore::LiveView(const WorkerId& id, const WorkerState& worker) const {
  WorkerView wv = StaticView(id, worker);
  wv.free_slots = worker.hello.slots() - static_cast<int32_t>(worker.attempts.size());
  for (int64_t a : worker.attempts) {
    auto at = attempts_.find(a);
    if (at == attempts_.end()) continue;
    const Job* job = FindJob(at->second.task.job);
    if (job == nullptr) continue;
    const Task& task = job->tasks[at->second.task.index];
    for (DeviceView& dv : wv.devices) {
      if (dv.index == task.device) dv.memory_free_bytes -= task.reserved_bytes;
    }
  }
  return wv;
}

WorkGroup SchedulerCore::MakeGroup(const Job& job, int32_t s, int64_t now_ms) const {
  const Stage& stage = job.stages[s];
  const v1::StageSpec& spec = job.rec.spec.stages(s);
  WorkGroup group;
  group.job_id = job.rec.id.value();
  group.stage = s;
  group.project = job.rec.spec.project();
  group.tier = job.rec.spec.tier() == v1::TIER_UNSPECIFIED ? v1::TIER_BATCH : job.rec.spec.tier();
  group.priority = job.rec.spec.priority();
  group.submit_ms = job.rec.submit_ms;
  group.oldest_queued_ms =
      stage.queued.empty() ? now_ms : job.tasks[*stage.queued.begin()].runnable_since_ms;
  group.last_start_ms = stage.last_start_ms;
  group.model = spec.kind() == v1::STAGE_KIND_DAILIES ? "" : spec.model();
  group.tags.assign(spec.tags().begin(), spec.tags().end());
  group.gpus = spec.gpus();
  group.memory_bytes = TaskMemory(job, s);
  group.queued = static_cast<int64_t>(stage.queued.size());
  for (const auto& [worker, entry] : job.blocklist) {
    if (entry.until_ms > now_ms) group.blocked_workers.insert(worker);
  }
  return group;
}

v1::Job SchedulerCore::ToProto(const Job& job) const {
  v1::Job out;
  out.set_id(job.rec.id.value());
  *out.mutable_spec() = job.rec.spec;
  out.set_state(job.rec.state);
  out.set_submit_time_ms(job.rec.submit_ms);
  out.set_start_time_ms(job.rec.start_ms);
  out.set_end_time_ms(job.rec.end_ms);
  out.set_message(job.rec.message);
  for (size_t s = 0; s < job.stages.size(); ++s) {
    const Stage& stage = job.stages[s];
    v1::StageStatus* st = out.add_stages();
    st->set_name(job.rec.spec.stages(static_cast<int>(s)).name());
    st->set_frames_total(stage.frames_total);
    st->set_frames_done(stage.frames_done);
    int64_t total = 0;
    for (const auto& [state, count] : stage.count) {
      total += count;
      if (count > 0)
        (*st->mutable_tasks_by_state())[StateName(static_cast<v1::TaskState>(state))] = count;
    }
    st->set_tasks_total(total);
  }
  return out;
}

v1::Task SchedulerCore::ToProto(const Job& job, int32_t index) const {
  const Task& task = job.tasks[index];
  v1::Task out;
  out.set_job_id(job.rec.id.value());
  out.set_index(index);
  out.set_stage(job.rec.spec.stages(task.rec.stage).name());
  out.mutable_frames()->Add(task.rec.frames.begin(), task.rec.frames.end());
  out.set_state(task.rec.state);
  out.set_attempts(task.rec.attempts);
  out.set_attempt_id(task.rec.attempt.value());
  out.set_worker(task.rec.worker);
  out.set_start_time_ms(task.rec.start_ms);
  out.set_end_time_ms(task.rec.end_ms);
  out.set_failure_reason(task.rec.failure_reason);
  out.set_frames_done(task.rec.frames_done);
  out.set_not_before_ms(task.rec.not_before_ms);
  std::string message = task.rec.message;
  const std::string& unplaceable = job.stages[task.rec.stage].unplaceable;
  if (task.rec.state == v1::TASK_STATE_QUEUED && !unplaceable.empty()) message = unplaceable;
  out.set_message(message);
  return out;
}

v1::Worker SchedulerCore::ToProto(const WorkerId& id, const WorkerState& w) const {
  v1::Worker out;
  out.set_id(id.value());
  out.set_hostname(w.hello.hostname());
  out.set_state(!w.channel ? v1::WORKER_STATE_OFFLINE
                           : (w.draining || w.shutting_down ? v1::WORKER_STATE_DRAINING
                                                            : v1::WORKER_STATE_ONLINE));
  for (const v1::Device& d : w.devices) *out.add_devices() = d;
  out.set_slots(w.hello.slots());
  out.set_busy_slots(static_cast<int32_t>(w.attempts.size()));
  out.mutable_tags()->CopyFrom(w.hello.tags());
  for (v1::ModelInfo m : w.hello.models()) {
    m.set_loaded(w.loaded.contains(m.name()));
    *out.add_models() = m;
  }
  std::vector<int64_t> attempts(w.attempts.begin(), w.attempts.end());
  std::sort(attempts.begin(), attempts.end());
  for (int64_t a : attempts) {
    auto it = attempts_.find(a);
    if (it != attempts_.end()) out.add_running(it->second.task.ToString());
  }
  out.set_last_seen_ms(w.last_seen_ms);
  out.set_http_address(w.hello.http_address());
  return out;
}

absl::StatusOr<v1::Job> SchedulerCore::GetJob(JobId id) const {
  const Job* job = FindJob(id);
  if (job == nullptr) return absl::NotFoundError(absl::StrCat("job ", id.value(), " not found"));
  return ToProto(*job);
}

absl::StatusOr<std::vector<v1::Task>> SchedulerCore::GetTasks(JobId id) const {
  const Job* job = FindJob(id);
  if (job == nullptr) return absl::NotFoundError(absl::StrCat("job ", id.value(), " not found"));
  std::vector<v1::Task> out;
  out.reserve(job->tasks.size());
  for (size_t i = 0; i < job->tasks.size(); ++i)
    out.push_back(ToProto(*job, static_cast<int32_t>(i)));
  return out;
}

v1::ListJobsResponse SchedulerCore::ListJobs(const v1::ListJobsRequest& request) const {
  v1::ListJobsResponse out;
  int page = request.page_size() <= 0 ? 100 : std::min(request.page_size(), 1000);
  int64_t before = INT64_MAX;
  if (!request.page_token().empty())
    before = std::strtoll(request.page_token().c_str(), nullptr, 10);
  for (auto it = jobs_.rbegin(); it != jobs_.rend(); ++it) {
    if (it->first.value() >= before) continue;
    const Job& job = it->second;
    if (!request.project().empty() && job.rec.spec.project() != request.project()) continue;
    if (request.state() != v1::JOB_STATE_UNSPECIFIED && job.rec.state != request.state()) continue;
    if (out.jobs_size() == page) {
      out.set_next_page_token(absl::StrCat(out.jobs(page - 1).id()));
      break;
    }
    *out.add_jobs() = ToProto(job);
  }
  return out;
}

std::vector<v1::Worker> SchedulerCore::ListWorkers(bool include_offline) const {
  std::vector<v1::Worker> out;
  for (const auto& [id, worker] : workers_) {
    if (!include_offline && !worker.channel) continue;
    out.push_back(ToProto(id, worker));
  }
  return out;
}

v1::FarmStats SchedulerCore::Stats() const {
  v1::FarmStats out;
  for (const auto& [id, worker] : workers_) {
    if (!worker.channel) continue;
    out.set_workers_online(out.workers_online() + 1);
    out.set_slots_total(out.slots_total() + worker.hello.slots());
    out.set_slots_busy(out.slots_busy() + static_cast<int64_t>(worker.attempts.size()));
  }
  int64_t frames = 0;
  for (const auto& [id, job] : jobs_) {
    std::string state = absl::AsciiStrToLower(v1::JobState_Name(job.rec.state).substr(10));
    (*out.mutable_jobs_by_state())[state]++;
    for (const Stage& stage : job.stages) {
      frames += stage.frames_done;
      for (const auto& [s, count] : stage.count) {
        if (count > 0)
          (*out.mutable_tasks_by_state())[StateName(static_cast<v1::TaskState>(s))] += count;
      }
    }
  }
  out.set_frames_done_total(frames);
  return out;
}

std::map<std::pair<std::string, v1::Tier>, int64_t> SchedulerCore::QueueDepths() const {
  std::map<std::pair<std::string, v1::Tier>, int64_t> out;
  for (const auto& [id, job] : jobs_) {
    const v1::Tier tier =
        job.rec.spec.tier() == v1::TIER_UNSPECIFIED ? v1::TIER_BATCH : job.rec.spec.tier();
    int64_t queued = 0;
    for (const Stage& stage : job.stages) queued += static_cast<int64_t>(stage.queued.size());
    out[{job.rec.spec.project(), tier}] += queued;
  }
  return out;
}

}  // namespace genfarm::scheduler
