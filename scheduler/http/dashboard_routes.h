// Dashboard routes: the read-only web dashboard (static files from a web root) and its
// JSON API under /api/ on the scheduler's HTTP server. Handlers run on httplib's
// threads; they read the single-threaded SchedulerCore only through its
// SerialExecutor (executor.Run), and only through its bounded views: a job's tasks come a
// page at a time (CoreViews::ListTasks), so a 1,000,000-task job's page costs what a small
// one's does. Frame previews come from the ThumbnailStore, filled
// from workers' results: no handler opens a file named by a job or a request. The API
// is documented in the README ("Dashboard and JSON API").
//
//   DashboardOptions options;
//   options.web_root = "/usr/share/genfarm/web";
//   RegisterDashboardRoutes(http.server(), executor, core, thumbnails, RealClock::Get(), options);
//   http.Start("0.0.0.0:7080");
//
// The executor, core, thumbnail store and clock must outlive the server's threads (stop
// the HTTP server first). The handlers share ownership of everything else they use.
#ifndef GENFARM_SCHEDULER_HTTP_DASHBOARD_ROUTES_H_
#define GENFARM_SCHEDULER_HTTP_DASHBOARD_ROUTES_H_

#include <httplib.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "common/clock.h"
#include "common/serial_executor.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/http/thumbnail_store.h"

namespace genfarm::scheduler {

// Tasks on one page of /api/jobs/{id} unless `page_size` asks otherwise.
inline constexpr int64_t kDefaultTaskPageSize = 100;

struct DashboardOptions {
  std::string web_root;          // folder with index.html; empty serves the JSON API only
  size_t max_tasks = 1000;       // the largest page_size of /api/jobs/{id} (tasks are paged)
  int thumbnails_per_stage = 6;  // default frames per stage in /api/jobs/{id}/thumbnails
};

// Adds the routes to `server` (call before it starts). A web_root that is not a folder
// is an error (the API routes are registered regardless).
absl::Status RegisterDashboardRoutes(httplib::Server& server, SerialExecutor& executor,
                                     const SchedulerCore& core, ThumbnailStore& thumbnails,
                                     Clock& clock, const DashboardOptions& options);

// The HTTP status code for a failed request's absl status: 400, 404, 503, 500...
int HttpStatusCode(const absl::Status& status);

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_HTTP_DASHBOARD_ROUTES_H_
