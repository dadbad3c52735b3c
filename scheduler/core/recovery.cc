#include "scheduler/core/recovery.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler {
namespace {

constexpr absl::string_view kQuarantined = "quarantined at recovery: ";

// A job whose stored spec no longer plans, whose stored tasks do not fit its plan, or
// whose rows the store could not read is kept, failed, with the reason, so the rest of
// the store is served and the user sees why. `persist`: false for rows the store could not
// read, which are left as they are (for whoever looks into them; every restart quarantines
// them again, with the same reason).
void Quarantine(JobTable& jobs, JobRecord rec, const std::string& why, bool persist) {
  spdlog::error("job {} quarantined at recovery: {}", rec.id.value(), why);
  JobPlan empty;
  empty.stage_frames.resize(rec.spec.stages_size());
  empty.windows.resize(rec.spec.stages_size());
  // Quarantined by an earlier start: keep the first reason (the spec it left may plan
  // differently, or not at all, without saying what went wrong first).
  const bool again =
      rec.state == v1::JOB_STATE_FAILED && absl::StartsWith(rec.message, kQuarantined);
  rec.state = v1::JOB_STATE_FAILED;
  if (!again) rec.message = absl::StrCat(kQuarantined, why);
  LiveJob& job = jobs.Insert(std::move(rec), std::move(empty));
  if (persist && !again) jobs.PersistJob(job);
}

// Skips the snapshot's tasks of jobs before `job` (tasks whose job row is gone) and of
// `job` itself when `self`; returns how many were skipped.
size_t SkipTasks(const StoreSnapshot& snapshot, size_t* next, JobId job, bool self) {
  size_t skipped = 0;
  for (size_t& t = *next; t < snapshot.tasks.size(); ++t, ++skipped) {
    const JobId of = snapshot.tasks[t].id.job;
    if (job < of || (of == job && !self)) break;
  }
  return skipped;
}

// Restores the stored task states of `job` (the snapshot's tasks are sorted by job, then
// index, starting at `*next`). Tasks the store lacks (a job torn by a crash before its
// submission was acknowledged, with a store from before atomic job commits) are rebuilt
// from the plan as waiting tasks and persisted.
absl::Status RestoreTasks(const StoreSnapshot& snapshot, size_t* next, LiveJob& job,
                          JobTable& jobs) {
  size_t& t = *next;
  std::vector<bool> stored(job.tasks.size(), false);
  absl::Status status;
  for (; t < snapshot.tasks.size() && snapshot.tasks[t].id.job == job.rec.id; ++t) {
    const TaskRecord& task_rec = snapshot.tasks[t];
    if (task_rec.id.index < 0 || static_cast<size_t>(task_rec.id.index) >= job.tasks.size()) {
      if (status.ok()) {
        status = absl::DataLossError(absl::StrCat("stored task ", task_rec.id.ToString(),
                                                  " does not fit the job's plan of ",
                                                  job.tasks.size(), " tasks"));
      }
      continue;
    }
    if (task_rec.stage != job.plan.tasks[task_rec.id.index].stage) {
      if (status.ok()) {
        status = absl::DataLossError(
            absl::StrCat("stored task ", task_rec.id.ToString(), " is of stage ", task_rec.stage,
                         ", its plan says stage ", job.plan.tasks[task_rec.id.index].stage));
      }
      continue;
    }
    job.tasks[task_rec.id.index].rec = task_rec;
    stored[task_rec.id.index] = true;
  }
  if (!status.ok()) return status;
  int64_t rebuilt = 0;
  for (size_t i = 0; i < job.tasks.size(); ++i) {
    if (stored[i]) continue;
    TaskRecord& rec = job.tasks[i].rec;
    rec.id = TaskId{job.rec.id, static_cast<int32_t>(i)};
    rec.stage = job.plan.tasks[i].stage;
    rec.frames = job.plan.tasks[i].frames;
    rec.state = v1::TASK_STATE_WAITING;
    jobs.PersistTask(job, static_cast<int32_t>(i));
    ++rebuilt;
  }
  if (rebuilt > 0) {
    spdlog::warn("job {}: {} of {} tasks were missing from the store; rebuilt from its plan",
                 job.rec.id.value(), rebuilt, job.tasks.size());
  }
  return absl::OkStatus();
}

// Leaves no task in a state nothing acts on: waiting tasks of a startable job and blocked
// tasks with every upstream frame written are made runnable, jobs whose dependency
// failed are canceled, and a job whose tasks all ended is ended.
void Unstrand(JobTable& jobs, LiveJob& job) {
  if (IsEnded(job.rec.state)) return;
  for (int64_t dep : job.rec.spec.depends_on_jobs()) {
    const LiveJob* upstream = jobs.Find(JobId(dep));
    if (upstream != nullptr && upstream->rec.state != v1::JOB_STATE_FAILED &&
        upstream->rec.state != v1::JOB_STATE_CANCELED) {
      continue;
    }
    const std::string why = upstream == nullptr
                                ? absl::StrCat("dependency job ", dep, " is not in the store")
                                : absl::StrCat("dependency job ", dep, " did not succeed");
    for (size_t i = 0; i < job.tasks.size(); ++i) {
      LiveTask& task = job.tasks[i];
      if (IsTerminal(task.rec.state) || task.rec.state == v1::TASK_STATE_RUNNING) continue;
      task.rec.message = why;
      task.rec.failure_reason = v1::FAILURE_REASON_CANCELED;
      jobs.SetTaskState(job, static_cast<int32_t>(i), v1::TASK_STATE_CANCELED);
    }
    jobs.UpdateJobState(job);
    job.rec.message = why;
    jobs.PersistJob(job);
    return;
  }
  if (job.rec.state == v1::JOB_STATE_WAITING && job.unmet_jobs == 0) {
    jobs.StartJobIfReady(job);  // its dependencies ended while the scheduler was down
  } else if (job.rec.state == v1::JOB_STATE_ACTIVE && job.unmet_jobs == 0) {
    for (size_t i = 0; i < job.tasks.size(); ++i) {
      const LiveTask& task = job.tasks[i];
      if (task.rec.state == v1::TASK_STATE_WAITING ||
          (task.rec.state == v1::TASK_STATE_BLOCKED && task.unmet_deps == 0)) {
        jobs.MakeRunnable(job, static_cast<int32_t>(i));
      }
    }
  }
  jobs.UpdateJobState(job);
}

}  // namespace

absl::Status RecoverTables(const StoreSnapshot& snapshot, int64_t now_ms, JobTable& jobs,
                           AttemptTable& attempts, WorkerRegistry& workers) {
  // Skip ahead whenever attempts were ever handed out: a store whose jobs were all deleted
  // (retention) may still have workers holding results of attempts it never persisted.
  attempts.RecoverHighWater(
      snapshot.attempt_high_water,
      /*skip_ahead=*/!snapshot.jobs.empty() || snapshot.attempt_high_water > 0);
  // Insert() raises the next id past every stored job; this covers deleted ones.
  jobs.RecoverJobHighWater(snapshot.job_high_water);
  // An operator's drain outlives the scheduler: the worker comes back drained.
  for (const WorkerRecord& rec : snapshot.workers) {
    if (rec.draining) workers.Upsert(rec.id).draining = true;
  }
  size_t next_task = 0;
  int quarantined = 0;
  for (const JobRecord& rec : snapshot.jobs) {
    if (size_t orphans = SkipTasks(snapshot, &next_task, rec.id, /*self=*/false); orphans > 0) {
      spdlog::warn("store holds {} tasks of jobs it has no job row for (before job {}); skipped",
                   orphans, rec.id.value());
    }
    if (auto damaged = snapshot.damaged.find(rec.id); damaged != snapshot.damaged.end()) {
      SkipTasks(snapshot, &next_task, rec.id, /*self=*/true);
      Quarantine(jobs, rec, damaged->second, /*persist=*/false);
      ++quarantined;
      continue;
    }
    // Plans come from the stored spec alone (its windows were recorded at submit), never
    // from which workers happen to be connected.
    auto plan = PlanJob(rec.spec, [](const std::string&) { return TemporalWindow{}; });
    if (!plan.ok()) {
      SkipTasks(snapshot, &next_task, rec.id, /*self=*/true);
      Quarantine(jobs, rec, absl::StrCat("stored spec no longer plans: ", plan.status().message()),
                 /*persist=*/true);
      ++quarantined;
      continue;
    }
    LiveJob& job = jobs.Insert(rec, *std::move(plan));
    if (absl::Status s = RestoreTasks(snapshot, &next_task, job, jobs); !s.ok()) {
      jobs.Erase(rec.id);
      Quarantine(jobs, rec, std::string(s.message()), /*persist=*/true);
      ++quarantined;
      continue;
    }
    jobs.AddTaskCount(static_cast<int64_t>(job.tasks.size()));
  }
  for (const auto& [id, const_job] : jobs.jobs()) {
    LiveJob& job = *jobs.Find(id);
    if (!IsEnded(job.rec.state)) jobs.LinkJobDependencies(job);
    for (size_t i = 0; i < job.tasks.size(); ++i) {
      LiveTask& task = job.tasks[i];
      for (int32_t dep : task.deps)
        task.unmet_deps += job.tasks[dep].rec.state != v1::TASK_STATE_SUCCEEDED;
      const v1::TaskState state = task.rec.state;
      LiveStage& stage = job.stages[task.rec.stage];
      stage.count[state]++;
      if (state == v1::TASK_STATE_SUCCEEDED)
        stage.frames_done += static_cast<int64_t>(task.rec.frames.size());
      if (state == v1::TASK_STATE_QUEUED) {
        jobs.RequeueRecovered(job, static_cast<int32_t>(i), now_ms);
      } else if (state == v1::TASK_STATE_RUNNING) {
        // Held for the worker to reclaim on reconnect. The per-attempt timeout still
        // counts from the attempt's start.
        const int32_t timeout = job.rec.spec.stages(task.rec.stage).timeout_seconds();
        LiveAttempt attempt;
        attempt.task = task.rec.id;
        attempt.worker = WorkerId(task.rec.worker);
        attempt.start_ms = task.rec.start_ms;
        attempt.deadline_ms = timeout > 0 ? task.rec.start_ms + timeout * 1000LL : 0;
        attempts.Restore(task.rec.attempt.value(), attempt);
        workers.Upsert(attempt.worker).last_seen_ms = now_ms;
        jobs.MarkActive(id);
      }
    }
  }
  for (const auto& [id, const_job] : jobs.jobs()) Unstrand(jobs, *jobs.Find(id));
  spdlog::info(
      "recovered {} jobs ({} quarantined), {} tasks, {} running attempts awaiting their workers",
      jobs.jobs().size(), quarantined, jobs.task_count(), attempts.size());
  return absl::OkStatus();
}

}  // namespace genfarm::scheduler
