// genfarm-core-bench: dispatches/s of the scheduler core with durable state (SQLite WAL +
// StoreWriter group commit) against the core alone, and restart time over a million tasks.
// Parses flags and wires CoreBench (core_bench.h). Figures are printed, never asserted.
//
//   genfarm-core-bench --tasks 200000 --workers 64 --restart_jobs 100 --restart_tasks_per_job 10000
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "common/clock.h"
#include "common/flags_usage.h"
#include "scheduler/bench/bench_dir.h"
#include "scheduler/bench/core_bench.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(int64_t, tasks, 200'000, "dispatch: single-frame tasks in the one job");
ABSL_FLAG(int, workers, 64, "dispatch: simulated workers");
ABSL_FLAG(int, slots, 1, "dispatch: slots per worker");
ABSL_FLAG(int64_t, restart_jobs, 100, "restart: jobs in the store (0 skips the restart)");
ABSL_FLAG(int64_t, restart_tasks_per_job, 10'000, "restart: single-frame tasks per job");
ABSL_FLAG(std::string, dir, "",
          "folder for the SQLite data directories (default: a temporary folder, removed after)");
ABSL_FLAG(std::string, log_level, "warn", "trace, debug, info, warn, error");

int main(int argc, char** argv) {
  using namespace genfarm::scheduler;  // NOLINT(build/namespaces): main only
  genfarm::SetFlagsUsage(
      "genfarm-core-bench",
      "the scheduler core benchmark: dispatches/s with durable state vs the core alone, and "
      "restart time (Open + Load + Recover).");
  absl::ParseCommandLine(argc, argv);
  spdlog::set_level(spdlog::level::from_str(absl::GetFlag(FLAGS_log_level)));

  CoreBenchOptions options;
  options.tasks = absl::GetFlag(FLAGS_tasks);
  options.workers = absl::GetFlag(FLAGS_workers);
  options.slots = absl::GetFlag(FLAGS_slots);
  options.restart_jobs = absl::GetFlag(FLAGS_restart_jobs);
  options.restart_tasks_per_job = absl::GetFlag(FLAGS_restart_tasks_per_job);
  options.on_step = [](const std::string& line) { std::cerr << "... " << line << "\n"; };
  BenchDir dir(absl::GetFlag(FLAGS_dir), "genfarm-core-bench");
  if (!dir.ok()) return 1;
  options.dir = dir.path();
  absl::StatusOr<CoreBenchReport> report = RunCoreBench(options, genfarm::RealClock::Get());
  if (!report.ok()) {
    std::cerr << "genfarm-core-bench: " << report.status().message() << "\n";
    return 1;
  }
  std::cout << FormatCoreBenchReport(*report) << std::flush;
  return 0;
}
