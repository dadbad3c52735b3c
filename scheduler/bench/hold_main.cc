// genfarm-core-hold-bench: the longest time one request at the API's caps held the scheduler
// core's thread (CoreHoldBench, core_hold_bench.h), against a one-task submit. Figures are
// printed, never asserted.
//
//   genfarm-core-hold-bench --tasks 1000000
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "common/flags_usage.h"
#include "scheduler/bench/bench_dir.h"
#include "scheduler/bench/core_hold_bench.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(int64_t, tasks, 1'000'000, "tasks of the big job (one frame each)");
ABSL_FLAG(std::string, dir, "",
          "folder for the scheduler's data directory (default: a temporary folder, removed after)");
ABSL_FLAG(std::string, log_level, "warn", "trace, debug, info, warn, error");

int main(int argc, char** argv) {
  using namespace genfarm::scheduler;  // NOLINT(build/namespaces): main only
  genfarm::SetFlagsUsage("genfarm-core-hold-bench",
                         "the longest time one request at the caps held the scheduler core's "
                         "thread, per request, against a one-task submit.");
  absl::ParseCommandLine(argc, argv);
  spdlog::set_level(spdlog::level::from_str(absl::GetFlag(FLAGS_log_level)));
  CoreHoldOptions options;
  options.tasks = absl::GetFlag(FLAGS_tasks);
  options.on_step = [](const std::string& line) { std::cerr << "... " << line << "\n"; };
  BenchDir dir(absl::GetFlag(FLAGS_dir), "genfarm-core-hold-bench");
  if (!dir.ok()) return 1;
  options.dir = dir.path();
  absl::StatusOr<CoreHoldReport> report = RunCoreHoldBench(options);
  if (!report.ok()) {
    std::cerr << "genfarm-core-hold-bench: " << report.status().message() << "\n";
    return 1;
  }
  std::cout << FormatCoreHoldReport(*report) << std::flush;
  return 0;
}
