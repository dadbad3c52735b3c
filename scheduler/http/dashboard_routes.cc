#include "scheduler/http/dashboard_routes.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/enum_names.h"
#include "common/frame_pattern.h"
#include "common/frame_set.h"
#include "scheduler/http/dashboard_json.h"

namespace genfarm::scheduler {
namespace {

using nlohmann::json;

// What the handlers share; owned jointly by them (httplib keeps the handlers).
struct Context {
  SerialExecutor& executor;
  const SchedulerCore& core;
  ThumbnailStore& thumbnails;
  Clock& clock;
  DashboardOptions options;

  int64_t NowMs() const { return ToMillis(clock.Now()); }
};

struct JobAndTasks {
  v1::Job job;
  std::vector<v1::Task> tasks;
  std::string next_page_token;
};

// A filtered page may come back short with a token (the core looks at a bounded number of
// tasks per call): follow it this many more times, each a call of its own on the core's
// executor, so the page fills without holding the core thread.
constexpr int kMaxFollowCalls = 16;

void SendJson(httplib::Response& res, const json& doc, int status = 200) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(doc.dump(), "application/json");
}

void SendError(httplib::Response& res, const absl::Status& status) {
  SendJson(res, ErrorJson(std::string(status.message())), HttpStatusCode(status));
}

absl::StatusOr<int64_t> ParseInt(const std::string& what, const std::string& text, int64_t min,
                                 int64_t max) {
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < min || value > max) {
    std::string range;
    if (min != INT64_MIN && max != INT64_MAX) range = absl::StrCat(" in ", min, "..", max);
    if (min != INT64_MIN && max == INT64_MAX) range = absl::StrCat(" >= ", min);
    return absl::InvalidArgumentError(
        absl::StrCat(what, " '", text, "' is not a whole number", range));
  }
  return value;
}

absl::StatusOr<JobId> ParseJobId(const std::string& text) {
  absl::StatusOr<int64_t> id = ParseInt("job id", text, 1, INT64_MAX);
  if (!id.ok()) return id.status();
  return JobId(*id);
}

// An optional integer query parameter.
absl::StatusOr<int64_t> IntParam(const httplib::Request& req, const std::string& name,
                                 int64_t fallback, int64_t min, int64_t max) {
  if (!req.has_param(name)) return fallback;
  return ParseInt(name, req.get_param_value(name), min, max);
}

// The optional `state` parameter: nullopt when absent, 400 naming the choices when unknown.
template <typename State>
absl::StatusOr<std::optional<State>> StateParam(const httplib::Request& req,
                                                std::optional<State> (*parse)(absl::string_view),
                                                const std::vector<absl::string_view>& names) {
  const std::string text = req.get_param_value("state");
  if (text.empty()) return std::optional<State>();
  std::optional<State> state = parse(text);
  if (!state) {
    return absl::InvalidArgumentError(
        absl::StrCat("state '", text, "' is not one of ", absl::StrJoin(names, ", ")));
  }
  return state;
}

// The job and one page of its tasks as `request` (state, stage, page) asks.
absl::StatusOr<JobAndTasks> LoadJob(Context& ctx, JobId id, v1::ListTasksRequest request) {
  request.set_job_id(id.value());
  absl::StatusOr<JobAndTasks> loaded =
      ctx.executor.Run([&ctx, id, &request]() -> absl::StatusOr<JobAndTasks> {
        absl::StatusOr<v1::Job> job = ctx.core.GetJob(id);
        if (!job.ok()) return job.status();
        absl::StatusOr<v1::ListTasksResponse> page = ctx.core.ListTasks(request);
        if (!page.ok()) return page.status();
        return JobAndTasks{
            *std::move(job), {page->tasks().begin(), page->tasks().end()}, page->next_page_token()};
      });
  if (!loaded.ok()) return loaded;
  const size_t wanted = static_cast<size_t>(request.page_size());
  for (int call = 0;
       call < kMaxFollowCalls && loaded->tasks.size() < wanted && !loaded->next_page_token.empty();
       ++call) {
    request.set_page_token(loaded->next_page_token);
    request.set_page_size(static_cast<int32_t>(wanted - loaded->tasks.size()));
    absl::StatusOr<v1::ListTasksResponse> more =
        ctx.executor.Run([&ctx, &request] { return ctx.core.ListTasks(request); });
    if (!more.ok()) return more.status();
    loaded->tasks.insert(loaded->tasks.end(), more->tasks().begin(), more->tasks().end());
    loaded->next_page_token = more->next_page_token();
  }
  return loaded;
}

void ListJobs(Context& ctx, const httplib::Request& req, httplib::Response& res) {
  v1::ListJobsRequest request;
  absl::StatusOr<int64_t> limit = IntParam(req, "limit", 100, 1, 1000);
  if (!limit.ok()) return SendError(res, limit.status());
  request.set_page_size(static_cast<int32_t>(*limit));
  request.set_project(req.get_param_value("project"));
  request.set_page_token(req.get_param_value("page_token"));
  absl::StatusOr<std::optional<v1::JobState>> state =
      StateParam(req, ParseJobState, JobStateNames());
  if (!state.ok()) return SendError(res, state.status());
  if (*state) request.set_state(**state);
  absl::StatusOr<v1::ListJobsResponse> jobs =
      ctx.executor.Run([&] { return ctx.core.CheckedListJobs(request); });
  if (!jobs.ok()) return SendError(res, jobs.status());
  SendJson(res, JobListJson(*jobs, ctx.NowMs()));
}

// ?page_size=&page_token=&state=&stage=: one page of the job's tasks (see docs/dashboard-api.md).
void GetJob(Context& ctx, const httplib::Request& req, httplib::Response& res) {
  absl::StatusOr<JobId> id = ParseJobId(req.matches[1]);
  if (!id.ok()) return SendError(res, id.status());
  const int64_t max_page = static_cast<int64_t>(std::max<size_t>(1, ctx.options.max_tasks));
  absl::StatusOr<int64_t> page_size =
      IntParam(req, "page_size", std::min<int64_t>(kDefaultTaskPageSize, max_page), 1, max_page);
  if (!page_size.ok()) return SendError(res, page_size.status());
  v1::ListTasksRequest request;
  request.set_page_size(static_cast<int32_t>(*page_size));
  request.set_page_token(req.get_param_value("page_token"));
  request.set_stage(req.get_param_value("stage"));
  absl::StatusOr<std::optional<v1::TaskState>> state =
      StateParam(req, ParseTaskState, TaskStateNames());
  if (!state.ok()) return SendError(res, state.status());
  if (*state) request.set_state(**state);
  absl::StatusOr<JobAndTasks> loaded = LoadJob(ctx, *id, request);
  if (!loaded.ok()) return SendError(res, loaded.status());
  SendJson(res, JobDetailJson(loaded->job, loaded->tasks, loaded->next_page_token, request,
                              ctx.NowMs()));
}

// The previews the store holds for each stage, newest first: what workers sent with
// accepted results, not what happens to be on disk.
void GetThumbnails(Context& ctx, const httplib::Request& req, httplib::Response& res) {
  absl::StatusOr<JobId> id = ParseJobId(req.matches[1]);
  if (!id.ok()) return SendError(res, id.status());
  absl::StatusOr<int64_t> per_stage =
      IntParam(req, "per_stage", ctx.options.thumbnails_per_stage, 1, 50);
  if (!per_stage.ok()) return SendError(res, per_stage.status());
  // Only the job (not its tasks, which may be many): the stage specs name the stages.
  absl::StatusOr<v1::Job> job = ctx.executor.Run([&ctx, &id] { return ctx.core.GetJob(*id); });
  if (!job.ok()) return SendError(res, job.status());
  std::vector<FinishedFrame> frames;
  for (const v1::StageSpec& stage : job->spec().stages()) {
    for (const StoredThumbnail& t :
         ctx.thumbnails.Latest(*id, stage.name(), static_cast<int>(*per_stage))) {
      frames.push_back({stage.name(), t.frame, t.task, t.stored_ms, t.version});
    }
  }
  SendJson(res, ThumbnailsJson(*job, frames));
}

void GetThumbnail(Context& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!req.has_param("job") || !req.has_param("stage") || !req.has_param("frame")) {
    return SendError(res, absl::InvalidArgumentError("expected ?job=ID&stage=NAME&frame=N"));
  }
  absl::StatusOr<JobId> id = ParseJobId(req.get_param_value("job"));
  if (!id.ok()) return SendError(res, id.status());
  absl::StatusOr<int64_t> frame =
      ParseInt("frame", req.get_param_value("frame"), INT64_MIN, INT64_MAX);
  if (!frame.ok()) return SendError(res, frame.status());
  // Only a job the scheduler still has: previews outlive a deleted job in the store (until
  // evicted), never on the wire.
  absl::StatusOr<v1::Job> job = ctx.executor.Run([&ctx, &id] { return ctx.core.GetJob(*id); });
  if (!job.ok()) return SendError(res, job.status());
  const std::string stage = req.get_param_value("stage");
  std::optional<StoredThumbnail> thumbnail = ctx.thumbnails.Get(*id, stage, *frame);
  if (!thumbnail.has_value()) {
    return SendError(res,
                     absl::NotFoundError(absl::StrCat("no preview of frame ", *frame, " of job ",
                                                      id->value(), " stage '", stage, "'")));
  }
  res.set_header("Cache-Control", "private, max-age=300");
  res.set_content(*thumbnail->bytes, "image/jpeg");
}

}  // namespace

int HttpStatusCode(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
      return 409;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

absl::Status RegisterDashboardRoutes(httplib::Server& server, SerialExecutor& executor,
                                     const SchedulerCore& core, ThumbnailStore& thumbnails,
                                     Clock& clock, const DashboardOptions& options) {
  auto ctx = std::shared_ptr<Context>(new Context{executor, core, thumbnails, clock, options});
  auto route = [ctx](void (*handler)(Context&, const httplib::Request&, httplib::Response&)) {
    return [ctx, handler](const httplib::Request& req, httplib::Response& res) {
      handler(*ctx, req, res);
    };
  };
  server.Get("/api/jobs", route(ListJobs));
  server.Get(R"(/api/jobs/([^/]+))", route(GetJob));
  server.Get(R"(/api/jobs/([^/]+)/thumbnails)", route(GetThumbnails));
  server.Get("/api/workers",
             route([](Context& c, const httplib::Request& req, httplib::Response& res) {
               const bool include_offline = req.get_param_value("include_offline") != "0";
               std::vector<v1::Worker> workers =
                   c.executor.Run([&] { return c.core.ListWorkers(include_offline); });
               SendJson(res, WorkersJson(workers, c.NowMs()));
             }));
  server.Get("/api/farm", route([](Context& c, const httplib::Request&, httplib::Response& res) {
               v1::FarmStats stats = c.executor.Run([&] { return c.core.Stats(); });
               SendJson(res, FarmJson(stats, c.NowMs()));
             }));
  server.Get("/api/thumbnail", route(GetThumbnail));
  server.Get(R"(/api/.*)", [](const httplib::Request& req, httplib::Response& res) {
    SendError(res, absl::NotFoundError(absl::StrCat("no API endpoint ", req.path)));
  });

  if (options.web_root.empty()) return absl::OkStatus();
  if (!server.set_mount_point("/", options.web_root)) {
    return absl::NotFoundError(
        absl::StrCat("dashboard web root ", options.web_root, " is not a folder"));
  }
  return absl::OkStatus();
}

}  // namespace genfarm::scheduler
