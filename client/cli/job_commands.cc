// Commands on one job or the job list: watch, jobs, status, logs, cancel/pause/resume, retry,
// priority.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/cli/commands.h"
#include "client/cli/format.h"
#include "client/cli/job_follow.h"

namespace genfarm::client {

absl::StatusOr<int> RunWatch(CommandContext& ctx, int64_t job_id) {
  absl::StatusOr<v1::Job> job = FollowJob(ctx, job_id, *ctx.out, ctx.out_is_tty);
  if (!job.ok()) return job.status();
  *ctx.out << FormatJobOutcome(*job) << "\n" << std::flush;
  return ExitCodeFor(*job);
}

absl::StatusOr<int> RunJobs(CommandContext& ctx, const JobsOptions& options) {
  if (options.limit <= 0) return absl::InvalidArgumentError("--limit must be at least 1");
  v1::ListJobsRequest request;
  request.set_project(options.project);
  if (!options.state.empty()) {
    std::optional<v1::JobState> state = ParseJobState(options.state);
    if (!state) {
      return absl::InvalidArgumentError(absl::StrCat("unknown job state '", options.state,
                                                     "' (expected one of ",
                                                     absl::StrJoin(JobStateNames(), ", "), ")"));
    }
    request.set_state(*state);
  }
  std::vector<v1::Job> jobs;
  do {
    request.set_page_size(std::min(1000, options.limit - static_cast<int>(jobs.size())));
    grpc::ClientContext context;
    ctx.scheduler->SetDeadline(context);
    v1::ListJobsResponse response;
    grpc::Status status = ctx.scheduler->jobs().ListJobs(&context, request, &response);
    if (!status.ok()) return ctx.scheduler->ToStatus(status);
    for (const auto& job : response.jobs()) {
      if (static_cast<int>(jobs.size()) < options.limit) jobs.push_back(job);
    }
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty() && static_cast<int>(jobs.size()) < options.limit);
  if (jobs.empty()) {
    *ctx.err << "no jobs\n";
    return kExitOk;
  }
  *ctx.out << FormatJobsTable(jobs, ctx.clock->Now()) << std::flush;
  return kExitOk;
}

absl::StatusOr<int> RunStatus(CommandContext& ctx, int64_t job_id) {
  absl::StatusOr<v1::GetJobResponse> fetched = FetchJob(ctx, job_id, /*include_tasks=*/false);
  if (!fetched.ok()) return fetched.status();
  // The counters come with the job; the tasks worth a line (failed, running, waiting with a
  // reason) are fetched by state, a few of each, whatever the size of the job.
  std::vector<v1::Task> tasks;
  for (v1::TaskState state : {v1::TASK_STATE_FAILED, v1::TASK_STATE_RUNNING, v1::TASK_STATE_QUEUED,
                              v1::TASK_STATE_BLOCKED, v1::TASK_STATE_WAITING}) {
    if (CountTasks(fetched->job(), state) == 0) continue;
    absl::StatusOr<std::vector<v1::Task>> some =
        FetchTasks(ctx, job_id, state, kStatusTasksPerState);
    if (!some.ok()) return some.status();
    tasks.insert(tasks.end(), some->begin(), some->end());
  }
  *ctx.out << FormatJobStatus(fetched->job(), tasks, ctx.clock->Now(), ctx.tz) << std::flush;
  return kExitOk;
}

absl::StatusOr<int> RunLogs(CommandContext& ctx, int64_t job_id, std::optional<int> task) {
  grpc::ClientContext context;
  ctx.scheduler->SetDeadline(context);
  v1::GetTaskLogRequest request;
  request.set_job_id(job_id);
  request.set_task_index(task.value_or(-1));
  v1::GetTaskLogResponse response;
  grpc::Status status = ctx.scheduler->jobs().GetTaskLog(&context, request, &response);
  if (!status.ok()) return ctx.scheduler->ToStatus(status);
  if (response.lines().empty()) {
    *ctx.err << "no log lines for job " << job_id;
    if (task) *ctx.err << " task " << *task;
    *ctx.err << "\n";
  }
  for (const auto& line : response.lines()) *ctx.out << FormatLogLine(line, ctx.tz) << "\n";
  *ctx.out << std::flush;
  return kExitOk;
}

absl::StatusOr<int> RunJobAction(CommandContext& ctx, JobAction action, int64_t job_id) {
  grpc::ClientContext context;
  ctx.scheduler->SetDeadline(context);
  v1::JobRequest request;
  request.set_job_id(job_id);
  v1::JobResponse response;
  grpc::Status status;
  switch (action) {
    case JobAction::kCancel:
      status = ctx.scheduler->jobs().CancelJob(&context, request, &response);
      break;
    case JobAction::kPause:
      status = ctx.scheduler->jobs().PauseJob(&context, request, &response);
      break;
    case JobAction::kResume:
      status = ctx.scheduler->jobs().ResumeJob(&context, request, &response);
      break;
  }
  if (!status.ok()) return ctx.scheduler->ToStatus(status);
  *ctx.out << "job " << response.job().id() << " (" << response.job().spec().name()
           << "): " << JobStateName(response.job().state()) << "\n"
           << std::flush;
  return kExitOk;
}

absl::StatusOr<int> RunRetry(CommandContext& ctx, int64_t job_id, bool failed_only,
                             const std::vector<int>& tasks) {
  grpc::ClientContext context;
  ctx.scheduler->SetDeadline(context);
  v1::RetryTasksRequest request;
  request.set_job_id(job_id);
  request.set_failed_only(failed_only || tasks.empty());
  for (int task : tasks) request.add_task_indexes(task);
  v1::RetryTasksResponse response;
  grpc::Status status = ctx.scheduler->jobs().RetryTasks(&context, request, &response);
  if (!status.ok()) return ctx.scheduler->ToStatus(status);
  *ctx.out << "retrying " << response.retried() << (response.retried() == 1 ? " task" : " tasks")
           << " of job " << job_id << "\n"
           << std::flush;
  return kExitOk;
}

absl::StatusOr<int> RunSetPriority(CommandContext& ctx, int64_t job_id, int priority) {
  grpc::ClientContext context;
  ctx.scheduler->SetDeadline(context);
  v1::SetPriorityRequest request;
  request.set_job_id(job_id);
  request.set_priority(priority);
  v1::JobResponse response;
  grpc::Status status = ctx.scheduler->jobs().SetPriority(&context, request, &response);
  if (!status.ok()) return ctx.scheduler->ToStatus(status);
  *ctx.out << "job " << response.job().id() << " (" << response.job().spec().name()
           << "): priority " << response.job().spec().priority() << "\n"
           << std::flush;
  return kExitOk;
}

}  // namespace genfarm::client
