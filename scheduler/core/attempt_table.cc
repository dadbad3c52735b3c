#include "scheduler/core/attempt_table.h"

#include <algorithm>

namespace genfarm::scheduler {

int64_t AttemptTable::Grant(const LiveAttempt& attempt) {
  const int64_t id = ++high_water_;
  sink_.SetAttemptHighWater(high_water_);
  Restore(id, attempt);
  return id;
}

void AttemptTable::Restore(int64_t id, const LiveAttempt& attempt) {
  attempts_[id] = attempt;
  by_worker_[attempt.worker].insert(id);
  high_water_ = std::max(high_water_, id);
}

void AttemptTable::RecoverHighWater(int64_t stored_high_water, bool skip_ahead) {
  high_water_ =
      std::max(high_water_, skip_ahead ? stored_high_water + (1 << 20) : stored_high_water);
}

const LiveAttempt* AttemptTable::Find(int64_t id) const {
  auto it = attempts_.find(id);
  return it == attempts_.end() ? nullptr : &it->second;
}

bool AttemptTable::End(int64_t id) {
  auto it = attempts_.find(id);
  if (it == attempts_.end()) return false;
  auto w = by_worker_.find(it->second.worker);
  if (w != by_worker_.end()) {
    w->second.erase(id);
    if (w->second.empty()) by_worker_.erase(w);
  }
  attempts_.erase(it);
  return true;
}

std::vector<int64_t> AttemptTable::OfWorker(const WorkerId& worker) const {
  auto it = by_worker_.find(worker);
  if (it == by_worker_.end()) return {};
  std::vector<int64_t> out(it->second.begin(), it->second.end());
  std::sort(out.begin(), out.end());
  return out;
}

size_t AttemptTable::CountOf(const WorkerId& worker) const {
  auto it = by_worker_.find(worker);
  return it == by_worker_.end() ? 0 : it->second.size();
}

std::vector<int64_t> AttemptTable::TimedOut(int64_t now_ms) const {
  std::vector<int64_t> out;
  for (const auto& [id, attempt] : attempts_) {
    if (attempt.deadline_ms > 0 && now_ms >= attempt.deadline_ms) out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace genfarm::scheduler
