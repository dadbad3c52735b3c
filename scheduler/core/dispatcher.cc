#include "scheduler/core/dispatcher.h"

#include <algorithm>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/tier.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler {

WorkGroup Dispatcher::MakeGroup(const LiveJob& job, int32_t s, int64_t now_ms) const {
  const LiveStage& stage = job.stages[s];
  const v1::StageSpec& spec = job.rec.spec.stages(s);
  WorkGroup group;
  group.job_id = job.rec.id.value();
  group.stage = s;
  group.project = job.rec.spec.project();
  group.tier = EffectiveTier(job.rec.spec.tier());
  group.priority = job.rec.spec.priority();
  group.submit_ms = job.rec.submit_ms;
  group.oldest_queued_ms =
      stage.queued.empty() ? now_ms : job.tasks[*stage.queued.begin()].runnable_since_ms;
  group.last_start_ms = stage.last_start_ms;
  group.model = spec.kind() == v1::STAGE_KIND_DAILIES ? "" : spec.model();
  group.tags.assign(spec.tags().begin(), spec.tags().end());
  group.gpus = spec.gpus();
  group.memory_bytes = p_.lifecycle.TaskMemory(job, s);
  group.queued = static_cast<int64_t>(stage.queued.size());
  for (const auto& [worker, entry] : job.blocklist) {
    if (entry.until_ms > now_ms) group.blocked_workers.insert(worker);
  }
  return group;
}

void Dispatcher::Round() {
  if (!p_.signals.dispatch_needed) return;
  p_.signals.dispatch_needed = false;
  FarmView view;
  view.now_ms = NowMs();
  std::vector<WorkerId> worker_ids;
  for (const auto& [id, worker] : p_.workers.all()) {
    if (!worker.accepting()) continue;
    for (const std::string& model : worker.loaded) view.warm_workers[model]++;
    const int32_t free = worker.hello.slots() - static_cast<int32_t>(p_.attempts.CountOf(id));
    if (free <= 0) continue;
    view.workers.push_back(p_.workers.LiveView(id, worker, p_.attempts));
    worker_ids.push_back(id);
  }
  // Fair-share memory: integrate what each project ran since the last round.
  p_.ledger.Advance(view.now_ms);
  for (const auto& [id, attempt] : p_.attempts.all()) {
    if (const LiveJob* job = p_.jobs.Find(attempt.task.job))
      p_.ledger.AddRunning(job->rec.spec.project(), 1);
  }
  std::vector<std::pair<LiveJob*, int32_t>> group_refs;
  if (!view.workers.empty()) {
    for (const auto& [id, attempt] : p_.attempts.all()) {
      if (const LiveJob* job = p_.jobs.Find(attempt.task.job))
        view.projects[job->rec.spec.project()].running_slots += 1;
    }
    for (const auto& [project, usage] : p_.ledger.Usage())
      view.projects[project].decayed_usage = usage;
    std::vector<JobId> active(p_.jobs.active().begin(), p_.jobs.active().end());
    std::sort(active.begin(), active.end());
    for (const JobId& id : active) {
      LiveJob* job = p_.jobs.Find(id);
      if (job == nullptr || job->rec.state != v1::JOB_STATE_ACTIVE) continue;
      for (size_t s = 0; s < job->stages.size(); ++s) {
        if (job->stages[s].queued.empty()) continue;
        view.groups.push_back(MakeGroup(*job, static_cast<int32_t>(s), view.now_ms));
        group_refs.emplace_back(job, static_cast<int32_t>(s));
      }
    }
  }
  if (!view.groups.empty()) {
    for (const Placement& p : p_.policy.Place(view)) {
      auto [job, s] = group_refs[p.group];
      LiveStage& stage = job->stages[s];
      if (stage.queued.empty()) continue;
      p_.lifecycle.Start(*job, *stage.queued.begin(), worker_ids[p.worker], p.device);
      p_.ledger.AddRunning(job->rec.spec.project(), 1);
    }
  }
  // Preempted attempts free slots that the waiting work takes in the next round.
  if (PreemptForWaitingWork()) {
    p_.signals.dispatch_needed = true;
    Round();
  }
}

bool Dispatcher::PreemptForWaitingWork() {
  PreemptionView view;
  view.now_ms = NowMs();
  for (const JobId& id : p_.jobs.active()) {
    const LiveJob* job = p_.jobs.Find(id);
    if (job == nullptr || job->rec.state != v1::JOB_STATE_ACTIVE) continue;
    for (size_t s = 0; s < job->stages.size(); ++s) {
      if (!job->stages[s].queued.empty())
        view.waiting.push_back(MakeGroup(*job, static_cast<int32_t>(s), view.now_ms));
    }
  }
  if (view.waiting.empty()) return false;
  for (const auto& [project, usage] : p_.ledger.Usage())
    view.projects[project].decayed_usage = usage;
  std::sort(view.waiting.begin(), view.waiting.end(), [](const WorkGroup& a, const WorkGroup& b) {
    return std::tie(a.job_id, a.stage) < std::tie(b.job_id, b.stage);
  });
  for (const auto& [id, worker] : p_.workers.all()) {
    if (!worker.accepting()) continue;
    for (int64_t a : p_.attempts.OfWorker(id)) {
      const LiveAttempt* attempt = p_.attempts.Find(a);
      const LiveJob* job = p_.jobs.Find(attempt->task.job);
      if (job == nullptr) continue;
      RunningAttempt running;
      running.attempt_id = a;
      running.worker = view.workers.size();
      running.device = attempt->device;
      running.project = job->rec.spec.project();
      running.tier = EffectiveTier(job->rec.spec.tier());
      running.priority = job->rec.spec.priority();
      running.start_ms = attempt->start_ms;
      running.memory_bytes = attempt->reserved_bytes;
      view.running.push_back(std::move(running));
    }
    view.workers.push_back(p_.workers.LiveView(id, worker, p_.attempts));
  }
  int preempted = 0;
  for (int64_t attempt_id : p_.policy.Preempt(view)) {
    const LiveAttempt* attempt = p_.attempts.Find(attempt_id);
    if (attempt == nullptr) continue;
    LiveJob* job = p_.jobs.Find(attempt->task.job);
    if (job == nullptr) continue;
    if (EffectiveTier(job->rec.spec.tier()) != v1::TIER_BATCH) continue;  // only batch yields
    LiveTask& task = job->tasks[attempt->task.index];
    // The worker writes frames in order, each by an atomic rename, so the first
    // frames_done frames of the chunk are complete on disk: keep them.
    task.kept_frames =
        std::min<int64_t>(task.rec.frames_done, static_cast<int64_t>(task.rec.frames.size()));
    p_.lifecycle.CancelOnWorker(attempt_id, v1::FAILURE_REASON_PREEMPTED);
    p_.lifecycle.Fail(attempt_id, v1::FAILURE_REASON_PREEMPTED,
                      absl::StrCat("preempted for waiting work (higher tier or fair share); ",
                                   task.kept_frames, " finished frames kept"));
    ++preempted;
  }
  if (preempted > 0) spdlog::info("preempted {} batch attempts for waiting work", preempted);
  return preempted > 0;
}

void Dispatcher::UpdateUnplaceable() {
  std::vector<WorkerView> accepting;
  std::vector<std::string> draining;
  for (const auto& [id, worker] : p_.workers.all()) {
    if (!worker.online()) continue;
    if (!worker.accepting()) {
      draining.push_back(id.value());
      continue;
    }
    accepting.push_back(p_.workers.StaticView(id, worker));
  }
  const int64_t now = NowMs();
  for (const JobId& id : p_.jobs.active()) {
    LiveJob* job = p_.jobs.Find(id);
    if (job == nullptr) continue;
    for (size_t s = 0; s < job->stages.size(); ++s) {
      LiveStage& stage = job->stages[s];
      std::string why;
      if (!stage.queued.empty()) {
        why = p_.policy.WhyUnplaceable(MakeGroup(*job, static_cast<int32_t>(s), now), accepting);
        if (accepting.empty() && !draining.empty()) {
          why = absl::StrCat("every connected worker is draining (", absl::StrJoin(draining, ", "),
                             ")");
        }
      }
      if (why != stage.unplaceable) {
        stage.unplaceable = why;
        p_.jobs.MarkDirty(id);
        // Watchers see the reason on the first queued tasks (the job event carries the
        // stage); marking a million queued tasks would hold the core thread for a while.
        int marked = 0;
        for (auto it = stage.queued.begin(); it != stage.queued.end() && marked < 1000;
             ++it, ++marked) {
          job->changed.push_back(*it);
        }
      }
    }
  }
}

}  // namespace genfarm::scheduler
