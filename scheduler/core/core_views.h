// CoreViews: the one place the core's state becomes protobuf for the outside (gRPC
// replies, watch events, the dashboard, metrics): jobs with stage progress, tasks (with
// the unplaceable reason of a queued task's stage), workers, job listings with paging,
// farm stats and queue depths. Read-only over the tables.
//
// Whatever grows with a job is paged or bounded here, so every reply fits gRPC's default
// 4 MiB message and no call holds the core thread for long, even for a job of 1,000,000
// tasks: a page of tasks costs O(page size), a filtered page looks at no more than
// kMaxTasksScannedPerCall tasks, and pages stop at kMaxPageBytes.
//
//   CoreViews views(jobs, attempts, workers);
//   v1::Job proto = views.Job(live_job);
//   absl::StatusOr<v1::ListTasksResponse> page = views.ListTasks(request);  // then its token
//
// Not thread-safe: used on the core's thread.
#ifndef GENFARM_SCHEDULER_CORE_CORE_VIEWS_H_
#define GENFARM_SCHEDULER_CORE_CORE_VIEWS_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "genfarm/v1/farm_service.pb.h"
#include "genfarm/v1/job_service.pb.h"
#include "genfarm/v1/types.pb.h"
#include "scheduler/core/attempt_table.h"
#include "scheduler/core/job_table.h"
#include "scheduler/core/worker_registry.h"

namespace genfarm::scheduler {

// Paging limits (documented in proto/genfarm/v1/job_service.proto).
inline constexpr int kListJobsDefaultPageSize = 100;
inline constexpr int kListJobsMaxPageSize = 1000;
inline constexpr int kListTasksDefaultPageSize = 1000;
inline constexpr int kListTasksMaxPageSize = 10'000;
// A filtered page (state or stage) looks at no more tasks (or jobs) than this per call and
// hands back a token to go on: a scan of 1,000,000 tasks takes ten calls, not one long one.
inline constexpr int64_t kMaxTasksScannedPerCall = 100'000;
inline constexpr int64_t kMaxJobsScannedPerCall = 100'000;
// A page stops growing at this many bytes (always at least one item): half of gRPC's
// default limit, whatever the chunk size or the messages of the tasks.
inline constexpr size_t kMaxPageBytes = size_t{2} << 20;
// GetJob with include_tasks answers every task only up to these sizes; a bigger job is
// refused (FAILED_PRECONDITION) and pointed at ListTasks.
inline constexpr int64_t kGetJobMaxTasks = 10'000;
inline constexpr size_t kGetJobMaxTaskBytes = size_t{3} << 20;

class CoreViews {
 public:
  CoreViews(const JobTable& jobs, const AttemptTable& attempts, const WorkerRegistry& workers)
      : jobs_(jobs), attempts_(attempts), workers_(workers) {}

  // The full view: the whole spec.
  v1::Job Job(const LiveJob& job) const;
  // JOB_VIEW_SUMMARY: the spec's scalars only (no labels, stage specs or job dependencies),
  // built without copying what it leaves out; the stage counters are kept. Unspecified or
  // FULL: Job(job).
  v1::Job Job(const LiveJob& job, v1::JobView view) const;
  v1::Task Task(const LiveJob& job, int32_t index) const;
  v1::Worker Worker(const WorkerId& id, const LiveWorker& worker) const;

  // GetJob: the full job and, with include_tasks, every task of a job that has at most
  // kGetJobMaxTasks of them (FAILED_PRECONDITION naming ListTasks beyond); NOT_FOUND for
  // an unknown job.
  absl::StatusOr<v1::GetJobResponse> GetJob(const v1::GetJobRequest& request) const;
  // Newest first, summaries unless the request asks for FULL. page_token is the id of the
  // last job looked at, in decimal. INVALID_ARGUMENT naming the field for a negative
  // page_size, a malformed page_token, or a state or view the enum does not know.
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request) const;
  // One page of a job's tasks in index order, optionally filtered by state and stage (see
  // ListTasksRequest). INVALID_ARGUMENT naming the field for a negative page_size, a token
  // not issued for this job, a state outside the enum or a stage the job does not have;
  // NOT_FOUND for an unknown job.
  absl::StatusOr<v1::ListTasksResponse> ListTasks(const v1::ListTasksRequest& request) const;
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
