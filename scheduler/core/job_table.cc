#include "scheduler/core/job_table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler {

bool IsTerminal(v1::TaskState s) {
  return s == v1::TASK_STATE_SUCCEEDED || s == v1::TASK_STATE_FAILED ||
         s == v1::TASK_STATE_CANCELED;
}

bool IsEnded(v1::JobState s) {
  return s == v1::JOB_STATE_SUCCEEDED || s == v1::JOB_STATE_FAILED || s == v1::JOB_STATE_CANCELED;
}

LiveJob* JobTable::Find(JobId id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

const LiveJob* JobTable::Find(JobId id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

absl::StatusOr<LiveJob*> JobTable::Mutable(JobId id) {
  LiveJob* job = Find(id);
  if (job == nullptr) return absl::NotFoundError(absl::StrCat("job ", id.value(), " not found"));
  return job;
}

std::optional<JobId> JobTable::FindByIdempotencyKey(const std::string& key) const {
  if (key.empty()) return std::nullopt;
  auto it = idempotency_.find(key);
  if (it == idempotency_.end()) return std::nullopt;
  return it->second;
}

LiveJob& JobTable::Insert(JobRecord rec, JobPlan plan) {
  const JobId id = rec.id;
  RaiseNextId(id);
  if (!rec.idempotency_key.empty()) idempotency_[rec.idempotency_key] = id;
  LiveJob& job = jobs_[id];
  job.rec = std::move(rec);
  job.plan = std::move(plan);
  const int stages = job.rec.spec.stages_size();
  job.stages.assign(stages, LiveStage{});
  job.tasks.resize(job.plan.tasks.size());
  for (size_t i = 0; i < job.plan.tasks.size(); ++i) {
    const PlannedTask& planned = job.plan.tasks[i];
    job.tasks[i].deps = planned.deps;
    for (int32_t dep : planned.deps) job.tasks[dep].dependents.push_back(static_cast<int32_t>(i));
  }
  for (int s = 0; s < stages; ++s) {
    job.stages[s].frames_total = static_cast<int64_t>(job.plan.stage_frames[s].size());
  }
  return job;
}

void JobTable::RaiseNextId(JobId used) {
  int64_t next = next_job_id_.load();
  while (next <= used.value() && !next_job_id_.compare_exchange_weak(next, used.value() + 1)) {
  }
}

LiveJob& JobTable::Admit(LiveJob job, std::vector<TaskRecord> records) {
  const JobId id = job.rec.id;
  RaiseNextId(id);
  sink_.SetJobHighWater(id.value());  // in the job's unit: a restart never hands it out again
  if (!job.rec.idempotency_key.empty()) idempotency_[job.rec.idempotency_key] = id;
  total_tasks_ += static_cast<int64_t>(job.tasks.size());
  LiveJob& live = jobs_[id] = std::move(job);
  sink_.PutJob(live.rec);
  sink_.PutNewTasks(std::move(records));
  dirty_.insert(id);
  return live;
}

void JobTable::Erase(JobId id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  if (!it->second.rec.idempotency_key.empty()) idempotency_.erase(it->second.rec.idempotency_key);
  active_.erase(id);
  dirty_.erase(id);
  jobs_.erase(it);
}

LiveJob JobTable::Remove(JobId id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return LiveJob{};
  total_tasks_ -= static_cast<int64_t>(it->second.tasks.size());
  if (!it->second.rec.idempotency_key.empty()) idempotency_.erase(it->second.rec.idempotency_key);
  active_.erase(id);
  dirty_.erase(id);
  LiveJob removed = std::move(it->second);
  jobs_.erase(it);
  sink_.DeleteJob(id);
  return removed;
}

void JobTable::InitNewTasks(LiveJob& job) {
  for (size_t i = 0; i < job.tasks.size(); ++i) {
    LiveTask& task = job.tasks[i];
    TaskRecord& rec = task.rec;
    rec.id = TaskId{job.rec.id, static_cast<int32_t>(i)};
    rec.stage = job.plan.tasks[i].stage;
    rec.frames = job.plan.tasks[i].frames;
    rec.state = v1::TASK_STATE_WAITING;
    task.unmet_deps = static_cast<int32_t>(task.deps.size());
    job.stages[rec.stage].count[v1::TASK_STATE_WAITING]++;
  }
  total_tasks_ += static_cast<int64_t>(job.tasks.size());
}

void JobTable::LinkJobDependencies(LiveJob& job) {
  for (int64_t dep : job.rec.spec.depends_on_jobs()) {
    LiveJob* upstream = Find(JobId(dep));
    if (upstream == nullptr || upstream->rec.state == v1::JOB_STATE_SUCCEEDED) continue;
    job.unmet_jobs++;
    upstream->dependents.push_back(job.rec.id);
  }
}

void JobTable::SetTaskState(LiveJob& job, int32_t index, v1::TaskState state, bool persist) {
  LiveTask& task = job.tasks[index];
  LiveStage& stage = job.stages[task.rec.stage];
  const v1::TaskState old = task.rec.state;
  if (old == v1::TASK_STATE_QUEUED) stage.queued.erase(index);
  if (old == v1::TASK_STATE_SUCCEEDED)
    stage.frames_done -= static_cast<int64_t>(task.rec.frames.size());
  stage.count[old]--;
  task.rec.state = state;
  stage.count[state]++;
  if (IsTerminal(state)) task.kept_frames = 0;
  if (state == v1::TASK_STATE_SUCCEEDED)
    stage.frames_done += static_cast<int64_t>(task.rec.frames.size());
  if (state == v1::TASK_STATE_QUEUED) {
    task.runnable_since_ms = NowMs();
    if (task.rec.not_before_ms > task.runnable_since_ms) {
      backoff_.emplace(task.rec.not_before_ms, task.rec.id);
    } else {
      stage.queued.insert(index);
      signals_.dispatch_needed = true;
    }
    active_.insert(job.rec.id);
  }
  MarkChanged(job, index);
  if (persist) PersistTask(job, index);
}

void JobTable::MarkChanged(LiveJob& job, int32_t index) {
  job.changed.push_back(index);
  dirty_.insert(job.rec.id);
}

void JobTable::PersistTask(const LiveJob& job, int32_t index) {
  sink_.PutTask(job.tasks[index].rec);
}

void JobTable::PersistJob(LiveJob& job) {
  sink_.PutJob(job.rec);
  dirty_.insert(job.rec.id);
}

void JobTable::MakeRunnable(LiveJob& job, int32_t index, bool persist) {
  const LiveTask& task = job.tasks[index];
  SetTaskState(job, index, task.unmet_deps > 0 ? v1::TASK_STATE_BLOCKED : v1::TASK_STATE_QUEUED,
               persist);
}

void JobTable::ReleaseDependents(LiveJob& job, int32_t index) {
  for (int32_t d : job.tasks[index].dependents) {
    LiveTask& dependent = job.tasks[d];
    if (--dependent.unmet_deps == 0 && dependent.rec.state == v1::TASK_STATE_BLOCKED) {
      SetTaskState(job, d, v1::TASK_STATE_QUEUED);
    }
  }
}

void JobTable::CancelDownstream(LiveJob& job, int32_t index) {
  std::vector<int32_t> stack = job.tasks[index].dependents;
  const std::string why =
      absl::StrCat("upstream task ", index, " (stage ",
                   job.rec.spec.stages(job.tasks[index].rec.stage).name(), ") failed");
  while (!stack.empty()) {
    const int32_t d = stack.back();
    stack.pop_back();
    LiveTask& dependent = job.tasks[d];
    if (IsTerminal(dependent.rec.state) || dependent.rec.state == v1::TASK_STATE_RUNNING) continue;
    dependent.rec.message = why;
    dependent.rec.failure_reason = v1::FAILURE_REASON_CANCELED;
    SetTaskState(job, d, v1::TASK_STATE_CANCELED);
    stack.insert(stack.end(), dependent.dependents.begin(), dependent.dependents.end());
  }
}

void JobTable::UpdateJobState(LiveJob& job) {
  if (FindSweep(job.rec.id) != nullptr) return;  // half swept: EndSweep recounts
  if (!job.rec.planned) return;                  // no tasks yet: nothing to count
  int64_t terminal = 0, failed = 0;
  for (const LiveStage& stage : job.stages) {
    terminal += stage.Count(v1::TASK_STATE_SUCCEEDED) + stage.Count(v1::TASK_STATE_FAILED) +
                stage.Count(v1::TASK_STATE_CANCELED);
    failed += stage.Count(v1::TASK_STATE_FAILED) + stage.Count(v1::TASK_STATE_CANCELED);
  }
  const v1::JobState old = job.rec.state;
  const bool all_done = terminal == static_cast<int64_t>(job.tasks.size());
  if (old == v1::JOB_STATE_CANCELED) {
    // stays canceled
  } else if (all_done) {
    job.rec.state = failed > 0 ? v1::JOB_STATE_FAILED : v1::JOB_STATE_SUCCEEDED;
    if (failed > 0)
      job.rec.message = absl::StrCat(failed, " of ", job.tasks.size(), " tasks did not succeed");
  } else if (IsEnded(old)) {
    job.rec.state = v1::JOB_STATE_ACTIVE;  // retried
    job.rec.message.clear();
    job.rec.end_ms = 0;
  }
  if (IsEnded(job.rec.state)) active_.erase(job.rec.id);
  if (job.rec.state == old) return;
  if (IsEnded(job.rec.state)) OnJobEnded(job);
  PersistJob(job);
}

void JobTable::StartJobIfReady(LiveJob& job) {
  if (job.unmet_jobs > 0 || job.rec.state == v1::JOB_STATE_PAUSED || IsEnded(job.rec.state) ||
      !job.rec.planned) {
    return;
  }
  job.rec.state = v1::JOB_STATE_ACTIVE;
  job.rec.message.clear();
  PersistJob(job);
  StartSweep(job, SweepKind::kActivate);
}

void JobTable::OnJobEnded(LiveJob& job) {
  job.rec.end_ms = NowMs();
  active_.erase(job.rec.id);
  spdlog::info("job {} '{}' {}", job.rec.id.value(), job.rec.spec.name(),
               v1::JobState_Name(job.rec.state));
  for (JobId dep_id : job.dependents) {
    LiveJob* dependent = Find(dep_id);
    if (dependent == nullptr || IsEnded(dependent->rec.state)) continue;
    if (job.rec.state == v1::JOB_STATE_SUCCEEDED) {
      if (--dependent->unmet_jobs == 0) StartJobIfReady(*dependent);
      continue;
    }
    const std::string why = absl::StrCat("dependency job ", job.rec.id.value(), " did not succeed");
    if (!dependent->rec.planned) {  // no tasks to cancel
      dependent->rec.state = v1::JOB_STATE_FAILED;
      dependent->rec.message = why;
      OnJobEnded(*dependent);
      PersistJob(*dependent);
      continue;
    }
    // The job message is the cause, not UpdateJobState's "N of M tasks" count.
    StartSweep(*dependent, SweepKind::kCancel, why, why);
  }
}

bool JobTable::ReleaseBackoffs(int64_t now_ms) {
  bool released = false;
  while (!backoff_.empty() && backoff_.begin()->first <= now_ms) {
    const TaskId id = backoff_.begin()->second;
    backoff_.erase(backoff_.begin());
    LiveJob* job = Find(id.job);
    if (job == nullptr) continue;
    LiveTask& task = job->tasks[id.index];
    if (task.rec.state == v1::TASK_STATE_QUEUED && task.rec.not_before_ms <= now_ms) {
      job->stages[task.rec.stage].queued.insert(id.index);
      released = true;
    }
  }
  return released;
}

void JobTable::RequeueRecovered(LiveJob& job, int32_t index, int64_t now_ms) {
  LiveTask& task = job.tasks[index];
  task.runnable_since_ms = now_ms;
  if (task.rec.not_before_ms > now_ms) {
    backoff_.emplace(task.rec.not_before_ms, task.rec.id);
  } else {
    job.stages[task.rec.stage].queued.insert(index);
  }
  active_.insert(job.rec.id);
}

absl::flat_hash_set<JobId> JobTable::TakeDirty() {
  absl::flat_hash_set<JobId> out;
  out.swap(dirty_);
  return out;
}

}  // namespace genfarm::scheduler
