#include "scheduler/sim/sim_worker.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "common/ids.h"

namespace genfarm::sim {

SimWorker::SimWorker(SimDevice device, const std::vector<SimModel>& models, EventQueue& events,
                     std::function<int64_t()> now_ms, SimRecorder& recorder)
    : device_(std::move(device)), events_(events), now_ms_(std::move(now_ms)), recorder_(recorder) {
  for (const SimModel& m : models) models_[m.name] = m;
}

v1::Hello SimWorker::Hello() const {
  v1::Hello hello;
  hello.set_worker_id(device_.id);
  hello.set_hostname(device_.id);
  hello.set_slots(device_.slots);
  v1::Device* d = hello.add_devices();
  d->set_name("cuda:0 " + device_.id);
  d->set_kind("cuda");
  d->set_index(0);
  d->set_memory_total_bytes(device_.memory_bytes);
  std::vector<std::string> names;
  for (const auto& [name, m] : models_) names.push_back(name);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    v1::ModelInfo* info = hello.add_models();
    info->set_name(name);
    info->set_version("1");
    info->set_memory_bytes(models_.at(name).memory_bytes);
  }
  return hello;
}

void SimWorker::Send(const v1::SchedulerMessage& message) {
  // Handled as a separate event at the same instant: the core is never re-entered.
  if (message.has_assign()) {
    events_.At(now_ms_(), [this, a = message.assign()] { Start(a); });
  } else if (message.has_cancel()) {
    events_.At(now_ms_(), [this, id = message.cancel().attempt_id()] { Cancel(id); });
  }
}

void SimWorker::Start(const v1::Assignment& assignment) {
  const int64_t now = now_ms_();
  const SimModel& model = models_.at(assignment.stage().model());
  int64_t ready = now;
  auto it = cache_.find(model.name);
  if (it != cache_.end()) {
    ready = std::max(now, it->second.ready_ms);  // warm, or another task is loading it
    it->second.pins++;
    it->second.last_used_ms = now;
  } else {
    int64_t used = 0;
    for (const auto& [name, c] : cache_) used += c.bytes;
    while (used + model.memory_bytes > device_.memory_bytes) {
      auto victim = cache_.end();
      for (auto c = cache_.begin(); c != cache_.end(); ++c) {
        if (c->second.pins == 0 &&
            (victim == cache_.end() || c->second.last_used_ms < victim->second.last_used_ms)) {
          victim = c;
        }
      }
      if (victim == cache_.end())
        break;  // everything in use; the core's reservations make this unreachable
      used -= victim->second.bytes;
      cache_.erase(victim);
    }
    ready = now + model.load_ms;
    cache_[model.name] = CachedModel{model.memory_bytes, ready, now, 1};
    recorder_.OnModelLoad(device_.id, model.name, model.load_ms);
  }
  const int64_t id = assignment.attempt_id();
  running_[id] = Running{assignment, now, true};
  if (ready > now && it == cache_.end()) SendHeartbeat();  // the cache changed: tell the core
  recorder_.OnAttemptStart(assignment.project(), 1.0 / device_.slots);
  const double frame_ms = static_cast<double>(model.frame_ms) / device_.speed * device_.slots /
                          SlotThroughput(device_.slots);
  const int n = assignment.frames_size();
  if (n == 0) {
    events_.At(ready, [this, id] { Finish(id); });
    return;
  }
  for (int i = 1; i <= n; ++i) {
    events_.At(ready + std::llround(i * frame_ms), [this, id, i] { Frame(id, i); });
  }
}

void SimWorker::Frame(int64_t attempt_id, int index) {
  auto it = running_.find(attempt_id);
  if (it == running_.end() || !it->second.alive) return;
  const v1::Assignment& a = it->second.assignment;
  recorder_.OnFrameWritten(a.job_id(), a.frames(index - 1));
  v1::Progress progress;
  progress.set_attempt_id(attempt_id);
  progress.set_job_id(a.job_id());
  progress.set_task_index(a.task_index());
  progress.set_frames_done(index);
  progress.set_last_frame(a.frames(index - 1));
  core_->WorkerProgress(WorkerId(device_.id), progress);
  if (index == a.frames_size()) Finish(attempt_id);
}

void SimWorker::Finish(int64_t attempt_id) {
  auto it = running_.find(attempt_id);
  if (it == running_.end() || !it->second.alive) return;
  v1::Result result;
  result.set_attempt_id(attempt_id);
  result.set_success(true);
  result.set_job_id(it->second.assignment.job_id());
  result.set_task_index(it->second.assignment.task_index());
  result.mutable_frames_done()->Add(it->second.assignment.frames().begin(),
                                    it->second.assignment.frames().end());
  Release(it->second, true);
  running_.erase(it);
  core_->WorkerResult(WorkerId(device_.id), result);
}

void SimWorker::Cancel(int64_t attempt_id) {
  auto it = running_.find(attempt_id);
  if (it == running_.end()) return;
  // A cancelled attempt stops within the frame; the core has already requeued it, so
  // the result a real worker sends (PREEMPTED/CANCELED) would be ignored as stale.
  Release(it->second, false);
  running_.erase(it);
}

void SimWorker::Release(Running& run, bool succeeded) {
  const int64_t now = now_ms_();
  run.alive = false;
  auto c = cache_.find(run.assignment.stage().model());
  if (c != cache_.end()) {
    c->second.pins--;
    c->second.last_used_ms = now;
  }
  recorder_.OnAttemptEnd(run.assignment.project(), 1.0 / device_.slots, now - run.start_ms,
                         succeeded);
}

void SimWorker::SendHeartbeat() {
  v1::Heartbeat hb;
  for (const auto& [id, run] : running_) hb.add_running_attempts(id);
  for (const auto& [name, c] : cache_) hb.add_loaded_models(name);
  core_->WorkerHeartbeat(WorkerId(device_.id), hb);
}

}  // namespace genfarm::sim
