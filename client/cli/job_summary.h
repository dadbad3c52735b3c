// The machine-readable summary `genfarm submit --json` prints for CI: one JSON object on stdout.
//
//   {"job_id": 17, "name": "sh010_dailies", "state": "failed", "ok": false,
//    "duration_seconds": 192.4, "frames_total": 480, "frames_done": 470, "frames_failed": 10,
//    "stages": [{"name": "upres", "frames_total": 240, "frames_done": 230, "frames_failed": 10,
//                "output": "/shots/sh010/up/up.%04d.exr",
//                "tasks": {"succeeded": 23, "failed": 1}}],
//    "failed_tasks": [{"index": 7, "stage": "upres", "frames": "1061-1070", "attempts": 3,
//                      "failure_reason": "input_missing", "worker": "gpu04",
//                      "message": "frame 1062: input ... not found"}],
//    "failed_tasks_total": 1, "outputs": ["/shots/sh010/up/up.%04d.exr"], "message": ""}
//
//   std::cout << JobSummaryJson(job, tasks).dump(2) << "\n";
#ifndef GENFARM_CLIENT_CLI_JOB_SUMMARY_H_
#define GENFARM_CLIENT_CLI_JOB_SUMMARY_H_

#include <cstddef>
#include <vector>

#include "genfarm/v1/types.pb.h"
#include "nlohmann/json.hpp"

namespace genfarm::client {

// `tasks` are the job's failed tasks (others are ignored), e.g. every task ListTasks returns
// with a failed filter; failed frames are counted from all of them, and `failed_tasks` lists the
// first kSummaryMaxFailedTasks (`failed_tasks_total` counts them all), so the summary of a
// 1,000,000-task job stays readable. `ok` is true only when the job succeeded.
inline constexpr size_t kSummaryMaxFailedTasks = 1000;
nlohmann::json JobSummaryJson(const v1::Job& job, const std::vector<v1::Task>& tasks);

}  // namespace genfarm::client

#endif  // GENFARM_CLIENT_CLI_JOB_SUMMARY_H_
