#include "worker/daemon/task_executor.h"

#include <exception>
#include <new>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/enum_names.h"
#include "common/frame_set.h"
#include "spdlog/spdlog.h"
#include "worker/frames/frame_io.h"

namespace genfarm::worker {

v1::FailureReason ReasonForStatus(const absl::Status& status) {
  // The adapter that knew better (frame_io's output faults) said so.
  if (absl::optional<absl::Cord> named = status.GetPayload(kFailureReasonPayload)) {
    if (std::optional<v1::FailureReason> reason = ParseFailureReason(std::string(*named))) {
      return *reason;
    }
  }
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return v1::FAILURE_REASON_INPUT_MISSING;
    case absl::StatusCode::kDataLoss:
      return v1::FAILURE_REASON_INPUT_CORRUPT;
    case absl::StatusCode::kResourceExhausted:
      return v1::FAILURE_REASON_OUT_OF_MEMORY;
    case absl::StatusCode::kCancelled:
      return v1::FAILURE_REASON_CANCELED;
    case absl::StatusCode::kFailedPrecondition:
      return v1::FAILURE_REASON_MODEL_UNAVAILABLE;
    case absl::StatusCode::kPermissionDenied:
      return v1::FAILURE_REASON_OUTPUT_WRITE;
    case absl::StatusCode::kInvalidArgument:
      return v1::FAILURE_REASON_BAD_SPEC;
    case absl::StatusCode::kAborted:  // the lease fence refused a rename (lease_table.h)
      return v1::FAILURE_REASON_WORKER_LOST;
    default:
      return v1::FAILURE_REASON_MODEL_ERROR;
  }
}

TaskOutcome RunCatching(TaskRunner& runner, const TaskContext& context) {
  // The last line of defence: an exception out of a task (std::bad_alloc while reading or
  // converting a huge frame in the pipeline, a library throwing where it should not) fails
  // that attempt. Uncaught, it would end the worker and every other attempt running on it.
  TaskOutcome outcome;
  try {
    return runner.Run(context);
  } catch (const std::bad_alloc&) {
    outcome.status = absl::ResourceExhaustedError("out of memory (std::bad_alloc)");
    outcome.reason = v1::FAILURE_REASON_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    outcome.status = absl::InternalError(absl::StrCat("the task threw: ", e.what()));
    outcome.reason = v1::FAILURE_REASON_MODEL_ERROR;
  } catch (...) {
    outcome.status = absl::InternalError("the task threw a non-standard exception");
    outcome.reason = v1::FAILURE_REASON_MODEL_ERROR;
  }
  return outcome;
}

TaskExecutor::TaskExecutor(RunnerFor runner_for, Send send, const Clock& clock, LeaseTable* lease)
    : runner_for_(std::move(runner_for)), send_(std::move(send)), clock_(clock), lease_(lease) {}

void TaskExecutor::Lose(int64_t attempt, const std::string& why) {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(attempt);
  if (it == running_.end()) return;
  it->second.cancel_reason = v1::FAILURE_REASON_WORKER_LOST;
  it->second.lost_why = why;
  it->second.cancel->Cancel();
  spdlog::warn("attempt {}: stopped, {}", attempt, why);
}

TaskExecutor::~TaskExecutor() { Drain(absl::ZeroDuration()); }

void TaskExecutor::Handle(const v1::SchedulerMessage& message) {
  switch (message.body_case()) {
    case v1::SchedulerMessage::kAssign:
      Start(message.assign());
      break;
    case v1::SchedulerMessage::kCancel: {
      // No output of a cancelled attempt may land after this, not even one being written.
      if (lease_ != nullptr) {
        lease_->Revoke(message.cancel().attempt_id(),
                       absl::StrCat("cancelled by the scheduler (",
                                    FailureReasonName(message.cancel().reason()), ")"));
      }
      absl::MutexLock lock(&mu_);
      auto it = running_.find(message.cancel().attempt_id());
      if (it != running_.end()) {
        // Already lost (its lease ran out): that is what happened first, and what it reports.
        if (it->second.lost_why.empty()) it->second.cancel_reason = message.cancel().reason();
        it->second.cancel->Cancel();
        spdlog::info("attempt {}: cancel requested ({})", it->first,
                     std::string(FailureReasonName(message.cancel().reason())));
      }
      break;
    }
    case v1::SchedulerMessage::kDrain: {
      absl::MutexLock lock(&mu_);
      draining_ = message.drain().drain();
      spdlog::info("scheduler asked to {}", draining_ ? "drain" : "undrain");
      break;
    }
    default:
      break;
  }
}

void TaskExecutor::Start(const v1::Assignment& assignment) {
  absl::MutexLock lock(&mu_);
  ReapFinished();
  if (draining_ || shutting_down_ || running_.count(assignment.attempt_id())) {
    v1::WorkerMessage message;
    v1::Result* r = message.mutable_result();
    r->set_attempt_id(assignment.attempt_id());
    r->set_job_id(assignment.job_id());
    r->set_task_index(assignment.task_index());
    r->set_success(false);
    r->set_failure_reason(v1::FAILURE_REASON_CANCELED);
    r->set_message("worker is draining");
    spdlog::info("attempt {}: refused, worker is draining (job {} task {})",
                 assignment.attempt_id(), assignment.job_id(), assignment.task_index());
    send_(message);
    return;
  }
  if (lease_ != nullptr) lease_->Add(assignment.attempt_id());
  auto cancel = std::make_shared<CancelToken>();
  RunningAttempt& run = running_[assignment.attempt_id()];
  run.cancel = cancel;
  run.thread = std::thread([this, assignment, cancel] { RunAttempt(assignment, cancel); });
}

void TaskExecutor::RunAttempt(v1::Assignment assignment, std::shared_ptr<CancelToken> cancel) {
  const int64_t attempt = assignment.attempt_id();
  spdlog::info("attempt {}: job {} task {} stage '{}' frames {}", attempt, assignment.job_id(),
               assignment.task_index(), assignment.stage().name(),
               FrameSet::Format(assignment.frames()));
  TaskContext context;
  context.assignment = &assignment;
  context.cancel = cancel.get();
  std::vector<std::string> pending_logs;
  absl::Mutex log_mu;
  context.log = [&](const std::string& line) {
    absl::MutexLock lock(&log_mu);
    pending_logs.push_back(line);
  };
  context.progress = [&](int64_t done, int64_t last) {
    v1::WorkerMessage message;
    v1::Progress* p = message.mutable_progress();
    p->set_attempt_id(attempt);
    p->set_job_id(assignment.job_id());
    p->set_task_index(assignment.task_index());
    p->set_frames_done(done);
    p->set_last_frame(last);
    {
      absl::MutexLock lock(&log_mu);
      for (std::string& line : pending_logs) p->add_log_lines(std::move(line));
      pending_logs.clear();
    }
    send_(message);
  };
  if (lease_ != nullptr) {
    context.before_rename = [this, attempt] { return lease_->CheckBeforeRename(attempt); };
  }
  TaskOutcome outcome = RunCatching(runner_for_(assignment), context);
  if (lease_ != nullptr) lease_->Remove(attempt);

  v1::WorkerMessage message;
  v1::Result* r = message.mutable_result();
  r->set_attempt_id(attempt);
  r->set_job_id(assignment.job_id());
  r->set_task_index(assignment.task_index());
  r->set_success(outcome.status.ok());
  r->mutable_frames_done()->Add(outcome.frames_written.begin(), outcome.frames_written.end());
  r->set_load_seconds(outcome.load_seconds);
  r->set_run_seconds(outcome.run_seconds);
  {
    absl::MutexLock lock(&log_mu);
    for (std::string& line : pending_logs) r->add_log_lines(std::move(line));
  }
  if (!outcome.status.ok()) {
    v1::FailureReason reason = outcome.reason != v1::FAILURE_REASON_UNSPECIFIED
                                   ? outcome.reason
                                   : ReasonForStatus(outcome.status);
    std::string text(outcome.status.message());
    if (cancel->cancelled()) {
      absl::MutexLock lock(&mu_);
      auto it = running_.find(attempt);
      if (it != running_.end()) {
        reason = it->second.cancel_reason;
        if (!it->second.lost_why.empty()) text = absl::StrCat(text, " (", it->second.lost_why, ")");
      }
    }
    r->set_failure_reason(reason);
    r->set_message(text);
    r->add_log_lines(
        absl::StrCat("attempt ", attempt, " failed (", FailureReasonName(reason), "): ", text));
    spdlog::warn("attempt {} failed ({}): {}", attempt, std::string(FailureReasonName(reason)),
                 text);
    if (on_failure_) on_failure_(reason);
  } else {
    r->add_log_lines(absl::StrCat("attempt ", attempt,
                                  " succeeded: ", outcome.frames_written.size(), " frames in ",
                                  absl::StrFormat("%.2f", outcome.run_seconds), " s"));
    spdlog::info("attempt {} succeeded: {} frames in {:.2f} s", attempt,
                 outcome.frames_written.size(), outcome.run_seconds);
    // Frame preview for the scheduler's dashboard (it never reads frame files itself).
    if (!outcome.thumbnail.jpeg().empty()) *r->mutable_thumbnail() = std::move(outcome.thumbnail);
  }
  send_(message);
  absl::MutexLock lock(&mu_);
  auto it = running_.find(attempt);
  if (it != running_.end()) {
    finished_.push_back(std::move(it->second.thread));
    running_.erase(it);
  }
}

void TaskExecutor::ReapFinished() {
  for (std::thread& t : finished_) {
    if (t.get_id() != std::this_thread::get_id()) t.join();
  }
  finished_.clear();
}

std::vector<int64_t> TaskExecutor::Running() const {
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> out;
  for (const auto& [attempt, run] : running_) out.push_back(attempt);
  return out;
}

bool TaskExecutor::draining() const {
  absl::MutexLock lock(&mu_);
  return draining_ || shutting_down_;
}

int TaskExecutor::busy() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(running_.size());
}

bool TaskExecutor::Drain(absl::Duration grace) {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;  // unlike the scheduler's drain, an undrain cannot lift this
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return running_.empty(); };
  bool clean = true;
  if (grace == absl::InfiniteDuration()) {
    mu_.Await(absl::Condition(&idle));
  } else {
    clean = clock_.AwaitUntil(&mu_, absl::Condition(&idle), clock_.Now() + grace);
  }
  if (!clean) {
    spdlog::warn("drain: cancelling {} attempts still running", running_.size());
    for (auto& [attempt, run] : running_) run.cancel->Cancel();
    mu_.Await(absl::Condition(&idle));
  }
  ReapFinished();
  return clean;
}

}  // namespace genfarm::worker
