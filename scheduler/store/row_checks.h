// Load-time checks of stored rows, shared by the SQL stores (SQLite, PostgreSQL): a row is
// untrusted input (a bad disk, a hand edit, a newer build's enum value), so each field is
// checked before it becomes a record, and a damaged row costs its own job only: it is named
// in StoreSnapshot::damaged, with the row and field, for recovery to quarantine.
//
//   JobRecord& job = snapshot.jobs.emplace_back();
//   job.id = JobId(row_id);
//   CheckJobRow("sqlite store", spec_bytes, state, job, snapshot);
//
//   TaskRecord& task = snapshot.tasks.emplace_back();
//   task.id.job = JobId(job_id);
//   if (!CheckTaskRow("sqlite store", index, frames, state, reason, task, snapshot)) {
//     snapshot.tasks.pop_back();  // damaged: left out, its job quarantined
//   }
#ifndef GENFARM_SCHEDULER_STORE_ROW_CHECKS_H_
#define GENFARM_SCHEDULER_STORE_ROW_CHECKS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "scheduler/store/job_store.h"

namespace genfarm::scheduler {

// Parses a jobs row's spec into job.spec (cleared if it does not parse) and sets job.state;
// an unreadable spec or an unknown state is recorded against job.id.
void CheckJobRow(absl::string_view store, absl::string_view spec, int64_t state, JobRecord& job,
                 StoreSnapshot& snapshot);

// Checks a tasks row of job task.id.job: its index fits a task index, its frames decode
// (into task.frames), its state and failure reason are known. On success sets task.id.index,
// task.state and task.failure_reason and returns true; otherwise records the first problem
// against the job and returns false (the other fields of `task` are then unspecified).
bool CheckTaskRow(absl::string_view store, int64_t index, absl::string_view frames, int64_t state,
                  int64_t reason, TaskRecord& task, StoreSnapshot& snapshot);

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_STORE_ROW_CHECKS_H_
