#include "scheduler/core/core_views.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/enum_names.h"
#include "common/tier.h"

namespace genfarm::scheduler {

v1::Job CoreViews::Job(const LiveJob& job) const {
  v1::Job out;
  out.set_id(job.rec.id.value());
  *out.mutable_spec() = job.rec.spec;
  out.set_state(job.rec.state);
  out.set_submit_time_ms(job.rec.submit_ms);
  out.set_start_time_ms(job.rec.start_ms);
  out.set_end_time_ms(job.rec.end_ms);
  out.set_message(job.rec.message);
  for (size_t s = 0; s < job.stages.size(); ++s) {
    const LiveStage& stage = job.stages[s];
    v1::StageStatus* st = out.add_stages();
    st->set_name(job.rec.spec.stages(static_cast<int>(s)).name());
    st->set_frames_total(stage.frames_total);
    st->set_frames_done(stage.frames_done);
    int64_t total = 0;
    for (const auto& [state, count] : stage.count) {
      total += count;
      if (count > 0) {
        (*st->mutable_tasks_by_state())[std::string(
            TaskStateName(static_cast<v1::TaskState>(state)))] = count;
      }
    }
    st->set_tasks_total(total);
  }
  return out;
}

v1::Task CoreViews::Task(const LiveJob& job, int32_t index) const {
  const LiveTask& task = job.tasks[index];
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
  const std::string& unplaceable = job.stages[task.rec.stage].unplaceable;
  out.set_message(task.rec.state == v1::TASK_STATE_QUEUED && !unplaceable.empty()
                      ? unplaceable
                      : task.rec.message);
  return out;
}

v1::Worker CoreViews::Worker(const WorkerId& id, const LiveWorker& w) const {
  v1::Worker out;
  out.set_id(id.value());
  out.set_hostname(w.hello.hostname());
  out.set_state(!w.online()     ? v1::WORKER_STATE_OFFLINE
                : w.accepting() ? v1::WORKER_STATE_ONLINE
                                : v1::WORKER_STATE_DRAINING);
  for (const v1::Device& d : w.devices) *out.add_devices() = d;
  out.set_slots(w.hello.slots());
  out.set_busy_slots(static_cast<int32_t>(attempts_.CountOf(id)));
  out.mutable_tags()->CopyFrom(w.hello.tags());
  for (v1::ModelInfo m : w.hello.models()) {
    m.set_loaded(w.loaded.contains(m.name()));
    *out.add_models() = m;
  }
  for (int64_t a : attempts_.OfWorker(id)) out.add_running(attempts_.Find(a)->task.ToString());
  out.set_last_seen_ms(w.last_seen_ms);
  out.set_http_address(w.hello.http_address());
  return out;
}

v1::ListJobsResponse CoreViews::ListJobs(const v1::ListJobsRequest& request) const {
  v1::ListJobsResponse out;
  const int page = request.page_size() <= 0 ? 100 : std::min(request.page_size(), 1000);
  int64_t before = INT64_MAX;
  if (!request.page_token().empty())
    before = std::strtoll(request.page_token().c_str(), nullptr, 10);
  const auto& jobs = jobs_.jobs();
  for (auto it = jobs.rbegin(); it != jobs.rend(); ++it) {
    if (it->first.value() >= before) continue;
    const LiveJob& job = it->second;
    if (!request.project().empty() && job.rec.spec.project() != request.project()) continue;
    if (request.state() != v1::JOB_STATE_UNSPECIFIED && job.rec.state != request.state()) continue;
    if (out.jobs_size() == page) {
      out.set_next_page_token(absl::StrCat(out.jobs(page - 1).id()));
      break;
    }
    *out.add_jobs() = Job(job);
  }
  return out;
}

std::vector<v1::Worker> CoreViews::ListWorkers(bool include_offline) const {
  std::vector<v1::Worker> out;
  for (const auto& [id, worker] : workers_.all()) {
    if (!include_offline && !worker.online()) continue;
    out.push_back(Worker(id, worker));
  }
  return out;
}

v1::FarmStats CoreViews::Stats() const {
  v1::FarmStats out;
  for (const auto& [id, worker] : workers_.all()) {
    if (!worker.online()) continue;
    out.set_workers_online(out.workers_online() + 1);
    out.set_slots_total(out.slots_total() + worker.hello.slots());
    out.set_slots_busy(out.slots_busy() + static_cast<int64_t>(attempts_.CountOf(id)));
  }
  int64_t frames = 0;
  for (const auto& [id, job] : jobs_.jobs()) {
    (*out.mutable_jobs_by_state())[std::string(JobStateName(job.rec.state))]++;
    for (const LiveStage& stage : job.stages) {
      frames += stage.frames_done;
      for (const auto& [s, count] : stage.count) {
        if (count > 0) {
          (*out.mutable_tasks_by_state())[std::string(
              TaskStateName(static_cast<v1::TaskState>(s)))] += count;
        }
      }
    }
  }
  out.set_frames_done_total(frames);
  return out;
}

std::map<std::pair<std::string, v1::Tier>, int64_t> CoreViews::QueueDepths() const {
  std::map<std::pair<std::string, v1::Tier>, int64_t> out;
  for (const auto& [id, job] : jobs_.jobs()) {
    int64_t queued = 0;
    for (const LiveStage& stage : job.stages) queued += static_cast<int64_t>(stage.queued.size());
    out[{job.rec.spec.project(), EffectiveTier(job.rec.spec.tier())}] += queued;
  }
  return out;
}

}  // namespace genfarm::scheduler
