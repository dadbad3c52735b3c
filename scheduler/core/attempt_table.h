// AttemptTable: the running attempts. Each attempt id is handed out once, ever (the
// high-water mark is persisted, and skipped far past after a crash), so a result can be
// fenced by its attempt id: a late or duplicate result from a lost worker names an
// attempt that is no longer here. It also keeps each attempt's lease facts (start,
// timeout deadline) and what it holds on its worker (slot, device, memory).
//
//   AttemptTable attempts(sink);
//   const int64_t id = attempts.Grant({task, worker, now_ms, deadline_ms, device, bytes});
//   if (const LiveAttempt* a = attempts.Find(result.attempt_id()); a && a->worker == from) ...
//   attempts.End(id);
//
// Not thread-safe: the core's one thread owns it.
#ifndef GENFARM_SCHEDULER_CORE_ATTEMPT_TABLE_H_
#define GENFARM_SCHEDULER_CORE_ATTEMPT_TABLE_H_

#include <cstdint>
#include <map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "common/ids.h"
#include "scheduler/core/state_sink.h"

namespace genfarm::scheduler {

struct LiveAttempt {
  TaskId task;
  WorkerId worker;
  int64_t start_ms = 0;
  int64_t deadline_ms = 0;     // 0 = no timeout
  int32_t device = -1;         // device index on the worker, -1 = CPU or unknown
  int64_t reserved_bytes = 0;  // device memory it holds
};

class AttemptTable {
 public:
  explicit AttemptTable(StateSink& sink) : sink_(sink) {}

  // A new attempt with a fresh id (persisted as the new high-water mark).
  int64_t Grant(const LiveAttempt& attempt);
  // An attempt recovered from the store under its old id.
  void Restore(int64_t id, const LiveAttempt& attempt);
  // After recovery: ids handed out just before a crash may not have reached the store, so
  // new ids start far past the stored mark and a late result can never match a new attempt.
  void RecoverHighWater(int64_t stored_high_water, bool skip_ahead);

  const LiveAttempt* Find(int64_t id) const;
  // Removes the attempt; false when it was not there.
  bool End(int64_t id);

  // The worker's attempts, lowest id first.
  std::vector<int64_t> OfWorker(const WorkerId& worker) const;
  size_t CountOf(const WorkerId& worker) const;
  // Attempts whose timeout deadline is at or before now, lowest id first.
  std::vector<int64_t> TimedOut(int64_t now_ms) const;
  const absl::flat_hash_map<int64_t, LiveAttempt>& all() const { return attempts_; }
  size_t size() const { return attempts_.size(); }

 private:
  StateSink& sink_;
  absl::flat_hash_map<int64_t, LiveAttempt> attempts_;
  std::map<WorkerId, absl::flat_hash_set<int64_t>> by_worker_;
  int64_t high_water_ = 0;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_ATTEMPT_TABLE_H_
