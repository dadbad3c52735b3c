// JobTable's sweeps (job_table.h): changes to every task of a job, made a slice at a time so
// that no turn of the core thread visits more than sweep_slice() tasks of one job.
#include <algorithm>
#include <utility>

#include "scheduler/core/job_table.h"

namespace genfarm::scheduler {

const Sweep* JobTable::FindSweep(JobId id) const {
  for (const Sweep& sweep : sweeps_) {
    if (sweep.job == id) return &sweep;
  }
  return nullptr;
}

void JobTable::StartSweep(LiveJob& job, SweepKind kind, std::string task_message,
                          std::string job_message) {
  Sweep sweep{job.rec.id, kind, 0, std::move(task_message), std::move(job_message)};
  // One sweep per job: the new one covers what the old one had left (see job_table.h).
  sweeps_.erase(std::remove_if(sweeps_.begin(), sweeps_.end(),
                               [&](const Sweep& s) { return s.job == sweep.job; }),
                sweeps_.end());
  if (kind == SweepKind::kRetry) job.blocklist.clear();
  if (RunSweepSlice(sweep, sweep_slice_)) {
    EndSweep(sweep);
    return;
  }
  sweeps_.push_back(std::move(sweep));
}

bool JobTable::RunSweeps(int64_t budget) {
  while (budget > 0 && !sweeps_.empty()) {
    Sweep sweep = std::move(sweeps_.front());
    sweeps_.pop_front();
    const int32_t from = sweep.next;
    const bool done = RunSweepSlice(sweep, budget);
    budget -= std::max<int64_t>(1, sweep.next - from);
    if (done) {
      EndSweep(sweep);  // may start sweeps of dependent jobs; they queue behind
    } else {
      sweeps_.push_back(std::move(sweep));
    }
  }
  return !sweeps_.empty();
}

bool JobTable::RunSweepSlice(Sweep& sweep, int64_t budget) {
  LiveJob* job = Find(sweep.job);
  if (job == nullptr) return true;
  const int32_t end = static_cast<int32_t>(
      std::min<int64_t>(static_cast<int64_t>(job->tasks.size()), sweep.next + budget));
  for (; sweep.next < end; ++sweep.next) {
    const int32_t i = sweep.next;
    LiveTask& task = job->tasks[i];
    const v1::TaskState state = task.rec.state;
    switch (sweep.kind) {
      case SweepKind::kCancel:
        if (IsTerminal(state) || state == v1::TASK_STATE_RUNNING) break;
        task.rec.message = sweep.task_message;
        task.rec.failure_reason = v1::FAILURE_REASON_CANCELED;
        SetTaskState(*job, i, v1::TASK_STATE_CANCELED);
        break;
      case SweepKind::kRetry:
        if (state == v1::TASK_STATE_FAILED || state == v1::TASK_STATE_CANCELED) {
          TaskRecord& rec = task.rec;
          rec.attempts = 0;
          rec.not_before_ms = 0;
          rec.failure_reason = v1::FAILURE_REASON_UNSPECIFIED;
          rec.message.clear();
          SetTaskState(*job, i, v1::TASK_STATE_WAITING);
          task.unmet_deps = 0;
          for (int32_t dep : task.deps)
            task.unmet_deps += job->tasks[dep].rec.state != v1::TASK_STATE_SUCCEEDED;
        }
        [[fallthrough]];
      case SweepKind::kActivate:
        // A job paused (or ended) half way keeps its other tasks waiting; resuming sweeps again.
        if (job->rec.state != v1::JOB_STATE_ACTIVE) break;
        if (task.rec.state == v1::TASK_STATE_WAITING) MakeRunnable(*job, i, /*persist=*/false);
        break;
    }
  }
  return sweep.next >= static_cast<int32_t>(job->tasks.size());
}

void JobTable::EndSweep(const Sweep& sweep) {
  LiveJob* job = Find(sweep.job);
  if (job == nullptr) return;
  UpdateJobState(*job);
  if (!sweep.job_message.empty()) {
    job->rec.message = sweep.job_message;
    PersistJob(*job);
  }
  dirty_.insert(sweep.job);
}

}  // namespace genfarm::scheduler
