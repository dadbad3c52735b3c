// Recovery: rebuilds the core's tables from a store snapshot after a restart. Jobs are
// re-planned from their stored specs (the effective temporal windows are in the spec, so
// the plan does not depend on which workers are connected), tasks take their stored
// states, queued tasks go back on their queues or backoffs, and running attempts are held
// for their workers to reclaim on reconnect (WorkerEvents::ExpireLeases requeues the rest
// once the deadline passes). Operator drains are restored, so a drained worker that
// reconnects stays drained.
//
// Recovery serves what it can: a job it cannot rebuild (its spec no longer plans, its
// stored tasks do not fit the plan, or the store could not read one of its rows, see
// StoreSnapshot::damaged) is quarantined (failed, "quarantined at recovery: <why>" in its
// message and the log); tasks whose job row is gone are skipped; tasks missing from a torn
// job are rebuilt from its plan; and no task is left in a state nothing acts on (waiting
// tasks of a startable job and blocked tasks whose upstream frames all exist become
// runnable; jobs whose dependency failed are canceled).
//
//   GENFARM_RETURN_IF_ERROR(RecoverTables(snapshot, now_ms, jobs, attempts, workers));
#ifndef GENFARM_SCHEDULER_CORE_RECOVERY_H_
#define GENFARM_SCHEDULER_CORE_RECOVERY_H_

#include <cstdint>

#include "absl/status/status.h"
#include "scheduler/core/attempt_table.h"
#include "scheduler/core/job_table.h"
#include "scheduler/core/worker_registry.h"
#include "scheduler/store/job_store.h"

namespace genfarm::scheduler {

absl::Status RecoverTables(const StoreSnapshot& snapshot, int64_t now_ms, JobTable& jobs,
                           AttemptTable& attempts, WorkerRegistry& workers);

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_RECOVERY_H_
