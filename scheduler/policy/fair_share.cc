#include "scheduler/policy/fair_share.h"

namespace genfarm::scheduler {

FairShare::FairShare(const PolicyConfig& config,
                     const absl::flat_hash_map<std::string, ProjectUsage>& projects,
                     const std::vector<WorkGroup>& groups, double total_slots)
    : config_(config), total_slots_(total_slots) {
  for (const auto& [project, usage] : projects) {
    running_[project] = usage.running_slots;
    total_running_ += usage.running_slots;
    decayed_[project] = usage.decayed_usage;
    if (usage.running_slots > 0) active_[project] = true;
  }
  for (const WorkGroup& g : groups) {
    if (g.queued > 0) active_[g.project] = true;
  }
  for (const auto& [project, unused] : active_) weight_sum_ += config_.Weight(project);
  // Usage history only of the projects that compete now: a project that finished its
  // work long ago neither pays nor is owed anything, and the history shares of the
  // competing projects sum to 1, like their fair shares.
  for (const auto& [project, unused] : active_) decayed_sum_ += Lookup(decayed_, project);
}

double FairShare::Lookup(const absl::flat_hash_map<std::string, double>& map,
                         const std::string& project) {
  auto it = map.find(project);
  return it == map.end() ? 0.0 : it->second;
}

double FairShare::Share(const std::string& project) const {
  return weight_sum_ > 0 ? config_.Weight(project) / weight_sum_ : 0.0;
}

double FairShare::Used(const std::string& project) const {
  const double now_share = total_slots_ > 0 ? Running(project) / total_slots_ : 0.0;
  if (decayed_sum_ <= 0 || config_.history_weight <= 0) return now_share;
  const double recent = Lookup(decayed_, project) / decayed_sum_;
  return (1 - config_.history_weight) * now_share + config_.history_weight * recent;
}

double FairShare::Deficit(const std::string& project) const {
  if (!config_.fair_share) return 0.0;
  return Share(project) - Used(project);
}

double FairShare::Running(const std::string& project) const { return Lookup(running_, project); }

void FairShare::AddRunning(const std::string& project, double slots) {
  running_[project] += slots;
  total_running_ += slots;
  if (running_[project] > 0 && !active_.contains(project)) {
    active_[project] = true;
    weight_sum_ += config_.Weight(project);
    decayed_sum_ += Lookup(decayed_, project);
  }
}

bool FairShare::Starved(const std::string& project) const {
  if (!config_.fair_share) return false;
  // Only others can starve a project: alone, or while the others hold no more than
  // their shares, it gets every free slot anyway.
  const double others = total_running_ - Running(project);
  return Used(project) < config_.starved_fraction * Share(project) &&
         others > (1 - Share(project)) * total_slots_;
}

bool FairShare::CanYieldSlot(const std::string& project) const {
  if (!config_.fair_share) return false;
  const double margin = (1 - config_.starved_fraction) * Share(project);
  return Used(project) > Share(project) + margin &&
         Running(project) - 1 >= Share(project) * total_slots_;
}

}  // namespace genfarm::scheduler
