#include "scheduler/core/recovery.h"

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler {
namespace {

// Restores the stored task states of `job` (the snapshot's tasks are sorted by job, then
// index, starting at `*next`).
absl::Status RestoreTasks(const StoreSnapshot& snapshot, size_t* next, LiveJob& job) {
  size_t n = 0;
  size_t& t = *next;
  for (; t < snapshot.tasks.size() && snapshot.tasks[t].id.job == job.rec.id; ++t, ++n) {
    const TaskRecord& task_rec = snapshot.tasks[t];
    if (task_rec.id.index < 0 || static_cast<size_t>(task_rec.id.index) >= job.tasks.size()) {
      return absl::DataLossError(absl::StrCat("task ", task_rec.id.ToString(),
                                              " does not fit job ", job.rec.id.value(),
                                              "'s plan"));
    }
    job.tasks[task_rec.id.index].rec = task_rec;
  }
  if (n != job.tasks.size()) {
    return absl::DataLossError(absl::StrCat("job ", job.rec.id.value(), " has ", n,
                                            " stored tasks, its plan ", job.tasks.size()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RecoverTables(const StoreSnapshot& snapshot, int64_t now_ms, JobTable& jobs,
                           AttemptTable& attempts, WorkerRegistry& workers) {
  attempts.RecoverHighWater(snapshot.attempt_high_water, /*skip_ahead=*/!snapshot.jobs.empty());
  size_t next_task = 0;
  for (const JobRecord& rec : snapshot.jobs) {
    auto plan =
        PlanJob(rec.spec, [&workers](const std::string& m) { return workers.ModelWindow(m); });
    if (!plan.ok()) {
      return absl::DataLossError(absl::StrCat(
          "job ", rec.id.value(), ": stored spec no longer plans: ", plan.status().message()));
    }
    LiveJob& job = jobs.Insert(rec, *std::move(plan));
    if (absl::Status s = RestoreTasks(snapshot, &next_task, job); !s.ok()) return s;
    jobs.AddTaskCount(static_cast<int64_t>(job.tasks.size()));
  }
  for (const auto& [id, const_job] : jobs.jobs()) {
    LiveJob& job = *jobs.Find(id);
    jobs.LinkJobDependencies(job);
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
  spdlog::info("recovered {} jobs, {} tasks, {} running attempts awaiting their workers",
               jobs.jobs().size(), jobs.task_count(), attempts.size());
  return absl::OkStatus();
}

}  // namespace genfarm::scheduler
