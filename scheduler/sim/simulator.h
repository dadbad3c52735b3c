// Simulator: replays a Workload against the real SchedulerCore with one placement
// policy, on a fake clock, with simulated workers (SimWorker), and measures what a
// studio cares about: makespan, job completion times, model loads, how busy the
// devices were, and how device time was shared between projects under contention.
//
// Deterministic: the same workload and policy give the same result, bit for bit.
//
//   absl::BitGen gen(std::seed_seq{7});
//   Workload workload = GenerateWorkload(WorkloadOptions{}, gen);
//   FifoPolicy fifo;
//   SimResult r = RunSimulation(workload, fifo, "fifo", SimOptions{});
//
// Contention window: an interval during which every project has queued (runnable,
// unplaced) tasks, i.e. every project wants more of the farm than it holds. There,
// max-min fairness gives each project w(p) / sum(w) of the device time in use; a
// project's share is its device time (attempt time x 1/slots of the device) inside
// the windows over all device time used inside them.
#ifndef GENFARM_SCHEDULER_SIM_SIMULATOR_H_
#define GENFARM_SCHEDULER_SIM_SIMULATOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "scheduler/policy/placement_policy.h"
#include "scheduler/sim/workload.h"

namespace genfarm::sim {

struct SimOptions {
  int64_t tick_ms = 1000;                           // how often the core's Tick() runs
  int64_t usage_half_life_ms = 10 * 60 * 1000;      // CoreOptions::usage_half_life
  int64_t max_ms = int64_t{14} * 24 * 3600 * 1000;  // give up (a policy that never finishes)
  absl::flat_hash_map<std::string, double> project_weights;  // for the fair share; default 1
};

struct ProjectResult {
  std::string project;
  double weight = 1;
  double device_seconds = 0;             // over the whole run
  double contention_device_seconds = 0;  // inside contention windows
  double share = 0;                      // of device time inside contention windows
  double fair_share = 0;                 // w(p) / sum(w)
};

struct SimResult {
  std::string policy;
  int jobs = 0;
  int jobs_done = 0;
  double makespan_s = 0;  // first arrival to last job end
  double mean_jct_s = 0;  // job completion time: end - submission
  double p95_jct_s = 0;
  int64_t model_loads = 0;
  double busy_fraction = 0;    // device time in use / (devices x makespan)
  double load_fraction = 0;    // device time spent loading models / (devices x makespan)
  double contention_s = 0;     // total length of the contention windows
  double max_share_error = 0;  // max over projects of |share / fair_share - 1|
  int64_t preemptions = 0;
  double preempted_fraction =
      0;  // device time held by attempts later preempted / (devices x makespan)
  int64_t frames_expected = 0;
  int64_t frames_missing = 0;
  int64_t frames_duplicated = 0;
  std::vector<ProjectResult> projects;
};

SimResult RunSimulation(const Workload& workload, scheduler::PlacementPolicy& policy,
                        const std::string& policy_name, const SimOptions& options);

}  // namespace genfarm::sim

#endif  // GENFARM_SCHEDULER_SIM_SIMULATOR_H_
