// CoreHoldBench: the longest time one request held the scheduler core's thread, for
// requests at the API's caps (a 1,000,000-task job submitted, read, watched, paused,
// resumed, canceled and retried; a retime writing the most frames a stage may; a worker
// hello with the most models). A real SchedulerServer (SQLite store, gRPC on loopback)
// times every closure its core thread runs, in wall and in the thread's CPU time
// (SchedulerServerOptions::on_core_run; on a loaded machine wall time includes waiting for
// a core, so CPU time is what the request cost the core thread); each
// request is sent alone and followed until its effects settled (background sweeps
// included), and the longest closure in that window is its figure. A one-task submit in
// the same run is the baseline. Figures only, never asserted (docs/benchmarks.md).
//
//   CoreHoldOptions options;
//   options.dir = "/tmp/genfarm-hold";   // must exist
//   GENFARM_ASSIGN_OR_RETURN(CoreHoldReport report, RunCoreHoldBench(options));
//   std::cout << FormatCoreHoldReport(report);
#ifndef GENFARM_SCHEDULER_BENCH_CORE_HOLD_BENCH_H_
#define GENFARM_SCHEDULER_BENCH_CORE_HOLD_BENCH_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace genfarm::scheduler {

struct CoreHoldOptions {
  std::string dir;            // the scheduler's data directory goes under it; must exist
  int64_t tasks = 1'000'000;  // tasks of the big job (one frame each)
  std::function<void(const std::string&)> on_step;  // progress lines (optional)
};

struct HoldFigure {
  std::string request;
  absl::Duration longest_hold;  // longest closure on the core thread while it ran (wall)
  absl::Duration longest_cpu;   // ... in the core thread's CPU time (load does not inflate it)
  absl::Duration reply;         // request sent .. reply (or first event) received
  absl::Duration settled;       // request sent .. its effects done (sweeps included)
  std::string error;            // why the request failed (empty: it did not)
};

struct CoreHoldReport {
  int64_t tasks = 0;
  HoldFigure baseline;  // a one-task submit
  std::vector<HoldFigure> figures;
  double load_before = 0;  // the machine's 1-minute load average around the run
  double load_after = 0;
  absl::Duration Longest() const;     // wall
  absl::Duration LongestCpu() const;  // CPU
};

absl::StatusOr<CoreHoldReport> RunCoreHoldBench(const CoreHoldOptions& options);
std::string FormatCoreHoldReport(const CoreHoldReport& report);

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_BENCH_CORE_HOLD_BENCH_H_
