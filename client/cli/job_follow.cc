#include "client/cli/job_follow.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "client/cli/format.h"
#include "client/cli/rate_estimator.h"
#include "common/backoff.h"

namespace genfarm::client {
namespace {

constexpr int kMaxReconnects = 5;
constexpr int64_t kMaxTasksPerCall = 10'000;  // ListTasks' largest page

// 1, 2, 4, 8, 16 s: long enough to ride out a scheduler restart. No jitter: a few people
// watching jobs do not stampede a scheduler the way a farm of workers would, and the
// message says exactly how long the wait is.
BackoffOptions ReconnectBackoff() {
  BackoffOptions options;
  options.initial = absl::Seconds(1);
  options.max = absl::Seconds(16);
  options.jitter = 0;
  return options;
}

}  // namespace

absl::StatusOr<v1::GetJobResponse> FetchJob(CommandContext& ctx, int64_t job_id,
                                            bool include_tasks) {
  grpc::ClientContext context;
  ctx.scheduler->SetDeadline(context);
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  request.set_include_tasks(include_tasks);
  v1::GetJobResponse response;
  grpc::Status status = ctx.scheduler->jobs().GetJob(&context, request, &response);
  if (!status.ok()) return ctx.scheduler->ToStatus(status);
  return response;
}

absl::StatusOr<std::vector<v1::Task>> FetchTasks(CommandContext& ctx, int64_t job_id,
                                                 v1::TaskState state, int64_t limit) {
  std::vector<v1::Task> tasks;
  v1::ListTasksRequest request;
  request.set_job_id(job_id);
  request.set_state(state);
  while (static_cast<int64_t>(tasks.size()) < limit) {
    request.set_page_size(static_cast<int32_t>(
        std::min<int64_t>(kMaxTasksPerCall, limit - static_cast<int64_t>(tasks.size()))));
    grpc::ClientContext context;
    ctx.scheduler->SetDeadline(context);
    v1::ListTasksResponse response;
    grpc::Status status = ctx.scheduler->jobs().ListTasks(&context, request, &response);
    if (!status.ok()) return ctx.scheduler->ToStatus(status);
    for (v1::Task& task : *response.mutable_tasks()) tasks.push_back(std::move(task));
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  if (static_cast<int64_t>(tasks.size()) > limit) tasks.resize(limit);
  return tasks;
}

absl::StatusOr<v1::Job> FollowJob(CommandContext& ctx, int64_t job_id, std::ostream& progress,
                                  bool tty) {
  RateEstimator rate;
  std::string last_line;
  bool seeded = false;
  absl::InsecureBitGen unused_bitgen;  // no jitter, never drawn
  ExponentialBackoff backoff(ReconnectBackoff(), unused_bitgen);
  v1::Job job;
  bool have_job = false;
  auto end_line = [&] {
    if (tty && !last_line.empty()) progress << "\n" << std::flush;
    last_line.clear();
  };
  while (true) {
    // No deadline: a job may run for hours.
    grpc::ClientContext context;
    v1::WatchJobRequest request;
    request.set_job_id(job_id);
    std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader =
        ctx.scheduler->jobs().WatchJob(&context, request);
    v1::JobEvent event;
    while (reader->Read(&event)) {
      backoff.Reset();
      job = event.job();
      have_job = true;
      absl::Time now = ctx.clock->Now();
      if (!seeded) {
        // Until the window fills, estimate from the job's start so a half-done job shows a rate
        // at once.
        absl::Time start = absl::FromUnixMillis(job.start_time_ms());
        if (job.start_time_ms() > 0 && start < now) rate.Observe(start, 0);
        seeded = true;
      }
      rate.Observe(now, TotalFramesDone(job));
      std::string line = FormatProgressLine(job, rate.FramesPerSecond(),
                                            rate.Eta(TotalFrames(job) - TotalFramesDone(job)));
      if (tty) {
        progress << "\r\033[K" << line << std::flush;
      } else if (line != last_line) {
        progress << line << "\n" << std::flush;
      }
      last_line = line;
      // No break on a finished state: the scheduler closes the stream after the job's last
      // event, once its counters are final (a canceled job's tasks are canceled in slices).
    }
    grpc::Status status = reader->Finish();
    if (have_job && IsFinished(job.state())) {
      end_line();
      return job;
    }
    if (!status.ok() && status.error_code() != grpc::StatusCode::UNAVAILABLE) {
      end_line();
      return ctx.scheduler->ToStatus(status);
    }
    if (status.ok()) {
      // The scheduler closed the stream; the job may have ended between events.
      absl::StatusOr<v1::GetJobResponse> fetched = FetchJob(ctx, job_id, false);
      if (fetched.ok() && IsFinished(fetched->job().state())) {
        end_line();
        return fetched->job();
      }
    }
    if (backoff.failures() >= kMaxReconnects || !have_job) {
      end_line();
      if (!status.ok()) return ctx.scheduler->ToStatus(status);
      return absl::UnavailableError(absl::StrCat("scheduler at ", ctx.scheduler->address(),
                                                 " kept closing the watch of job ", job_id,
                                                 " before it ended"));
    }
    const absl::Duration delay = backoff.Next();
    end_line();
    *ctx.err << "genfarm: lost the scheduler at " << ctx.scheduler->address()
             << ", reconnecting in " << HumanDuration(delay) << "\n";
    ctx.clock->SleepUntil(ctx.clock->Now() + delay, nullptr);
  }
}

int ExitCodeFor(const v1::Job& job) {
  return job.state() == v1::JOB_STATE_SUCCEEDED ? kExitOk : kExitJobFailed;
}

}  // namespace genfarm::client
