// Workload: the farm and the jobs the simulator replays. Generated from a seed, so the
// same options and seed give the same farm and the same job stream for every policy.
//
//   std::mt19937_64 gen(42);  // any URBG; absl::BitGen is salted per process
//   Workload w = GenerateWorkload(WorkloadOptions{}, gen);
//   // w.devices: 64 GPUs of 24/48/80 GB; w.jobs: 240 jobs from 8 projects, 6 models.
#ifndef GENFARM_SCHEDULER_SIM_WORKLOAD_H_
#define GENFARM_SCHEDULER_SIM_WORKLOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "genfarm/v1/types.pb.h"

namespace genfarm::sim {

// A model as the simulated workers see it. Times are for a device of speed 1.0
// running one task alone.
struct SimModel {
  std::string name;
  int64_t memory_bytes = 0;  // device memory estimate (manifest)
  int64_t load_ms = 0;       // read weights, move to the device, warm up
  int64_t frame_ms = 0;      // one frame through the model
};

// One GPU, run by its own worker daemon.
struct SimDevice {
  std::string id;  // worker id, e.g. "gpu-80g-03"
  int64_t memory_bytes = 0;
  double speed = 1.0;  // relative throughput
  int32_t slots = 1;   // concurrent tasks; each gets a fixed share of the device
};

struct SimJob {
  int64_t arrival_ms = 0;  // since the start of the simulation
  v1::JobSpec spec;
};

struct Workload {
  std::vector<SimModel> models;
  std::vector<SimDevice> devices;
  std::vector<SimJob> jobs;  // by arrival time
  std::vector<std::string> projects;
};

struct WorkloadOptions {
  int jobs = 240;
  int projects = 8;
  int devices = 64;                           // split 3:3:2 over 24, 48 and 80 GB devices
  int64_t arrival_window_ms = 5 * 60 * 1000;  // jobs arrive uniformly over this window
  int min_frames = 48;                        // shot length: 2 s at 24 fps ...
  int max_frames = 192;                       // ... to 8 s
  int chunk = 4;                              // frames per task
};

// The six models of the default workload (see docs/scheduling.md for the sources of
// the numbers).
std::vector<SimModel> DefaultModels();

Workload GenerateWorkload(const WorkloadOptions& options, absl::BitGenRef gen);

// Throughput of a device running `slots` tasks at once, relative to one task alone:
// 1.0 for one slot, 1.2 for two (a second task fills the gaps of the first).
double SlotThroughput(int32_t slots);

}  // namespace genfarm::sim

#endif  // GENFARM_SCHEDULER_SIM_WORKLOAD_H_
