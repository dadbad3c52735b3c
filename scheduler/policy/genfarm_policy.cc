#include "scheduler/policy/genfarm_policy.h"

#include <algorithm>
#include <numeric>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "scheduler/policy/eligibility.h"

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
std::pair<size_t, int32_t> BestWorker(const WorkGroup& group, const std::vector<WorkerView>& workers,
                                      bool affinity) {
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
  absl::flat_hash_map<std::string, double> running;
  double weight_sum = 0;
  absl::flat_hash_map<std::string, bool> active;
  for (const auto& [project, usage] : view.projects) {
    running[project] = usage.running_slots;
    total_slots += usage.running_slots;
    if (usage.running_slots > 0) active[project] = true;
  }
  for (size_t g = 0; g < view.groups.size(); ++g) {
    queued[g] = view.groups[g].queued;
    active[view.groups[g].project] = true;
  }
  for (const auto& [project, unused] : active) weight_sum += config_.Weight(project);
  if (total_slots <= 0) return out;

  auto deficit = [&](const std::string& project) {
    if (!config_.fair_share) return 0.0;
    return config_.Weight(project) / weight_sum - running[project] / total_slots;
  };

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
      auto ka = std::make_tuple(-a.tier, -a.priority, -deficit(a.project), a.oldest_queued_ms, a.job_id, a.stage);
      auto kb = std::make_tuple(-b.tier, -b.priority, -deficit(b.project), b.oldest_queued_ms, b.job_id, b.stage);
      if (ka < kb) pick = g;
    }
    if (pick == view.groups.size()) break;
    const WorkGroup& group = view.groups[pick];
    auto [worker, device] = BestWorker(group, workers, config_.model_affinity);
    if (worker == workers.size()) {
      stuck[pick] = true;  // nothing free fits this group now; others may still fit
      continue;
    }
    Reserve(group, workers[worker], device);
    if (!group.model.empty()) workers[worker].loaded_models.insert(group.model);
    running[group.project] += 1;
    queued[pick] -= 1;
    out.push_back(Placement{pick, worker, device});
  }
  return out;
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
