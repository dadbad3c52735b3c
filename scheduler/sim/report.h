// Comparison table of two simulation runs (baseline vs candidate), as printed by
// genfarm-sim and copied into docs/scheduling.md.
//
//   std::cout << FormatComparison(fifo_result, genfarm_result);
#ifndef GENFARM_SCHEDULER_SIM_REPORT_H_
#define GENFARM_SCHEDULER_SIM_REPORT_H_

#include <string>

#include "scheduler/sim/simulator.h"
#include "scheduler/sim/workload.h"

namespace genfarm::sim {

// One line describing the farm and the job stream.
std::string DescribeWorkload(const Workload& workload);

// A Markdown table: one row per metric, one column per run, plus the ratio.
std::string FormatComparison(const SimResult& baseline, const SimResult& candidate);

}  // namespace genfarm::sim

#endif  // GENFARM_SCHEDULER_SIM_REPORT_H_
