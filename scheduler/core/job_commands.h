// JobCommands: what people do to jobs: submit (admit a job PrepareJob built, see
// job_builder.h), cancel, pause, resume, retry tasks and set a priority; and planning the
// jobs that waited for model facts once a worker advertises them. Each returns the job as
// it is now or a status naming what was wrong; a refused command changes nothing.
// Changes to every task of a big job run as JobTable sweeps, a slice per core turn.
//
//   JobCommands commands({{clock, options, signals, jobs, attempts, workers}, lifecycle, views},
//                        catalog, plan_runner);
//   GENFARM_ASSIGN_OR_RETURN(SubmitResult submitted, commands.Submit(spec, "ci-812"));
//   commands.Cancel(submitted.id);
//
// Not thread-safe: the core's one thread owns it.
#ifndef GENFARM_SCHEDULER_CORE_JOB_COMMANDS_H_
#define GENFARM_SCHEDULER_CORE_JOB_COMMANDS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/ids.h"
#include "genfarm/v1/types.pb.h"
#include "scheduler/core/attempt_table.h"
#include "scheduler/core/core_options.h"
#include "scheduler/core/core_rooms.h"
#include "scheduler/core/core_signals.h"
#include "scheduler/core/core_views.h"
#include "scheduler/core/job_builder.h"
#include "scheduler/core/job_table.h"
#include "scheduler/core/model_catalog.h"
#include "scheduler/core/task_lifecycle.h"
#include "scheduler/core/worker_registry.h"

namespace genfarm::scheduler {

// Task indexes one RetryTasks call may name (failed_only needs none).
inline constexpr int32_t kMaxRetryIndexes = 10'000;

struct SubmitResult {
  JobId id;
  bool created = false;  // false: the idempotency key named an existing job
};

// Runs PrepareJob for the job `id` (somewhere: the server's planner thread) and calls
// `done` back on the core thread. The default runs it inline.
using PlanRunner = std::function<void(v1::JobSpec spec, JobId id,
                                      std::function<void(absl::StatusOr<PreparedJob>)> done)>;

class JobCommands {
 public:
  using Parts = CoreRoomsWithLifecycle;
  JobCommands(Parts parts, const ModelCatalog& catalog) : p_(parts), catalog_(catalog) {}

  // PrepareJob + Admit, here and now (tests, the simulator, in-process callers).
  absl::StatusOr<SubmitResult> Submit(v1::JobSpec spec, const std::string& idempotency_key);
  // Adds a job PrepareJob built: the idempotency key (an existing job wins) and job
  // dependencies are checked here, on the core thread, against the state of now.
  absl::StatusOr<SubmitResult> Admit(PreparedJob prepared, const std::string& idempotency_key);
  // Plans the jobs waiting for model facts that the catalog now has, through `runner`.
  void PlanWaiting();
  // Registers a job that waits for model facts (recovery).
  void AddUnplanned(JobId id) { unplanned_.insert(id); }
  void set_plan_runner(PlanRunner runner) { runner_ = std::move(runner); }
  absl::StatusOr<v1::Job> Cancel(JobId id);
  absl::StatusOr<v1::Job> Pause(JobId id);
  absl::StatusOr<v1::Job> Resume(JobId id);
  // Failed and canceled tasks (failed_only or no indexes), plus the finished tasks
  // named; returns how many were retried.
  absl::StatusOr<int32_t> Retry(JobId id, bool failed_only, const std::vector<int32_t>& tasks);
  absl::StatusOr<v1::Job> SetPriority(JobId id, int32_t priority);

 private:
  int64_t NowMs() const { return ToMillis(p_.clock.Now()); }
  // The plan of an unplanned job came back: its tasks are added (or it fails, or waits on).
  void AdoptPlan(JobId id, absl::StatusOr<PreparedJob> prepared);
  // The job's running tasks are stopped on their workers and canceled, saying `why`.
  void CancelRunning(LiveJob& job, const std::string& why);

  Parts p_;
  const ModelCatalog& catalog_;
  PlanRunner runner_;
  absl::btree_set<JobId> unplanned_;  // jobs waiting for model facts
  absl::btree_set<JobId> planning_;   // of those, the ones being planned now
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_JOB_COMMANDS_H_
