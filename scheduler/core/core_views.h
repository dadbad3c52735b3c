// CoreViews: the one place the core's state becomes protobuf for the outside (gRPC
// replies, watch events, the dashboard, metrics): jobs with stage progress, tasks (with
// the unplaceable reason of a queued task's stage), workers, job listings with paging,
// farm stats and queue depths. Read-only over the tables.
//
//   CoreViews views(jobs, attempts, workers);
//   v1::Job proto = views.Job(live_job);
//
// Not thread-safe: used on the core's thread.
#ifndef GENFARM_SCHEDULER_CORE_CORE_VIEWS_H_
#define GENFARM_SCHEDULER_CORE_CORE_VIEWS_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "genfarm/v1/farm_service.pb.h"
#include "genfarm/v1/job_service.pb.h"
#include "genfarm/v1/types.pb.h"
#include "scheduler/core/attempt_table.h"
#include "scheduler/core/job_table.h"
#include "scheduler/core/worker_registry.h"

namespace genfarm::scheduler {

class CoreViews {
 public:
  CoreViews(const JobTable& jobs, const AttemptTable& attempts, const WorkerRegistry& workers)
      : jobs_(jobs), attempts_(attempts), workers_(workers) {}

  v1::Job Job(const LiveJob& job) const;
  v1::Task Task(const LiveJob& job, int32_t index) const;
  v1::Worker Worker(const WorkerId& id, const LiveWorker& worker) const;

  // Newest first. page_token is the last id of the previous page.
  v1::ListJobsResponse ListJobs(const v1::ListJobsRequest& request) const;
  std::vector<v1::Worker> ListWorkers(bool include_offline) const;
  v1::FarmStats Stats() const;
  // Runnable tasks (queued, not backing off) per (project, tier) of every known job.
  std::map<std::pair<std::string, v1::Tier>, int64_t> QueueDepths() const;

 private:
  const JobTable& jobs_;
  const AttemptTable& attempts_;
  const WorkerRegistry& workers_;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_CORE_VIEWS_H_
