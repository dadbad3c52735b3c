// PlacementPolicy: decides which queued work runs on which free worker slot. The
// scheduler core (mechanism) builds a FarmView of runnable work groups and free
// workers, asks the policy for placements, and carries them out. Policies are pure:
// no clocks, no I/O, same input -> same output, so they are unit-tested with small
// explicit scenarios and replayed by the simulator.
//
//   GenFarmPolicy policy(PolicyConfig{});
//   FarmView view = ...;   // groups with queued tasks, workers with free slots
//   for (const Placement& p : policy.Place(view)) core.Assign(p);
#ifndef GENFARM_SCHEDULER_POLICY_PLACEMENT_POLICY_H_
#define GENFARM_SCHEDULER_POLICY_PLACEMENT_POLICY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "genfarm/v1/types.pb.h"

namespace genfarm::scheduler {

// Queued tasks of one stage of one job: they share every placement-relevant trait.
struct WorkGroup {
  int64_t job_id = 0;
  int32_t stage = 0;
  std::string project;
  v1::Tier tier = v1::TIER_BATCH;
  int32_t priority = 50;
  int64_t submit_ms = 0;         // job submission time (age)
  int64_t oldest_queued_ms = 0;  // when the longest-waiting task became runnable
  int64_t last_start_ms = 0;     // when a task of the group last started (0 = never)
  std::string model;             // empty for stages that need no model (dailies)
  std::vector<std::string> tags;
  int32_t gpus = 0;                                  // devices one task needs; 0 = CPU is fine
  int64_t memory_bytes = 0;                          // device memory one task needs
  int64_t queued = 0;                                // runnable tasks in the group
  absl::flat_hash_set<std::string> blocked_workers;  // workers kept off this job
};

struct DeviceView {
  int32_t index = -1;  // -1 = the CPU
  std::string kind;    // "cuda" or "cpu"
  int64_t memory_total_bytes = 0;
  int64_t memory_free_bytes = 0;  // total minus what running attempts reserve
};

struct WorkerView {
  std::string id;
  int32_t free_slots = 0;
  absl::flat_hash_set<std::string> tags;
  absl::flat_hash_set<std::string> models;         // available in its repository
  absl::flat_hash_set<std::string> loaded_models;  // warm in its cache
  std::vector<DeviceView> devices;
};

// What each project is using now; fair share compares it with the project's weight.
struct ProjectUsage {
  double running_slots = 0;  // slots its attempts hold now
  double decayed_usage = 0;  // recent slot-seconds, decayed (see the policy)
};

struct FarmView {
  std::vector<WorkGroup> groups;
  std::vector<WorkerView> workers;
  absl::flat_hash_map<std::string, ProjectUsage> projects;
  // Online workers (busy or not) holding each model warm. Lets a policy tell "a warm
  // worker will free up" from "nobody has it warm": waiting only helps in the first case.
  absl::flat_hash_map<std::string, int32_t> warm_workers;
  int64_t now_ms = 0;
};

// One running attempt, as preemption sees it.
struct RunningAttempt {
  int64_t attempt_id = 0;
  size_t worker = 0;  // index into PreemptionView::workers
  int32_t device = -1;
  std::string project;
  v1::Tier tier = v1::TIER_BATCH;
  int32_t priority = 50;
  int64_t start_ms = 0;
  int64_t memory_bytes = 0;  // what the attempt reserves on its device
};

// What the core shows a policy when deciding preemption: the work still queued after
// placement (every tier), every online worker (with what is free on it now, full ones
// included), the attempts running on them, and each project's decayed usage (the
// policy counts running slots from `running`).
struct PreemptionView {
  std::vector<WorkGroup> waiting;
  std::vector<WorkerView> workers;
  std::vector<RunningAttempt> running;
  absl::flat_hash_map<std::string, ProjectUsage> projects;
  int64_t now_ms = 0;
};

struct Placement {
  size_t group = 0;     // index into FarmView::groups
  size_t worker = 0;    // index into FarmView::workers
  int32_t device = -1;  // device index on that worker, -1 = CPU
};

class PlacementPolicy {
 public:
  virtual ~PlacementPolicy() = default;

  // Placements for as many queued tasks as fit; each placement takes one task of its
  // group and one slot (and the group's memory on the chosen device) of its worker.
  virtual std::vector<Placement> Place(const FarmView& view) = 0;

  // Why no worker in `view` could ever take this group (empty when one could, given
  // free slots). Shown to users in `genfarm status` so work never waits silently.
  virtual std::string WhyUnplaceable(const WorkGroup& group,
                                     const std::vector<WorkerView>& all_workers) const = 0;

  // Attempts to preempt so that waiting work can start (higher tiers; GenFarmPolicy
  // also starved projects' batch work); the core cancels
  // them (reason PREEMPTED), requeues their tasks without charging a retry and keeps
  // their finished frames. Default: never preempt.
  virtual std::vector<int64_t> Preempt(const PreemptionView& view) { return {}; }
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_POLICY_PLACEMENT_POLICY_H_
