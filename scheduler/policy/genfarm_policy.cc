#include "scheduler/policy/genfarm_policy.h"

#include <algorithm>
#include <functional>
#include <numeric>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "scheduler/policy/eligibility.h"
#include "scheduler/policy/fair_share.h"

namespace genfarm::scheduler {
namespace {

std::string DescribeUnplaceable(const WorkGroup& group, const std::vector<WorkerView>& workers) {
  if (workers.empty()) return "no worker is connected";
  std::vector<std::string> reasons;
  for (const WorkerView& w : workers) {
    std::string why = WhyNeverEligible(group, w);
    if (why.empty()) return "";
    reasons.push_back(absl::StrCat(w.id, " ", why));
    if (reasons.size() == 3) break;
  }
  std::string more = workers.size() > 3 ? absl::StrCat(" (and ", workers.size() - 3, " more)") : "";
  return absl::StrCat("no worker can run this task: ", absl::StrJoin(reasons, "; "), more);
}

// Best worker for one task of `group`, or workers.size() when none fits now.
std::pair<size_t, int32_t> BestWorker(const WorkGroup& group,
                                      const std::vector<WorkerView>& workers, bool affinity) {
  size_t best = workers.size();
  int32_t best_device = -1;
  std::tuple<int, int64_t, int32_t> best_key;
  for (size_t i = 0; i < workers.size(); ++i) {
    DeviceChoice choice = ChooseDevice(group, workers[i]);
    if (!choice.ok()) continue;
    int cold = affinity && !group.model.empty() && !workers[i].loaded_models.contains(group.model);
    std::tuple<int, int64_t, int32_t> key{cold, choice.leftover_bytes, workers[i].free_slots};
    if (best == workers.size() || key < best_key) {
      best = i;
      best_key = key;
      best_device = choice.device;
    }
  }
  return {best, best_device};
}

}  // namespace

std::vector<Placement> GenFarmPolicy::Place(const FarmView& view) {
  std::vector<Placement> out;
  std::vector<WorkerView> workers = view.workers;
  std::vector<int64_t> queued(view.groups.size());
  std::vector<bool> stuck(view.groups.size(), false);
  double total_slots = 0;
  for (const WorkerView& w : workers) total_slots += w.free_slots;
  for (const auto& [project, usage] : view.projects) total_slots += usage.running_slots;
  for (size_t g = 0; g < view.groups.size(); ++g) queued[g] = view.groups[g].queued;
  if (total_slots <= 0) return out;
  FairShare fair(config_, view.projects, view.groups, total_slots);
  auto deficit = [&](const std::string& project) { return fair.Deficit(project); };

  // Delay scheduling clock per group: since its last start, or since it became runnable.
  std::vector<int64_t> waiting_since(view.groups.size());
  for (size_t g = 0; g < view.groups.size(); ++g) {
    waiting_since[g] = std::max(view.groups[g].last_start_ms, view.groups[g].oldest_queued_ms);
  }
  auto warm_elsewhere = [&](const std::string& model) {
    auto it = view.warm_workers.find(model);
    return it != view.warm_workers.end() && it->second > 0;
  };

  std::vector<size_t> deferred;  // groups waiting for a warm worker, in placement order
  while (true) {
    // Pick the next group by (tier, priority, fair-share deficit, age, job id).
    size_t pick = view.groups.size();
    for (size_t g = 0; g < view.groups.size(); ++g) {
      if (queued[g] == 0 || stuck[g]) continue;
      if (pick == view.groups.size()) {
        pick = g;
        continue;
      }
      const WorkGroup& a = view.groups[g];
      const WorkGroup& b = view.groups[pick];
      if (a.job_id == b.job_id) {
        // Within a job, ready downstream work first: frames flow end to end (retime
        // follows upres frame by frame, dailies arrive sooner) instead of stage by stage.
        if (a.stage > b.stage) pick = g;
        continue;
      }
      auto ka = std::make_tuple(-a.tier, -a.priority, -deficit(a.project), a.oldest_queued_ms,
                                a.job_id, a.stage);
      auto kb = std::make_tuple(-b.tier, -b.priority, -deficit(b.project), b.oldest_queued_ms,
                                b.job_id, b.stage);
      if (ka < kb) pick = g;
    }
    if (pick == view.groups.size()) break;
    const WorkGroup& group = view.groups[pick];
    auto [worker, device] = BestWorker(group, workers, config_.model_affinity);
    if (worker == workers.size()) {
      stuck[pick] = true;  // nothing free fits this group now; others may still fit
      continue;
    }
    const bool cold = !group.model.empty() && !workers[worker].loaded_models.contains(group.model);
    // Only batch work waits for a warm worker: for dailies and interactive work a model
    // load is cheaper than the wait (and waiting could fight preemption).
    // Nor does a starved project: its share is worth more than one model load.
    if (config_.model_affinity && cold && group.tier <= v1::TIER_BATCH &&
        config_.affinity_wait_ms > 0 && warm_elsewhere(group.model) &&
        !fair.Starved(group.project) &&
        view.now_ms - waiting_since[pick] < config_.affinity_wait_ms) {
      stuck[pick] = true;  // a warm worker will free up soon: let later groups go first
      deferred.push_back(pick);
      continue;
    }
    // Waiting for a warm worker must not cost a project its share: a project above its
    // share does not take a worker that a group of a project below its share passed
    // over; that group takes it now, cold.
    if (config_.fair_share && deficit(view.groups[pick].project) < 0) {
      for (size_t d : deferred) {
        if (queued[d] == 0 || deficit(view.groups[d].project) <= 0) continue;
        DeviceChoice choice = ChooseDevice(view.groups[d], workers[worker]);
        if (!choice.ok()) continue;
        pick = d;
        device = choice.device;
        break;
      }
    }
    const WorkGroup& chosen = view.groups[pick];
    waiting_since[pick] = view.now_ms;
    Reserve(chosen, workers[worker], device);
    if (!chosen.model.empty()) workers[worker].loaded_models.insert(chosen.model);
    fair.AddRunning(chosen.project, 1);
    queued[pick] -= 1;
    out.push_back(Placement{pick, worker, device});
  }
  return out;
}

std::vector<int64_t> GenFarmPolicy::Preempt(const PreemptionView& view) {
  std::vector<int64_t> victims;
  std::vector<WorkerView> workers = view.workers;
  std::vector<bool> taken(view.running.size(), false);
  // Batch attempts per worker, youngest first: the least work is thrown away (and the
  // worker keeps the frames they finished anyway).
  std::vector<std::vector<size_t>> batch_on(workers.size());
  for (size_t r = 0; r < view.running.size(); ++r) {
    const RunningAttempt& a = view.running[r];
    if (a.tier <= v1::TIER_BATCH && a.worker < workers.size()) batch_on[a.worker].push_back(r);
  }
  for (auto& list : batch_on) {
    std::sort(list.begin(), list.end(), [&](size_t a, size_t b) {
      return std::tie(view.running[b].start_ms, view.running[b].attempt_id) <
             std::tie(view.running[a].start_ms, view.running[a].attempt_id);
    });
  }
  // Fair-share accounting of the farm as it is, and as preemptions change it.
  double total_slots = static_cast<double>(view.running.size());
  for (const WorkerView& w : workers) total_slots += std::max(0, w.free_slots);
  absl::flat_hash_map<std::string, ProjectUsage> usage = view.projects;
  for (auto& [project, u] : usage) u.running_slots = 0;
  for (const RunningAttempt& a : view.running) usage[a.project].running_slots += 1;
  FairShare fair(config_, usage, view.waiting, total_slots);

  // The worker where the fewest `allowed` batch attempts make room for one task of
  // `group` (then the least run time thrown away); workers.size() when none does.
  struct Room {
    size_t worker = 0;
    int32_t device = -1;
    std::vector<size_t> victims;
  };
  auto find_room = [&](const WorkGroup& group,
                       const std::function<bool(const RunningAttempt&)>& allowed) {
    Room best{workers.size(), -1, {}};
    int64_t best_lost = 0;
    for (size_t w = 0; w < workers.size(); ++w) {
      if (!WhyNeverEligible(group, workers[w]).empty()) continue;
      WorkerView trial = workers[w];
      std::vector<size_t> chosen;
      DeviceChoice choice = ChooseDevice(group, trial);
      for (size_t r : batch_on[w]) {
        if (choice.ok()) break;
        if (taken[r] || !allowed(view.running[r])) continue;
        const RunningAttempt& a = view.running[r];
        trial.free_slots += 1;
        for (DeviceView& d : trial.devices) {
          if (d.index == a.device) d.memory_free_bytes += a.memory_bytes;
        }
        chosen.push_back(r);
        choice = ChooseDevice(group, trial);
      }
      if (!choice.ok() || chosen.empty()) continue;
      int64_t lost = 0;
      for (size_t r : chosen) lost += view.now_ms - view.running[r].start_ms;
      if (best.worker == workers.size() || chosen.size() < best.victims.size() ||
          (chosen.size() == best.victims.size() &&
           (lost < best_lost ||
            (lost == best_lost &&
             view.running[chosen[0]].attempt_id > view.running[best.victims[0]].attempt_id)))) {
        best = Room{w, choice.device, chosen};
        best_lost = lost;
      }
    }
    return best;
  };
  auto take = [&](const WorkGroup& group, const Room& room) {
    for (size_t r : room.victims) {
      taken[r] = true;
      const RunningAttempt& a = view.running[r];
      workers[room.worker].free_slots += 1;
      for (DeviceView& d : workers[room.worker].devices) {
        if (d.index == a.device) d.memory_free_bytes += a.memory_bytes;
      }
      fair.AddRunning(a.project, -1);
      victims.push_back(a.attempt_id);
    }
    Reserve(group, workers[room.worker], room.device);
    fair.AddRunning(group.project, 1);
  };

  // 1. Tiers: starving dailies/interactive groups, most urgent first, take any batch slot.
  if (config_.preempt_after_ms > 0) {
    std::vector<size_t> order;
    for (size_t g = 0; g < view.waiting.size(); ++g) {
      const WorkGroup& group = view.waiting[g];
      if (group.tier > v1::TIER_BATCH && group.queued > 0 &&
          view.now_ms - group.oldest_queued_ms >= config_.preempt_after_ms) {
        order.push_back(g);
      }
    }
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      const WorkGroup& x = view.waiting[a];
      const WorkGroup& y = view.waiting[b];
      return std::make_tuple(-x.tier, -x.priority, x.oldest_queued_ms, x.job_id, x.stage) <
             std::make_tuple(-y.tier, -y.priority, y.oldest_queued_ms, y.job_id, y.stage);
    });
    for (size_t g : order) {
      const WorkGroup& group = view.waiting[g];
      for (int64_t n = 0; n < group.queued; ++n) {
        // Fits somewhere already (a slot is freeing or was freed by an earlier choice).
        auto [free_worker, free_device] = BestWorker(group, workers, config_.model_affinity);
        if (free_worker < workers.size()) {
          Reserve(group, workers[free_worker], free_device);
          fair.AddRunning(group.project, 1);
          continue;
        }
        Room room = find_room(group, [](const RunningAttempt&) { return true; });
        if (room.worker == workers.size()) break;  // no preemption can make room for this group
        take(group, room);
      }
    }
  }

  // 2. Fair share: batch work of a starved project that has waited long enough takes a
  // slot from a project well above its share, one slot at a time, most starved first,
  // until nobody is starved or nobody can yield.
  if (config_.fair_share && config_.fair_share_preempt_after_ms > 0) {
    std::vector<int64_t> left(view.waiting.size(), 0);
    for (size_t g = 0; g < view.waiting.size(); ++g) {
      const WorkGroup& group = view.waiting[g];
      if (group.tier <= v1::TIER_BATCH &&
          view.now_ms - group.oldest_queued_ms >= config_.fair_share_preempt_after_ms) {
        left[g] = group.queued;
      }
    }
    while (true) {
      size_t pick = view.waiting.size();
      for (size_t g = 0; g < view.waiting.size(); ++g) {
        if (left[g] == 0 || !fair.Starved(view.waiting[g].project)) continue;
        const WorkGroup& a = view.waiting[g];
        if (pick == view.waiting.size()) {
          pick = g;
          continue;
        }
        const WorkGroup& b = view.waiting[pick];
        auto ka = std::make_tuple(-fair.Deficit(a.project), a.oldest_queued_ms, a.job_id, a.stage);
        auto kb = std::make_tuple(-fair.Deficit(b.project), b.oldest_queued_ms, b.job_id, b.stage);
        if (ka < kb) pick = g;
      }
      if (pick == view.waiting.size()) break;
      const WorkGroup& group = view.waiting[pick];
      // A free worker fits it: it is not short of slots, placement will serve it.
      if (BestWorker(group, workers, config_.model_affinity).first < workers.size()) {
        left[pick] = 0;
        continue;
      }
      Room room = find_room(group, [&](const RunningAttempt& a) {
        return a.project != group.project && fair.CanYieldSlot(a.project);
      });
      if (room.worker == workers.size()) {
        left[pick] = 0;  // nobody above its share holds a slot this group fits in
        continue;
      }
      take(group, room);
      left[pick] -= 1;
    }
  }
  std::sort(victims.begin(), victims.end());
  return victims;
}

std::string GenFarmPolicy::WhyUnplaceable(const WorkGroup& group,
                                          const std::vector<WorkerView>& all_workers) const {
  return DescribeUnplaceable(group, all_workers);
}

std::vector<Placement> FifoPolicy::Place(const FarmView& view) {
  std::vector<Placement> out;
  std::vector<WorkerView> workers = view.workers;
  std::vector<size_t> order(view.groups.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const WorkGroup& x = view.groups[a];
    const WorkGroup& y = view.groups[b];
    return std::tie(x.submit_ms, x.job_id, x.stage) < std::tie(y.submit_ms, y.job_id, y.stage);
  });
  for (size_t g : order) {
    const WorkGroup& group = view.groups[g];
    int64_t left = group.queued;
    for (size_t w = 0; w < workers.size() && left > 0; ++w) {
      while (left > 0) {
        DeviceChoice choice = ChooseDevice(group, workers[w]);
        if (!choice.ok()) break;
        Reserve(group, workers[w], choice.device);
        out.push_back(Placement{g, w, choice.device});
        --left;
      }
    }
  }
  return out;
}

std::string FifoPolicy::WhyUnplaceable(const WorkGroup& group,
                                       const std::vector<WorkerView>& all_workers) const {
  return DescribeUnplaceable(group, all_workers);
}

}  // namespace genfarm::scheduler
