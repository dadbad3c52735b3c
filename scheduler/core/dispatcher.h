// Dispatcher: placement rounds. It shows the PlacementPolicy what is runnable (one
// WorkGroup per job stage with queued tasks) and what is free (live views of accepting
// workers), starts the placements it returns, asks it which batch attempts to preempt
// for waiting work, and keeps each stage's "why nobody can run this" reason for status.
// Each project's running slots are reported to the UsageLedger (fair-share memory).
//
//   Dispatcher dispatcher({clock, signals, jobs, attempts, workers, lifecycle, policy, ledger});
//   dispatcher.Round();              // only does work when signals.dispatch_needed
//   dispatcher.UpdateUnplaceable();  // once a second is plenty
//
// Not thread-safe: the core's one thread owns it.
#ifndef GENFARM_SCHEDULER_CORE_DISPATCHER_H_
#define GENFARM_SCHEDULER_CORE_DISPATCHER_H_

#include <cstdint>

#include "common/clock.h"
#include "scheduler/core/attempt_table.h"
#include "scheduler/core/core_signals.h"
#include "scheduler/core/job_table.h"
#include "scheduler/core/task_lifecycle.h"
#include "scheduler/core/worker_registry.h"
#include "scheduler/policy/placement_policy.h"
#include "scheduler/policy/usage_ledger.h"

namespace genfarm::scheduler {

class Dispatcher {
 public:
  struct Parts {
    Clock& clock;
    CoreSignals& signals;
    JobTable& jobs;
    AttemptTable& attempts;
    WorkerRegistry& workers;
    TaskLifecycle& lifecycle;
    PlacementPolicy& policy;
    UsageLedger& ledger;
  };
  explicit Dispatcher(Parts parts) : p_(parts) {}

  // Places queued work on free slots, then preempts for work still waiting (and places
  // again on what that freed). Cheap when nothing changed since the last round.
  void Round();
  // Refreshes each queued stage's unplaceable reason; changed reasons reach watchers.
  void UpdateUnplaceable();

 private:
  int64_t NowMs() const { return ToMillis(p_.clock.Now()); }
  WorkGroup MakeGroup(const LiveJob& job, int32_t stage, int64_t now_ms) const;
  // Asks the policy which batch attempts to preempt for waiting work (any tier) and
  // preempts them. Returns true when it preempted anything.
  bool PreemptForWaitingWork();

  Parts p_;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_DISPATCHER_H_
