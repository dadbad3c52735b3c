#include "scheduler/core/worker_events.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/field_text.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler {
namespace {

absl::Status FieldError(absl::string_view path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", why));
}

absl::Status CheckBetween(absl::string_view path, int64_t value, int64_t min, int64_t max) {
  if (value >= min && value <= max) return absl::OkStatus();
  return FieldError(path, absl::StrCat("must be between ", min, " and ", max, ", got ", value));
}

absl::Status CheckDevices(absl::string_view path,
                          const google::protobuf::RepeatedPtrField<v1::Device>& devices) {
  GENFARM_RETURN_IF_ERROR(CheckCount(path, devices.size(), kMaxWorkerDevices));
  for (int i = 0; i < devices.size(); ++i) {
    const v1::Device& d = devices[i];
    const std::string p = absl::StrCat(path, "[", i, "]");
    GENFARM_RETURN_IF_ERROR(CheckText(p + ".name", d.name(), kMaxWorkerTextLength));
    GENFARM_RETURN_IF_ERROR(CheckIdentifier(p + ".kind", d.kind(), kMaxWorkerTextLength, false));
    GENFARM_RETURN_IF_ERROR(CheckBetween(p + ".index", d.index(), -1, kMaxWorkerDevices - 1));
    GENFARM_RETURN_IF_ERROR(
        CheckBetween(p + ".memory_total_bytes", d.memory_total_bytes(), 0, INT64_MAX));
    GENFARM_RETURN_IF_ERROR(
        CheckBetween(p + ".memory_used_bytes", d.memory_used_bytes(), 0, INT64_MAX));
  }
  return absl::OkStatus();
}

absl::Status CheckAttemptIds(absl::string_view path,
                             const google::protobuf::RepeatedField<int64_t>& ids) {
  GENFARM_RETURN_IF_ERROR(CheckCount(path, ids.size(), kMaxReportedAttempts));
  for (int i = 0; i < ids.size(); ++i) {
    GENFARM_RETURN_IF_ERROR(CheckBetween(absl::StrCat(path, "[", i, "]"), ids[i], 1, INT64_MAX));
  }
  return absl::OkStatus();
}

absl::Status CheckNames(absl::string_view path,
                        const google::protobuf::RepeatedPtrField<std::string>& names,
                        int max_count) {
  GENFARM_RETURN_IF_ERROR(CheckCount(path, names.size(), max_count));
  for (int i = 0; i < names.size(); ++i) {
    GENFARM_RETURN_IF_ERROR(CheckIdentifier(absl::StrCat(path, "[", i, "]"), names[i],
                                            kMaxWorkerIdLength, /*required=*/true));
  }
  return absl::OkStatus();
}

// `text` cut to at most `max_bytes` at a UTF-8 character boundary.
std::string Truncated(const std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(text.substr(0, cut), "... [", text.size() - cut, " bytes cut]");
}

// Lease fencing (docs/fencing.md): answers a hello or heartbeat with the attempts we hold for
// the worker, so it renames outputs only while we cannot have declared them lost.
void SendLeaseRenewal(LiveWorker& worker, int64_t seq, absl::Duration ttl,
                      std::vector<int64_t> attempts) {
  v1::SchedulerMessage message;
  message.mutable_lease()->set_lease_seq(seq);
  message.mutable_lease()->set_lease_ms(absl::ToInt64Milliseconds(ttl));
  message.mutable_lease()->mutable_attempts()->Add(attempts.begin(), attempts.end());
  worker.Send(message);
}

}  // namespace

absl::Status ValidateHello(const v1::Hello& hello) {
  GENFARM_RETURN_IF_ERROR(
      CheckIdentifier("hello.worker_id", hello.worker_id(), kMaxWorkerIdLength, true));
  GENFARM_RETURN_IF_ERROR(
      CheckIdentifier("hello.hostname", hello.hostname(), kMaxHostnameLength, false));
  GENFARM_RETURN_IF_ERROR(CheckBetween("hello.slots", hello.slots(), 0, kMaxWorkerSlots));
  GENFARM_RETURN_IF_ERROR(CheckDevices("hello.devices", hello.devices()));
  GENFARM_RETURN_IF_ERROR(CheckNames("hello.tags", hello.tags(), kMaxWorkerTags));
  GENFARM_RETURN_IF_ERROR(CheckCount("hello.models", hello.models_size(), kMaxWorkerModels));
  for (int i = 0; i < hello.models_size(); ++i) {
    const v1::ModelInfo& m = hello.models(i);
    const std::string p = absl::StrCat("hello.models[", i, "]");
    GENFARM_RETURN_IF_ERROR(CheckIdentifier(p + ".name", m.name(), kMaxWorkerIdLength, true));
    GENFARM_RETURN_IF_ERROR(CheckText(p + ".version", m.version(), kMaxWorkerTextLength));
    GENFARM_RETURN_IF_ERROR(CheckText(p + ".sha256", m.sha256(), kMaxWorkerTextLength));
    GENFARM_RETURN_IF_ERROR(CheckText(p + ".kind", m.kind(), kMaxWorkerTextLength));
    GENFARM_RETURN_IF_ERROR(CheckBetween(p + ".scale", m.scale(), 0, 64));
    GENFARM_RETURN_IF_ERROR(
        CheckBetween(p + ".window_before", m.window_before(), 0, kMaxWorkerModelWindow));
    GENFARM_RETURN_IF_ERROR(
        CheckBetween(p + ".window_after", m.window_after(), 0, kMaxWorkerModelWindow));
    GENFARM_RETURN_IF_ERROR(CheckBetween(p + ".memory_bytes", m.memory_bytes(), 0, INT64_MAX));
    GENFARM_RETURN_IF_ERROR(CheckBetween(p + ".batch_size", m.batch_size(), 0, 4096));
  }
  GENFARM_RETURN_IF_ERROR(CheckAttemptIds("hello.running_attempts", hello.running_attempts()));
  GENFARM_RETURN_IF_ERROR(
      CheckText("hello.http_address", hello.http_address(), kMaxWorkerTextLength));
  return CheckText("hello.version", hello.version(), kMaxWorkerTextLength);
}

absl::Status ValidateWorkerMessage(const v1::WorkerMessage& message) {
  switch (message.body_case()) {
    case v1::WorkerMessage::kHello:
      return ValidateHello(message.hello());
    case v1::WorkerMessage::kHeartbeat: {
      const v1::Heartbeat& hb = message.heartbeat();
      GENFARM_RETURN_IF_ERROR(CheckAttemptIds("heartbeat.running_attempts", hb.running_attempts()));
      GENFARM_RETURN_IF_ERROR(CheckDevices("heartbeat.devices", hb.devices()));
      return CheckNames("heartbeat.loaded_models", hb.loaded_models(), kMaxWorkerModels);
    }
    case v1::WorkerMessage::kProgress:
      return CheckBetween("progress.attempt_id", message.progress().attempt_id(), 1, INT64_MAX);
    case v1::WorkerMessage::kResult: {
      const v1::Result& r = message.result();
      GENFARM_RETURN_IF_ERROR(CheckBetween("result.attempt_id", r.attempt_id(), 1, INT64_MAX));
      GENFARM_RETURN_IF_ERROR(
          CheckCount("result.frames_done", r.frames_done_size(), kMaxReportedFrames));
      if (!v1::FailureReason_IsValid(r.failure_reason())) {
        return FieldError("result.failure_reason",
                          absl::StrCat("unknown failure reason ", r.failure_reason()));
      }
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();  // nothing, or a newer worker's message: ignored
  }
}

WorkerEvents::WorkerEvents(Parts parts) : p_(parts), observer_(null_observer_) {}

void WorkerEvents::Ignored(const char* kind, const char* reason) {
  observer_.OnWorkerMessageIgnored(kind, reason);
}

LiveWorker* WorkerEvents::FromStream(const WorkerId& id, const WorkerChannel* stream) {
  LiveWorker* worker = p_.workers.Find(id);
  if (worker == nullptr || (stream != nullptr && worker->channel.get() != stream)) return nullptr;
  return worker;
}

void WorkerEvents::AppendLogLines(LiveJob& job, int32_t index, AttemptId attempt,
                                  const google::protobuf::RepeatedPtrField<std::string>& lines) {
  const int kept = std::min(lines.size(), kMaxLogLinesPerMessage);
  bool cut = kept < lines.size();
  for (int i = 0; i < kept; ++i) {
    if (lines[i].size() > static_cast<size_t>(kMaxLogLineBytes)) cut = true;
    p_.lifecycle.AppendLog(job, index, attempt, Truncated(lines[i], kMaxLogLineBytes));
  }
  if (kept < lines.size()) {
    p_.lifecycle.AppendLog(job, index, attempt,
                           absl::StrCat("[", lines.size() - kept, " more lines dropped: at most ",
                                        kMaxLogLinesPerMessage, " per message]"));
  }
  if (cut) Ignored("log", "truncated");
}

absl::Status WorkerEvents::Hello(const v1::Hello& hello, std::shared_ptr<WorkerChannel> channel) {
  GENFARM_RETURN_IF_ERROR(ValidateHello(hello));
  const WorkerId id(hello.worker_id());
  if (const LiveWorker* known = p_.workers.Find(id); known != nullptr && known->channel) {
    if (known->channel == channel) {
      return absl::FailedPreconditionError(absl::StrCat(
          "hello: this stream already said hello as '", id.value(), "'; reconnect to start over"));
    }
    if (known->hello.hostname() != hello.hostname()) {
      spdlog::warn("refusing a second worker '{}' from host '{}': it is connected from '{}'",
                   id.value(), hello.hostname(), known->hello.hostname());
      return absl::AlreadyExistsError(absl::StrCat(
          "hello.worker_id: worker '", id.value(), "' is already connected from host '",
          known->hello.hostname(), "' (this hello is from '", hello.hostname(),
          "'); give each worker its own id (genfarm-worker --id)"));
    }
  }
  LiveWorker& worker = p_.workers.Upsert(id);
  if (worker.channel && worker.channel != channel) {
    // The same machine again: its old stream is dead or dying (a reboot, a network cut
    // the old TCP connection has not noticed yet). The newer stream wins.
    spdlog::warn("worker {} connected again from {}: closing its previous stream", id.value(),
                 hello.hostname());
    worker.channel->CloseWithReason(absl::AbortedError(
        absl::StrCat("hello.worker_id: worker '", id.value(),
                     "' connected again on a newer stream, which replaces this one")));
  }
  // Attempts we think it runs but it no longer claims are lost; attempts it claims that
  // we do not know (or gave to someone else since) must stop.
  const absl::flat_hash_set<int64_t> claimed(hello.running_attempts().begin(),
                                             hello.running_attempts().end());
  for (int64_t a : p_.attempts.OfWorker(id)) {
    if (!claimed.contains(a)) {
      p_.lifecycle.Fail(a, v1::FAILURE_REASON_WORKER_LOST,
                        absl::StrCat("worker ", id.value(), " restarted"));
    }
  }
  p_.workers.Learn(hello, worker);
  worker.shutting_down = false;  // a new process, or one that will say so again
  worker.channel = std::move(channel);
  worker.last_seen_ms = NowMs();
  v1::SchedulerMessage welcome;
  welcome.mutable_welcome()->set_worker_id(id.value());
  welcome.mutable_welcome()->set_heartbeat_interval_ms(
      static_cast<int32_t>(absl::ToInt64Milliseconds(p_.options.heartbeat_interval)));
  welcome.mutable_welcome()->set_lease_ms(absl::ToInt64Milliseconds(p_.options.lease_ttl));
  worker.Send(welcome);
  for (int64_t a : claimed) {
    const LiveAttempt* attempt = p_.attempts.Find(a);
    if (attempt == nullptr || attempt->worker != id) {
      v1::SchedulerMessage cancel;
      cancel.mutable_cancel()->set_attempt_id(a);
      cancel.mutable_cancel()->set_reason(v1::FAILURE_REASON_CANCELED);
      worker.Send(cancel);
    }
  }
  if (worker.draining) {
    v1::SchedulerMessage drain;
    drain.mutable_drain()->set_drain(true);
    worker.Send(drain);
  }
  SendLeaseRenewal(worker, hello.lease_seq(), p_.options.lease_ttl, p_.attempts.OfWorker(id));
  spdlog::info("worker {} online: {} slots, {} devices, {} models", id.value(), hello.slots(),
               hello.devices_size(), hello.models_size());
  p_.signals.dispatch_needed = true;
  return absl::OkStatus();
}

void WorkerEvents::Gone(const WorkerId& id, const WorkerChannel* channel) {
  const LiveWorker* worker = p_.workers.Find(id);
  if (worker == nullptr || worker->channel.get() != channel) return;  // already replaced
  p_.lifecycle.LoseWorker(id, "stream closed");
}

void WorkerEvents::Heartbeat(const WorkerId& id, const v1::Heartbeat& heartbeat,
                             const WorkerChannel* stream) {
  LiveWorker* worker = FromStream(id, stream);
  if (worker == nullptr || !worker->online()) {
    if (stream != nullptr) Ignored("heartbeat", "not_current_stream");
    return;
  }
  const int64_t now = NowMs();
  worker->last_seen_ms = now;
  if (heartbeat.devices_size() > 0)
    worker->devices.assign(heartbeat.devices().begin(), heartbeat.devices().end());
  worker->loaded = absl::flat_hash_set<std::string>(heartbeat.loaded_models().begin(),
                                                    heartbeat.loaded_models().end());
  // An attempt the worker does not report long after it was assigned never reached it
  // (or died silently): requeue it rather than wait forever. Results travel on the same
  // ordered stream before the heartbeat that omits them, so a finished attempt is never
  // mistaken for a lost one; the lease-long grace covers assignments still in flight.
  const absl::flat_hash_set<int64_t> reported(heartbeat.running_attempts().begin(),
                                              heartbeat.running_attempts().end());
  const int64_t grace_ms = absl::ToInt64Milliseconds(p_.options.lease_ttl);
  std::vector<int64_t> vanished;
  for (int64_t a : p_.attempts.OfWorker(id)) {
    if (!reported.contains(a) && now - p_.attempts.Find(a)->start_ms > grace_ms) {
      vanished.push_back(a);
    }
  }
  for (int64_t a : vanished) {
    p_.lifecycle.Fail(a, v1::FAILURE_REASON_WORKER_LOST,
                      absl::StrCat("worker ", id.value(), " no longer reports attempt ", a));
  }
  SendLeaseRenewal(*worker, heartbeat.lease_seq(), p_.options.lease_ttl, p_.attempts.OfWorker(id));
}

void WorkerEvents::Progress(const WorkerId& id, const v1::Progress& progress,
                            const WorkerChannel* stream) {
  LiveWorker* worker = FromStream(id, stream);
  if (worker == nullptr) return Ignored("progress", "not_current_stream");
  const LiveAttempt* attempt = p_.attempts.Find(progress.attempt_id());
  if (attempt == nullptr || attempt->worker != id) {
    spdlog::debug("ignoring progress of attempt {} from worker {}: not its attempt",
                  progress.attempt_id(), id.value());
    return Ignored("progress", "stale_attempt");
  }
  worker->last_seen_ms = NowMs();
  LiveJob* job = p_.jobs.Find(attempt->task.job);
  if (job == nullptr) return;
  const int32_t index = attempt->task.index;
  if (progress.job_id() != 0 &&
      (progress.job_id() != attempt->task.job.value() || progress.task_index() != index)) {
    return Ignored("progress", "wrong_task");
  }
  LiveTask& task = job->tasks[index];
  // Clamped to the task: the frames this attempt was given (the chunk minus the frames a
  // preempted attempt kept), and a last frame among them. A worker's miscount never moves
  // the stage counters past the truth or a kept-frame offset out of the chunk.
  const int64_t given = static_cast<int64_t>(task.rec.frames.size()) - task.kept_frames;
  const int64_t done = std::clamp<int64_t>(progress.frames_done(), 0, std::max<int64_t>(given, 0));
  const bool last_known =
      progress.frames_done() <= 0 || std::find(task.rec.frames.begin(), task.rec.frames.end(),
                                               progress.last_frame()) != task.rec.frames.end();
  if (done != progress.frames_done() || !last_known) {
    spdlog::debug(
        "worker {}: progress of attempt {} out of range ({} frames done, last {}) for "
        "task {} of {} frames",
        id.value(), progress.attempt_id(), progress.frames_done(), progress.last_frame(),
        attempt->task.ToString(), task.rec.frames.size());
    Ignored("progress", "out_of_range");
  }
  task.rec.frames_done = task.kept_frames + done;
  AppendLogLines(*job, index, task.rec.attempt, progress.log_lines());
  p_.jobs.MarkChanged(*job, index);
  p_.jobs.PersistTask(*job, index);
}

bool WorkerEvents::Result(const WorkerId& id, const v1::Result& result,
                          const WorkerChannel* stream) {
  if (FromStream(id, stream) == nullptr) {
    spdlog::info("ignoring result of attempt {}: not from worker {}'s current stream",
                 result.attempt_id(), id.value());
    Ignored("result", "not_current_stream");
    return false;
  }
  const LiveAttempt* attempt = p_.attempts.Find(result.attempt_id());
  if (attempt == nullptr || attempt->worker != id) {
    spdlog::info("ignoring result of stale attempt {} from worker {}", result.attempt_id(),
                 id.value());
    Ignored("result", "stale_attempt");
    return false;
  }
  const TaskId task_id = attempt->task;
  LiveJob* job = p_.jobs.Find(task_id.job);
  if (job == nullptr) return false;
  LiveTask& task = job->tasks[task_id.index];
  if ((result.job_id() != 0 && result.job_id() != task_id.job.value()) ||
      (result.job_id() != 0 && result.task_index() != task_id.index) ||
      task.rec.attempt.value() != result.attempt_id() || task.rec.state != v1::TASK_STATE_RUNNING) {
    spdlog::info("ignoring result of attempt {}: task {} moved on", result.attempt_id(),
                 task_id.ToString());
    Ignored("result", "wrong_task");
    return false;
  }
  AppendLogLines(*job, task_id.index, task.rec.attempt, result.log_lines());
  if (result.success()) {
    p_.lifecycle.Succeed(result.attempt_id());
    return true;
  }
  const v1::FailureReason reason = result.failure_reason() == v1::FAILURE_REASON_UNSPECIFIED
                                       ? v1::FAILURE_REASON_INTERNAL
                                       : result.failure_reason();
  // The scheduler never asks for a CANCELED result of a live attempt (its own cancels end
  // the attempt first, so their results arrive stale): a worker cancels on its own only
  // when it shuts down (SIGTERM drain), refusing new work and handing back what outlives
  // its grace. Stop offering it work until its next hello, or every requeued task would
  // bounce off it until it exits.
  if (reason == v1::FAILURE_REASON_CANCELED) {
    LiveWorker* worker = p_.workers.Find(id);
    if (worker != nullptr && !worker->shutting_down) {
      worker->shutting_down = true;
      p_.signals.dispatch_needed = true;
      spdlog::info("worker {} is shutting down: no new work for it", id.value());
    }
  }
  if (result.message().size() > static_cast<size_t>(kMaxResultMessageBytes))
    Ignored("result", "truncated");
  p_.lifecycle.Fail(result.attempt_id(), reason,
                    Truncated(result.message(), kMaxResultMessageBytes));
  return true;
}

absl::StatusOr<v1::Worker> WorkerEvents::SetDrain(const WorkerId& id, bool drain) {
  LiveWorker* worker = p_.workers.Find(id);
  if (worker == nullptr)
    return absl::NotFoundError(absl::StrCat("worker '", id.value(), "' not found"));
  worker->draining = drain;
  v1::SchedulerMessage message;
  message.mutable_drain()->set_drain(drain);
  worker->Send(message);
  p_.signals.dispatch_needed = true;
  return p_.views.Worker(id, *worker);
}

void WorkerEvents::ExpireLeases(int64_t now_ms, int64_t recovery_deadline_ms) {
  const int64_t ttl = absl::ToInt64Milliseconds(p_.options.lease_ttl);
  std::vector<WorkerId> silent;
  for (const auto& [id, worker] : p_.workers.all()) {
    if (worker.online() && now_ms - worker.last_seen_ms > ttl) silent.push_back(id);
    // Recovered attempts whose worker never came back after a scheduler restart.
    if (!worker.online() && p_.attempts.CountOf(id) > 0 && now_ms >= recovery_deadline_ms)
      silent.push_back(id);
  }
  for (const WorkerId& id : silent) p_.lifecycle.LoseWorker(id, "missed heartbeats");
}

}  // namespace genfarm::scheduler
