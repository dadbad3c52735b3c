// Comparison: the experiment genfarm-sim runs and tests/sim asserts on. One seeded
// workload, replayed twice on identical simulated farms: once with FifoPolicy (what a
// traditional farm does: oldest job first, first free worker, no warm models) and
// once with GenFarmPolicy.
//
//   Comparison c = RunComparison(WorkloadOptions{}, /*seed=*/1, RecommendedPolicyConfig());
//   std::cout << FormatComparison(c.fifo, c.genfarm);
#ifndef GENFARM_SCHEDULER_SIM_COMPARISON_H_
#define GENFARM_SCHEDULER_SIM_COMPARISON_H_

#include <cstdint>

#include "scheduler/policy/genfarm_policy.h"
#include "scheduler/sim/simulator.h"
#include "scheduler/sim/workload.h"

namespace genfarm::sim {

struct Comparison {
  Workload workload;
  SimResult fifo;
  SimResult genfarm;
};

// GenFarmPolicy as the simulator (and docs/scheduling.md) runs it: PolicyConfig's
// defaults plus a 60 s wait for a warm worker and fair-share preemption after 15 s.
scheduler::PolicyConfig RecommendedPolicyConfig();

Comparison RunComparison(const WorkloadOptions& options, uint64_t seed,
                         const scheduler::PolicyConfig& config,
                         const SimOptions& sim = SimOptions{});

}  // namespace genfarm::sim

#endif  // GENFARM_SCHEDULER_SIM_COMPARISON_H_
