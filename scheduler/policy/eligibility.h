// Eligibility: can this worker run one task of this group right now, and on which
// device? Shared by every PlacementPolicy so the rules live in one place.
//
//   DeviceChoice choice = ChooseDevice(group, worker);
//   if (choice.ok()) Place(group, worker, choice.device);
#ifndef GENFARM_SCHEDULER_POLICY_ELIGIBILITY_H_
#define GENFARM_SCHEDULER_POLICY_ELIGIBILITY_H_

#include <string>
#include <vector>

#include "scheduler/policy/placement_policy.h"

namespace genfarm::scheduler {

struct DeviceChoice {
  bool ok() const { return reason.empty(); }
  int32_t device = -1;         // -1 = CPU
  int64_t leftover_bytes = 0;  // free memory on the device after placing (tighter is better)
  std::string reason;          // why not, for users
};

// Static traits only (tags, model, device kinds, total memory): could this worker
// ever run the group? Ignores free slots and memory in use.
std::string WhyNeverEligible(const WorkGroup& group, const WorkerView& worker);

// Full check against free slots and free device memory. For gpus == 0 the tightest
// fitting GPU is preferred, then the CPU; gpus >= 1 needs that many CUDA devices.
DeviceChoice ChooseDevice(const WorkGroup& group, const WorkerView& worker);

// Takes the resources of one placement out of the worker view.
void Reserve(const WorkGroup& group, WorkerView& worker, int32_t device);

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_POLICY_ELIGIBILITY_H_
