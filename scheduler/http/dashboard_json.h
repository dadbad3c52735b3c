// Dashboard JSON: turns the scheduler's protobuf views (jobs, tasks, workers, farm
// stats) into the small JSON documents served under /api/ and read by the web
// dashboard (scheduler/web/). Pure functions of their arguments: no I/O, no clock, no
// core access, so they are unit-tested with hand-made messages. The document shapes
// are described in the README ("Dashboard and JSON API").
//
//   nlohmann::json doc = JobListJson(core.ListJobs(request), now_ms);
//   res.set_content(doc.dump(), "application/json");
//
// Enum values are written with common/enum_names.h (the CLI's and the metrics' spelling),
// frame lists with FrameSet::Format; an unset failure reason is "".
#ifndef GENFARM_SCHEDULER_HTTP_DASHBOARD_JSON_H_
#define GENFARM_SCHEDULER_HTTP_DASHBOARD_JSON_H_

#include <cstdint>
#include <string>
#include <vector>

#include "genfarm/v1/farm_service.pb.h"
#include "genfarm/v1/job_service.pb.h"
#include "genfarm/v1/types.pb.h"
#include "nlohmann/json.hpp"

namespace genfarm::scheduler {

// One job with per-stage progress (no tasks): an element of GET /api/jobs.
nlohmann::json JobJson(const v1::Job& job);
// GET /api/jobs.
nlohmann::json JobListJson(const v1::ListJobsResponse& jobs, int64_t now_ms);
// One task: an element of GET /api/jobs/{id} "tasks".
nlohmann::json TaskJson(const v1::Task& task);
// GET /api/jobs/{id}: the job, its stage specs and one page of its tasks (index order),
// as `filter` asked for them (its state and stage; the page's size and token are the
// handler's business). `tasks_total` counts every task of the job and `tasks_matching` those
// the filter matches, both from the stage counters, so a page of a 1,000,000-task job says
// how many there are without listing them; `next_page_token` ("" at the end) fetches the
// next page.
nlohmann::json JobDetailJson(const v1::Job& job, const std::vector<v1::Task>& page,
                             const std::string& next_page_token, const v1::ListTasksRequest& filter,
                             int64_t now_ms);
// GET /api/workers.
nlohmann::json WorkersJson(const std::vector<v1::Worker>& workers, int64_t now_ms);
// GET /api/farm.
nlohmann::json FarmJson(const v1::FarmStats& stats, int64_t now_ms);

// One output frame of a stage with a preview (see ThumbnailStore), newest first.
struct FinishedFrame {
  std::string stage;
  int64_t frame = 0;
  int32_t task = 0;
  int64_t end_time_ms = 0;  // when the scheduler accepted the task's result
  int64_t version = 0;      // the preview's version: changes when the frame is re-rendered
};

// GET /api/jobs/{id}/thumbnails: frames grouped by stage (every model stage listed, in
// spec order, possibly with no frames), each with the /api/thumbnail URL to fetch. The
// URL carries the preview's version as `v`, so a re-rendered frame gets a fresh URL and
// browsers may cache the rest.
nlohmann::json ThumbnailsJson(const v1::Job& job, const std::vector<FinishedFrame>& frames);

// The body of an error response: {"error": message}.
nlohmann::json ErrorJson(const std::string& message);

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_HTTP_DASHBOARD_JSON_H_
