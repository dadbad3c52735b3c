#include "scheduler/sim/report.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace genfarm::sim {

std::string DescribeWorkload(const Workload& workload) {
  std::map<int64_t, int> by_memory;
  for (const SimDevice& d : workload.devices) by_memory[d.memory_bytes >> 30]++;
  std::string devices;
  for (const auto& [gib, n] : by_memory)
    absl::StrAppend(&devices, devices.empty() ? "" : " + ", n, "x", gib, "GB");
  int64_t frames = 0;
  for (const SimJob& job : workload.jobs) {
    const std::string& set = job.spec.stages(0).frames();
    int64_t a = 0, b = 0;
    if (std::sscanf(set.c_str(), "%ld-%ld", &a, &b) == 2) frames += b - a + 1;
  }
  const int64_t last = workload.jobs.empty() ? 0 : workload.jobs.back().arrival_ms;
  return absl::StrFormat(
      "%d jobs (%d frames) from %d projects over %.0f min, %d models, %d devices (%s)",
      workload.jobs.size(), frames, workload.projects.size(), last / 60000.0,
      workload.models.size(), workload.devices.size(), devices);
}

std::string FormatComparison(const SimResult& a, const SimResult& b) {
  std::string out;
  auto row = [&](const std::string& metric, const std::string& x, const std::string& y,
                 const std::string& ratio) {
    absl::StrAppend(&out,
                    absl::StrFormat("| %-38s | %14s | %14s | %-16s |\n", metric, x, y, ratio));
  };
  auto ratio = [](double x, double y, const char* what) {
    return y > 0 ? absl::StrFormat("%.2fx %s", x / y, what) : std::string("-");
  };
  row("metric", a.policy, b.policy, "");
  absl::StrAppend(&out, "|", std::string(40, '-'), "|", std::string(16, '-'), "|",
                  std::string(16, '-'), "|", std::string(18, '-'), "|\n");
  row("jobs finished", absl::StrCat(a.jobs_done, "/", a.jobs),
      absl::StrCat(b.jobs_done, "/", b.jobs), "");
  row("makespan (min)", absl::StrFormat("%.1f", a.makespan_s / 60),
      absl::StrFormat("%.1f", b.makespan_s / 60), ratio(a.makespan_s, b.makespan_s, "sooner"));
  row("mean job completion time (min)", absl::StrFormat("%.1f", a.mean_jct_s / 60),
      absl::StrFormat("%.1f", b.mean_jct_s / 60), ratio(a.mean_jct_s, b.mean_jct_s, "shorter"));
  row("p95 job completion time (min)", absl::StrFormat("%.1f", a.p95_jct_s / 60),
      absl::StrFormat("%.1f", b.p95_jct_s / 60), ratio(a.p95_jct_s, b.p95_jct_s, "shorter"));
  row("model loads", absl::StrCat(a.model_loads), absl::StrCat(b.model_loads),
      a.model_loads > 0
          ? absl::StrFormat("%.1f%% fewer", 100.0 * (1 - double(b.model_loads) / a.model_loads))
          : std::string("-"));
  row("device busy fraction", absl::StrFormat("%.1f%%", 100 * a.busy_fraction),
      absl::StrFormat("%.1f%%", 100 * b.busy_fraction), "");
  row("device time spent loading models", absl::StrFormat("%.1f%%", 100 * a.load_fraction),
      absl::StrFormat("%.1f%%", 100 * b.load_fraction), "");
  row("contention windows (min)", absl::StrFormat("%.1f", a.contention_s / 60),
      absl::StrFormat("%.1f", b.contention_s / 60), "");
  row("max fair-share error in contention", absl::StrFormat("%.1f%%", 100 * a.max_share_error),
      absl::StrFormat("%.1f%%", 100 * b.max_share_error), "");
  for (size_t i = 0; i < a.projects.size() && i < b.projects.size(); ++i) {
    row(absl::StrFormat("  %s share (fair %.1f%%)", a.projects[i].project,
                        100 * a.projects[i].fair_share),
        absl::StrFormat("%.1f%%", 100 * a.projects[i].share),
        absl::StrFormat("%.1f%%", 100 * b.projects[i].share), "");
  }
  row("preempted attempts", absl::StrCat(a.preemptions), absl::StrCat(b.preemptions), "");
  row("device time in preempted attempts", absl::StrFormat("%.1f%%", 100 * a.preempted_fraction),
      absl::StrFormat("%.1f%%", 100 * b.preempted_fraction), "");
  row("frames missing / written twice", absl::StrCat(a.frames_missing, " / ", a.frames_duplicated),
      absl::StrCat(b.frames_missing, " / ", b.frames_duplicated), "");
  return out;
}

}  // namespace genfarm::sim
