// genfarm-sim: replays a seeded workload on a simulated farm with FIFO and with
// GenFarm's policy and prints the comparison table. See docs/scheduling.md.
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "common/flags_usage.h"
#include "scheduler/sim/comparison.h"
#include "scheduler/sim/report.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(uint64_t, seed, 1, "workload seed");
ABSL_FLAG(int, jobs, 240, "jobs in the workload");
ABSL_FLAG(int, projects, 8, "projects (equal fair-share weight)");
ABSL_FLAG(int, devices, 64, "GPUs, split 3:3:2 over 24, 48 and 80 GB");
ABSL_FLAG(double, arrival_minutes, 5, "jobs arrive uniformly over this many minutes");
ABSL_FLAG(int, min_frames, 48, "shortest shot (frames)");
ABSL_FLAG(int, max_frames, 192, "longest shot (frames)");
ABSL_FLAG(int, chunk, 4, "frames per task");
ABSL_FLAG(double, affinity_wait_seconds, 60,
          "GenFarm: how long batch work waits for a warm worker (0 = never)");
ABSL_FLAG(double, history_weight, 0.25,
          "GenFarm: weight of decayed usage in the fair-share deficit (0-1)");
ABSL_FLAG(double, fair_share_preempt_seconds, 15,
          "GenFarm: a starved project's batch work waiting this long preempts over-share batch "
          "work (0 = never)");
ABSL_FLAG(double, starved_fraction, 0.8,
          "GenFarm: a project below this fraction of its fair share is starved");
ABSL_FLAG(double, half_life_minutes, 10, "half-life of each project's decayed usage");

int main(int argc, char** argv) {
  genfarm::SetFlagsUsage("genfarm-sim", "Compares FIFO and GenFarm placement on a simulated farm.");
  absl::ParseCommandLine(argc, argv);
  spdlog::set_level(spdlog::level::warn);
  genfarm::sim::WorkloadOptions options;
  options.jobs = absl::GetFlag(FLAGS_jobs);
  options.projects = absl::GetFlag(FLAGS_projects);
  options.devices = absl::GetFlag(FLAGS_devices);
  options.arrival_window_ms = static_cast<int64_t>(absl::GetFlag(FLAGS_arrival_minutes) * 60'000);
  options.min_frames = absl::GetFlag(FLAGS_min_frames);
  options.max_frames = absl::GetFlag(FLAGS_max_frames);
  options.chunk = absl::GetFlag(FLAGS_chunk);
  if (options.jobs < 1 || options.projects < 1 || options.devices < 1 || options.chunk < 1 ||
      options.min_frames < 1 || options.max_frames < options.min_frames) {
    std::cerr
        << "genfarm-sim: --jobs, --projects, --devices, --chunk and --min_frames must be positive, "
           "and --max_frames at least --min_frames\n";
    return 2;
  }
  genfarm::scheduler::PolicyConfig config = genfarm::sim::RecommendedPolicyConfig();
  config.affinity_wait_ms = static_cast<int64_t>(absl::GetFlag(FLAGS_affinity_wait_seconds) * 1000);
  config.history_weight = absl::GetFlag(FLAGS_history_weight);
  config.fair_share_preempt_after_ms =
      static_cast<int64_t>(absl::GetFlag(FLAGS_fair_share_preempt_seconds) * 1000);
  config.starved_fraction = absl::GetFlag(FLAGS_starved_fraction);
  genfarm::sim::SimOptions sim;
  sim.usage_half_life_ms = static_cast<int64_t>(absl::GetFlag(FLAGS_half_life_minutes) * 60'000);
  genfarm::sim::Comparison c =
      genfarm::sim::RunComparison(options, absl::GetFlag(FLAGS_seed), config, sim);
  std::cout << "workload: " << genfarm::sim::DescribeWorkload(c.workload) << ", seed "
            << absl::GetFlag(FLAGS_seed) << "\n\n"
            << genfarm::sim::FormatComparison(c.fifo, c.genfarm);
  return 0;
}
