#include "scheduler/policy/usage_ledger.h"

#include <algorithm>
#include <cmath>

namespace genfarm::scheduler {

void DecayingUsageLedger::Advance(int64_t now_ms) {
  const double elapsed_s = (now_ms - last_ms_) / 1000.0;
  const double decay = std::exp2(-elapsed_s / std::max(1.0, absl::ToDoubleSeconds(half_life_)));
  for (auto& [project, slot_seconds] : usage_) slot_seconds *= decay;
  for (const auto& [project, slots] : running_) usage_[project] += slots * elapsed_s;
  running_.clear();
  last_ms_ = now_ms;
}

void DecayingUsageLedger::AddRunning(const std::string& project, double slots) {
  running_[project] += slots;
  usage_.try_emplace(project, 0.0);
}

}  // namespace genfarm::scheduler
