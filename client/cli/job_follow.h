// Fetching and following one job, shared by `watch`, `status` and `submit --wait`.
//
//   GENFARM_ASSIGN_OR_RETURN(v1::Job job, FollowJob(ctx, 17, std::cerr, /*tty=*/true));
//   return ExitCodeFor(job);
#ifndef GENFARM_CLIENT_CLI_JOB_FOLLOW_H_
#define GENFARM_CLIENT_CLI_JOB_FOLLOW_H_

#include <cstdint>
#include <ostream>
#include <vector>

#include "absl/status/statusor.h"
#include "client/cli/commands.h"
#include "genfarm/v1/job_service.pb.h"

namespace genfarm::client {

// GetJob with the call deadline. With include_tasks a job of more than 10,000 tasks is
// refused by the scheduler: use FetchTasks.
absl::StatusOr<v1::GetJobResponse> FetchJob(CommandContext& ctx, int64_t job_id,
                                            bool include_tasks);

// Up to `limit` tasks of the job in `state` (TASK_STATE_UNSPECIFIED: any), in index order:
// pages ListTasks (each call bounded by the scheduler) until it has `limit` or the pages
// end. Each call has the call deadline.
absl::StatusOr<std::vector<v1::Task>> FetchTasks(CommandContext& ctx, int64_t job_id,
                                                 v1::TaskState state, int64_t limit);

// Follows WatchJob until the job ends and returns its final state. Draws the progress line on
// `progress`: rewritten in place when `tty`, else one line per change. Rides out a scheduler
// restart by reconnecting a few times with backoff.
absl::StatusOr<v1::Job> FollowJob(CommandContext& ctx, int64_t job_id, std::ostream& progress,
                                  bool tty);

// kExitOk when the job succeeded, kExitJobFailed otherwise.
int ExitCodeFor(const v1::Job& job);

}  // namespace genfarm::client

#endif  // GENFARM_CLIENT_CLI_JOB_FOLLOW_H_
