// PrepareJob: everything a submission costs that needs none of the core's state: defaults,
// validation, the model facts a plan needs (from the ModelCatalog, never from which
// workers are connected), planning, and building every task with its dependencies. The
// server runs it on its planner thread, so even a 1,000,000-task job holds the core thread
// only for JobTable::Admit (an O(stages) move) and the first slice of its activation.
//
//   GENFARM_ASSIGN_OR_RETURN(PreparedJob prepared,
//                            PrepareJob(spec, catalog, 1'000'000, jobs.NextId()));
//   // on the core thread:
//   LiveJob& job = jobs.Admit(std::move(prepared.job), std::move(prepared.records));
//
// A stage whose model facts are neither in its spec (a `factor` param, a window) nor in
// the catalog cannot be planned yet: the job is prepared without tasks, waiting, with
// `missing_models` naming what it waits for; JobCommands plans it when a worker advertises
// them. Once planned, the facts used are written into the spec (the factor param, the
// windows), so a restart re-plans exactly the same tasks from the spec alone.
//
// Thread-safe (a pure function of its arguments; the catalog locks itself).
#ifndef GENFARM_SCHEDULER_CORE_JOB_BUILDER_H_
#define GENFARM_SCHEDULER_CORE_JOB_BUILDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "genfarm/v1/types.pb.h"
#include "scheduler/core/job_table.h"
#include "scheduler/core/model_catalog.h"

namespace genfarm::scheduler {

struct PreparedJob {
  // rec (id, spec with defaults and facts, state, message), plan, tasks (waiting,
  // dependencies linked, records filled) and stage counters. Tasks are empty when the job
  // is unplanned.
  LiveJob job;
  // The same tasks as the store sees them, handed to it in one call.
  std::vector<TaskRecord> records;
  // Models whose facts are unknown; non-empty means unplanned.
  std::vector<std::string> missing_models;
  bool planned() const { return missing_models.empty(); }
};

// The job under `id`. INVALID_ARGUMENT naming the field for a spec that does not validate
// or plans more than `max_tasks` tasks.
absl::StatusOr<PreparedJob> PrepareJob(v1::JobSpec spec, const ModelCatalog& catalog,
                                       int64_t max_tasks, JobId id);

// The message an unplanned job shows while it waits for `missing` models.
std::string UnplannedMessage(const std::vector<std::string>& missing);

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_JOB_BUILDER_H_
