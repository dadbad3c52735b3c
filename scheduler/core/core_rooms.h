// CoreRooms: the references most parts of the core share (time, tunables, the signals they
// raise, and the three tables), so each part's constructor names only what is its own.
//
//   TaskLifecycle life({{clock, options, signals, jobs, attempts, workers}, retry, blame, ...});
//
// Plain references, owned by SchedulerCore; single-threaded like the parts that hold them.
#ifndef GENFARM_SCHEDULER_CORE_CORE_ROOMS_H_
#define GENFARM_SCHEDULER_CORE_CORE_ROOMS_H_

#include "common/clock.h"
#include "scheduler/core/attempt_table.h"
#include "scheduler/core/core_options.h"
#include "scheduler/core/core_signals.h"
#include "scheduler/core/job_table.h"
#include "scheduler/core/worker_registry.h"

namespace genfarm::scheduler {

class TaskLifecycle;
class CoreViews;

struct CoreRooms {
  Clock& clock;
  const CoreOptions& options;
  CoreSignals& signals;
  JobTable& jobs;
  AttemptTable& attempts;
  WorkerRegistry& workers;
};

// The rooms plus attempt transitions and views: what the parts that apply commands and
// worker events need.
struct CoreRoomsWithLifecycle : CoreRooms {
  TaskLifecycle& lifecycle;
  const CoreViews& views;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_CORE_ROOMS_H_
