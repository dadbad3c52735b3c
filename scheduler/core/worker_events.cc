#include "scheduler/core/worker_events.h"

#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler {
namespace {

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

absl::Status WorkerEvents::Hello(const v1::Hello& hello, std::shared_ptr<WorkerChannel> channel) {
  if (hello.worker_id().empty())
    return absl::InvalidArgumentError("hello.worker_id: must not be empty");
  if (hello.slots() < 0) return absl::InvalidArgumentError("hello.slots: must not be negative");
  const WorkerId id(hello.worker_id());
  LiveWorker& worker = p_.workers.Upsert(id);
  if (worker.channel && worker.channel != channel) worker.channel->Close();
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

void WorkerEvents::Heartbeat(const WorkerId& id, const v1::Heartbeat& heartbeat) {
  LiveWorker* worker = p_.workers.Find(id);
  if (worker == nullptr || !worker->online()) return;
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

void WorkerEvents::Progress(const WorkerId& id, const v1::Progress& progress) {
  const LiveAttempt* attempt = p_.attempts.Find(progress.attempt_id());
  if (attempt == nullptr || attempt->worker != id) return;
  if (LiveWorker* worker = p_.workers.Find(id)) worker->last_seen_ms = NowMs();
  LiveJob* job = p_.jobs.Find(attempt->task.job);
  if (job == nullptr) return;
  const int32_t index = attempt->task.index;
  LiveTask& task = job->tasks[index];
  task.rec.frames_done = task.kept_frames + progress.frames_done();
  for (const std::string& line : progress.log_lines())
    p_.lifecycle.AppendLog(*job, index, task.rec.attempt, line);
  p_.jobs.MarkChanged(*job, index);
  p_.jobs.PersistTask(*job, index);
}

bool WorkerEvents::Result(const WorkerId& id, const v1::Result& result) {
  const LiveAttempt* attempt = p_.attempts.Find(result.attempt_id());
  if (attempt == nullptr || attempt->worker != id) {
    spdlog::info("ignoring result of stale attempt {} from worker {}", result.attempt_id(),
                 id.value());
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
    return false;
  }
  for (const std::string& line : result.log_lines())
    p_.lifecycle.AppendLog(*job, task_id.index, task.rec.attempt, line);
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
  p_.lifecycle.Fail(result.attempt_id(), reason, result.message());
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
