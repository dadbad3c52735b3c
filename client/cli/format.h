// Human-readable output of the `genfarm` CLI: tables, job status, the progress line of
// `watch` / `submit --wait`, log lines. Pure functions of protobuf messages and the time passed
// in, so every line a user sees is unit-tested without a scheduler.
//
//   RateEstimator rate;
//   rate.Observe(clock.Now(), TotalFramesDone(job));
//   std::cout << FormatProgressLine(job, rate.FramesPerSecond(),
//                                   rate.Eta(TotalFrames(job) - TotalFramesDone(job)));
#ifndef GENFARM_CLIENT_CLI_FORMAT_H_
#define GENFARM_CLIENT_CLI_FORMAT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/enum_names.h"
#include "genfarm/v1/farm_service.pb.h"
#include "genfarm/v1/job_service.pb.h"
#include "genfarm/v1/types.pb.h"

namespace genfarm::client {

// Enum names ("active", "input_missing", "batch") and their parsers are common/enum_names.h.

// True once the job can no longer change: succeeded, failed or canceled.
bool IsFinished(v1::JobState state);

// "45s", "1m05s", "2h03m", "3d04h".
std::string HumanDuration(absl::Duration d);
// "512B", "1.5KiB", "7.8GiB".
std::string HumanBytes(int64_t bytes);

// A task's frames in frame-set syntax (FrameSet::Format): "1001-1008", "1,5,10-20".
std::string TaskFrames(const v1::Task& task);

int64_t TotalFrames(const v1::Job& job);
int64_t TotalFramesDone(const v1::Job& job);

// One line, no newline:
//   job 17 sh010_upres active 160/480 33% | upres 120/240 3 running 1 failed | retime 40/240 |
//   2.5 frames/s ETA 2m08s
std::string FormatProgressLine(const v1::Job& job, std::optional<double> frames_per_second,
                               std::optional<absl::Duration> eta);

// The last line of `watch`: "job 17 (sh010_upres) succeeded: 480/480 frames in 3m12s".
std::string FormatJobOutcome(const v1::Job& job);

// `genfarm jobs`: one row per job, ages relative to `now`.
std::string FormatJobsTable(const std::vector<v1::Job>& jobs, absl::Time now);

// Tasks of each state `genfarm status` lists (it fetches no more: a job may have 1,000,000).
inline constexpr int kStatusTasksPerState = 20;

// `genfarm status`: header, per-stage progress, task state counts (all from the job's stage
// counters), then the failed and running tasks among `tasks` and those that cannot be placed,
// each list followed by "... N more" when the counters hold more tasks of that state than
// `tasks` does. `tasks` is a sample (e.g. the first kStatusTasksPerState of each state).
std::string FormatJobStatus(const v1::Job& job, const std::vector<v1::Task>& tasks, absl::Time now,
                            absl::TimeZone tz);

// Tasks of `state` in the job's stage counters.
int64_t CountTasks(const v1::Job& job, v1::TaskState state);

// One indented line per failed task, with its frames, attempts, reason and message; "" if none.
std::string FormatFailedTasks(const std::vector<v1::Task>& tasks);
// The same, then "  ... N more failed tasks" when `failed_total` exceeds those listed.
std::string FormatFailedTasks(const std::vector<v1::Task>& tasks, int64_t failed_total);

// `genfarm workers`: id, state, devices with memory, slots, loaded models, running tasks.
std::string FormatWorkersTable(const std::vector<v1::Worker>& workers);

// `genfarm logs`: "12:04:05 task 3 #41  frame 1042 done".
std::string FormatLogLine(const v1::LogLine& line, absl::TimeZone tz);

}  // namespace genfarm::client

#endif  // GENFARM_CLIENT_CLI_FORMAT_H_
