#include "scheduler/core/task_lifecycle.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/enum_names.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler {

int64_t TaskLifecycle::TaskMemory(const LiveJob& job, int32_t stage) const {
  const v1::StageSpec& spec = job.rec.spec.stages(stage);
  if (spec.vram_bytes() > 0) return spec.vram_bytes();
  const v1::ModelInfo* model = p_.workers.FindModel(spec.model());
  return model == nullptr ? 0 : model->memory_bytes();
}

void TaskLifecycle::Start(LiveJob& job, int32_t index, const WorkerId& worker_id, int32_t device) {
  LiveWorker& worker = *p_.workers.Find(worker_id);
  LiveTask& task = job.tasks[index];
  const int64_t now = NowMs();
  const v1::StageSpec& stage = job.rec.spec.stages(task.rec.stage);
  p_.observer.OnDispatch(job.rec.spec.project(), (now - task.runnable_since_ms) / 1000.0);
  LiveAttempt attempt;
  attempt.task = task.rec.id;
  attempt.worker = worker_id;
  attempt.start_ms = now;
  attempt.deadline_ms = stage.timeout_seconds() > 0 ? now + stage.timeout_seconds() * 1000LL : 0;
  attempt.device = device;
  attempt.reserved_bytes = TaskMemory(job, task.rec.stage);
  const int64_t attempt_id = p_.attempts.Grant(attempt);
  task.rec.attempts++;
  task.rec.attempt = AttemptId(attempt_id);
  task.rec.worker = worker_id.value();
  task.rec.start_ms = now;
  task.rec.end_ms = 0;
  task.rec.frames_done = task.kept_frames;
  task.rec.message.clear();
  task.rec.failure_reason = v1::FAILURE_REASON_UNSPECIFIED;
  job.stages[task.rec.stage].last_start_ms = now;
  if (job.rec.start_ms == 0) {
    job.rec.start_ms = now;
    p_.jobs.PersistJob(job);
  }
  p_.jobs.SetTaskState(job, index, v1::TASK_STATE_RUNNING);
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
  worker.Send(message);
}

void TaskLifecycle::End(int64_t attempt_id) {
  if (p_.attempts.End(attempt_id)) p_.signals.dispatch_needed = true;
}

void TaskLifecycle::Succeed(int64_t attempt_id) {
  const LiveAttempt* attempt = p_.attempts.Find(attempt_id);
  if (attempt == nullptr) return;
  const TaskId task_id = attempt->task;
  const double run_seconds = (NowMs() - attempt->start_ms) / 1000.0;
  End(attempt_id);
  LiveJob* job = p_.jobs.Find(task_id.job);
  if (job == nullptr) return;
  LiveTask& task = job->tasks[task_id.index];
  task.rec.end_ms = NowMs();
  task.rec.frames_done = static_cast<int64_t>(task.rec.frames.size());
  task.rec.message.clear();
  task.rec.failure_reason = v1::FAILURE_REASON_UNSPECIFIED;
  const v1::StageSpec& stage = job->rec.spec.stages(task.rec.stage);
  p_.observer.OnAttemptEnded(job->rec.spec.project(), stage.model(), true,
                             static_cast<int64_t>(task.rec.frames.size()), run_seconds);
  p_.jobs.SetTaskState(*job, task_id.index, v1::TASK_STATE_SUCCEEDED);
  p_.jobs.ReleaseDependents(*job, task_id.index);
  p_.jobs.UpdateJobState(*job);
}

void TaskLifecycle::Blame(LiveJob& job, const WorkerId& worker) {
  BlocklistEntry& entry = job.blocklist[worker.value()];
  const absl::Duration keep_off = p_.blame.KeepOffFor(++entry.failures);
  if (keep_off > absl::ZeroDuration()) {
    entry.until_ms = NowMs() + absl::ToInt64Milliseconds(keep_off);
    spdlog::warn("worker {} kept off job {} after {} failures", worker.value(), job.rec.id.value(),
                 entry.failures);
  }
}

void TaskLifecycle::Fail(int64_t attempt_id, v1::FailureReason reason, const std::string& message) {
  const LiveAttempt* attempt = p_.attempts.Find(attempt_id);
  if (attempt == nullptr) return;
  const TaskId task_id = attempt->task;
  const WorkerId worker = attempt->worker;
  const double run_seconds = (NowMs() - attempt->start_ms) / 1000.0;
  End(attempt_id);
  LiveJob* job = p_.jobs.Find(task_id.job);
  if (job == nullptr) return;
  LiveTask& task = job->tasks[task_id.index];
  const v1::StageSpec& stage = job->rec.spec.stages(task.rec.stage);
  p_.observer.OnAttemptEnded(job->rec.spec.project(), stage.model(), false, 0, run_seconds);
  task.rec.failure_reason = reason;
  task.rec.message = message;
  task.rec.end_ms = NowMs();
  // Not the task's fault: the attempt is given back before the policy counts retries.
  if (!p_.retry.Charges(reason)) task.rec.attempts--;
  const RetryDecision decision = p_.retry.Decide(reason, task.rec.attempts, stage.retries());
  if (decision.charge && p_.blame.BlamesWorker(reason) && !worker.value().empty()) {
    Blame(*job, worker);
  }
  const std::string reason_name(FailureReasonName(reason));
  AppendLog(*job, task_id.index, AttemptId(attempt_id),
            absl::StrCat("attempt failed (", reason_name, "): ", message));
  if (job->rec.state == v1::JOB_STATE_CANCELED) {
    p_.jobs.SetTaskState(*job, task_id.index, v1::TASK_STATE_CANCELED);
  } else if (decision.retry) {
    task.rec.not_before_ms = NowMs() + absl::ToInt64Milliseconds(decision.delay);
    if (decision.delay <= absl::ZeroDuration()) task.rec.not_before_ms = 0;
    p_.observer.OnRequeue(reason_name);
    if (decision.charge) p_.observer.OnRetry(reason_name);
    p_.jobs.SetTaskState(*job, task_id.index, v1::TASK_STATE_QUEUED);
  } else {
    p_.jobs.SetTaskState(*job, task_id.index, v1::TASK_STATE_FAILED);
    p_.observer.OnTaskFailed(job->rec.spec.project(), stage.model(),
                             static_cast<int64_t>(task.rec.frames.size()));
    p_.jobs.CancelDownstream(*job, task_id.index);
  }
  p_.jobs.UpdateJobState(*job);
}

void TaskLifecycle::CancelOnWorker(int64_t attempt_id, v1::FailureReason reason) {
  const LiveAttempt* attempt = p_.attempts.Find(attempt_id);
  if (attempt == nullptr) return;
  const LiveWorker* worker = p_.workers.Find(attempt->worker);
  if (worker == nullptr) return;
  v1::SchedulerMessage message;
  message.mutable_cancel()->set_attempt_id(attempt_id);
  message.mutable_cancel()->set_reason(reason);
  worker->Send(message);
}

void TaskLifecycle::LoseWorker(const WorkerId& id, const std::string& why) {
  LiveWorker* worker = p_.workers.Find(id);
  if (worker == nullptr) return;
  const std::vector<int64_t> lost = p_.attempts.OfWorker(id);
  if (worker->channel) {
    worker->channel->Close();
    worker->channel.reset();
  }
  if (!lost.empty())
    spdlog::warn("worker {} lost ({}): requeueing {} attempts", id.value(), why, lost.size());
  p_.observer.OnWorkerLost(why);
  for (int64_t attempt : lost) {
    Fail(attempt, v1::FAILURE_REASON_WORKER_LOST,
         absl::StrCat("worker ", id.value(), " lost: ", why));
  }
  p_.signals.dispatch_needed = true;
}

void TaskLifecycle::AppendLog(LiveJob& job, int32_t index, AttemptId attempt,
                              const std::string& text) {
  p_.sink.AppendLog(LogRecord{TaskId{job.rec.id, index}, attempt, NowMs(), text});
  std::vector<std::string>& lines = job.tasks[index].log;
  if (static_cast<int>(lines.size()) >= p_.options.max_log_lines_per_task)
    lines.erase(lines.begin());
  lines.push_back(text);
}

}  // namespace genfarm::scheduler
