// JobCommands: what people do to jobs: submit (validate, plan, add every task), cancel,
// pause, resume, retry tasks and set a priority. Each returns the job as it is now or a
// status naming what was wrong; a refused command changes nothing.
//
//   JobCommands commands({{clock, options, signals, jobs, attempts, workers}, lifecycle, views});
//   GENFARM_ASSIGN_OR_RETURN(SubmitResult submitted, commands.Submit(spec, "ci-812"));
//   commands.Cancel(submitted.id);
//
// Not thread-safe: the core's one thread owns it.
#ifndef GENFARM_SCHEDULER_CORE_JOB_COMMANDS_H_
#define GENFARM_SCHEDULER_CORE_JOB_COMMANDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/ids.h"
#include "genfarm/v1/types.pb.h"
#include "scheduler/core/attempt_table.h"
#include "scheduler/core/core_options.h"
#include "scheduler/core/core_rooms.h"
#include "scheduler/core/core_signals.h"
#include "scheduler/core/core_views.h"
#include "scheduler/core/job_table.h"
#include "scheduler/core/task_lifecycle.h"
#include "scheduler/core/worker_registry.h"

namespace genfarm::scheduler {

struct SubmitResult {
  JobId id;
  bool created = false;  // false: the idempotency key named an existing job
};

class JobCommands {
 public:
  using Parts = CoreRoomsWithLifecycle;
  explicit JobCommands(Parts parts) : p_(parts) {}

  absl::StatusOr<SubmitResult> Submit(v1::JobSpec spec, const std::string& idempotency_key);
  absl::StatusOr<v1::Job> Cancel(JobId id);
  absl::StatusOr<v1::Job> Pause(JobId id);
  absl::StatusOr<v1::Job> Resume(JobId id);
  // Failed and canceled tasks (failed_only or no indexes), plus the finished tasks
  // named; returns how many were retried.
  absl::StatusOr<int32_t> Retry(JobId id, bool failed_only, const std::vector<int32_t>& tasks);
  absl::StatusOr<v1::Job> SetPriority(JobId id, int32_t priority);

 private:
  int64_t NowMs() const { return ToMillis(p_.clock.Now()); }

  Parts p_;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_JOB_COMMANDS_H_
