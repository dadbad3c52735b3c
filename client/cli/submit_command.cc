// `genfarm submit FILE`: check the spec locally, submit it, optionally follow it to the end.
#include <pwd.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/cli/commands.h"
#include "client/cli/format.h"
#include "client/cli/job_follow.h"
#include "client/cli/job_summary.h"
#include "common/job_spec.h"

namespace genfarm::client {
namespace {

// $USER, else the account name (cron and CI often run without USER set).
std::string CurrentUser() {
  if (const char* user = std::getenv("USER"); user != nullptr && *user != '\0') return user;
  if (const passwd* pw = getpwuid(getuid()); pw != nullptr) return pw->pw_name;
  return "";
}

absl::Status PrintSummary(CommandContext& ctx, int64_t job_id) {
  absl::StatusOr<v1::GetJobResponse> fetched = FetchJob(ctx, job_id, /*include_tasks=*/false);
  if (!fetched.ok()) return fetched.status();
  // Every failed task (paged), for the frames they did not write; the JSON lists a bounded
  // number of them.
  std::vector<v1::Task> failed;
  if (CountTasks(fetched->job(), v1::TASK_STATE_FAILED) > 0) {
    absl::StatusOr<std::vector<v1::Task>> tasks =
        FetchTasks(ctx, job_id, v1::TASK_STATE_FAILED, INT64_MAX);
    if (!tasks.ok()) return tasks.status();
    failed = *std::move(tasks);
  }
  *ctx.out << JobSummaryJson(fetched->job(), failed).dump(2) << "\n" << std::flush;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int> RunSubmit(CommandContext& ctx, const SubmitOptions& options) {
  // Nothing is sent unless the whole spec checks out.
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecFile(options.file);
  if (!spec.ok()) {
    std::string message(spec.status().message());
    if (!absl::StrContains(message, options.file))
      message = absl::StrCat(options.file, ": ", message);
    return absl::InvalidArgumentError(message);
  }
  if (options.priority) spec->set_priority(*options.priority);
  if (spec->submitter().empty()) spec->set_submitter(CurrentUser());

  grpc::ClientContext context;
  ctx.scheduler->SetDeadline(context);
  v1::SubmitJobRequest request;
  *request.mutable_spec() = *spec;
  request.set_idempotency_key(options.idempotency_key);
  v1::SubmitJobResponse response;
  grpc::Status status = ctx.scheduler->jobs().SubmitJob(&context, request, &response);
  if (!status.ok()) return ctx.scheduler->ToStatus(status);

  // With --json, stdout carries only the JSON summary; people read stderr.
  std::ostream& human = options.json ? *ctx.err : *ctx.out;
  bool human_tty = options.json ? ctx.err_is_tty : ctx.out_is_tty;
  if (response.created()) {
    human << "submitted job " << response.job_id() << " (" << spec->name() << ")\n";
  } else {
    human << "job " << response.job_id() << " (" << spec->name()
          << ") was already submitted with idempotency key " << options.idempotency_key << "\n";
  }
  human << std::flush;

  int exit_code = kExitOk;
  if (options.wait) {
    absl::StatusOr<v1::Job> job = FollowJob(ctx, response.job_id(), human, human_tty);
    if (!job.ok()) return job.status();
    exit_code = ExitCodeFor(*job);
    human << FormatJobOutcome(*job) << "\n";
    if (exit_code != kExitOk && !options.json) {
      absl::StatusOr<std::vector<v1::Task>> failed =
          FetchTasks(ctx, response.job_id(), v1::TASK_STATE_FAILED, kStatusTasksPerState);
      if (failed.ok()) {
        human << FormatFailedTasks(*failed, CountTasks(*job, v1::TASK_STATE_FAILED));
      }
    }
    human << std::flush;
  }
  if (options.json) {
    if (absl::Status s = PrintSummary(ctx, response.job_id()); !s.ok()) return s;
  }
  return exit_code;
}

}  // namespace genfarm::client
