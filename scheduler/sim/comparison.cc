#include "scheduler/sim/comparison.h"

#include <random>

namespace genfarm::sim {

scheduler::PolicyConfig RecommendedPolicyConfig() {
  scheduler::PolicyConfig config;
  config.affinity_wait_ms = 60'000;
  config.fair_share_preempt_after_ms = 15'000;
  return config;
}

Comparison RunComparison(const WorkloadOptions& options, uint64_t seed,
                         const scheduler::PolicyConfig& config, const SimOptions& sim_options) {
  Comparison c;
  // absl::BitGen salts its seed per process on purpose; a seeded standard engine
  // (through BitGenRef) makes the workload reproducible from the seed alone.
  std::mt19937_64 gen(seed);
  c.workload = GenerateWorkload(options, gen);
  SimOptions sim = sim_options;
  sim.project_weights = config.project_weights;
  scheduler::FifoPolicy fifo;
  c.fifo = RunSimulation(c.workload, fifo, "FIFO", sim);
  scheduler::GenFarmPolicy genfarm(config);
  c.genfarm = RunSimulation(c.workload, genfarm, "GenFarm", sim);
  return c;
}

}  // namespace genfarm::sim
