// JobStore: where the scheduler makes its state durable. The scheduler core keeps every
// job and task in memory and hands changed records to a StoreWriter, which group-commits
// them through this interface on its own thread. On start the core rebuilds itself from
// Load().
//
//   GENFARM_ASSIGN_OR_RETURN(std::unique_ptr<SqliteJobStore> store,
//   SqliteJobStore::Open(data_dir)); GENFARM_ASSIGN_OR_RETURN(StoreSnapshot snap, store->Load());
//   WriteBatch batch;
//   batch.tasks.push_back(task_record);
//   GENFARM_RETURN_IF_ERROR(store->Commit(batch));
//
// Implementations: SqliteJobStore (embedded default, WAL), InMemoryJobStore (tests).
#ifndef GENFARM_SCHEDULER_STORE_JOB_STORE_H_
#define GENFARM_SCHEDULER_STORE_JOB_STORE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/ids.h"
#include "genfarm/v1/types.pb.h"

namespace genfarm::scheduler {

struct JobRecord {
  JobId id;
  std::string idempotency_key;  // empty when the submitter gave none
  v1::JobSpec spec;
  v1::JobState state = v1::JOB_STATE_ACTIVE;
  int64_t submit_ms = 0;
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  std::string message;
  // False while the job waits for model facts and has no tasks yet (PrepareJob,
  // scheduler/core/job_builder.h); it is planned, and its tasks stored, when they come.
  bool planned = true;
};

struct TaskRecord {
  TaskId id;
  int32_t stage = 0;            // index into JobSpec.stages
  std::vector<int64_t> frames;  // frames this task writes
  v1::TaskState state = v1::TASK_STATE_WAITING;
  int32_t attempts = 0;  // attempts started so far
  AttemptId attempt;     // current or last attempt (0 = none)
  std::string worker;    // worker of the current or last attempt
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  int64_t not_before_ms = 0;  // retry backoff
  v1::FailureReason failure_reason = v1::FAILURE_REASON_UNSPECIFIED;
  std::string message;
  int64_t frames_done = 0;
};

struct LogRecord {
  TaskId task;
  AttemptId attempt;
  int64_t time_ms = 0;
  std::string text;
};

// An operator's drain of one worker, kept across scheduler restarts (a drained worker that
// reconnects stays drained). The store keeps drained workers only: draining = false
// removes the row.
struct WorkerRecord {
  WorkerId id;
  bool draining = false;
  int64_t updated_ms = 0;
};

// One entry of the durable model catalog: the facts of a model that planning needs (kind,
// temporal window) and that identify it (version, sha256), so the same spec plans the same
// way whether or not a worker advertising the model is connected. Upserted by name.
// Only name, kind, window_before, window_after, version and sha256 of `model` are stored.
struct ModelRecord {
  v1::ModelInfo model;
  int64_t updated_ms = 0;
};

// One atomic unit of durability. Records are upserts keyed by id; logs are appended.
struct WriteBatch {
  std::vector<JobRecord> jobs;
  std::vector<TaskRecord> tasks;
  std::vector<LogRecord> logs;
  std::vector<WorkerRecord> workers;
  std::vector<ModelRecord> models;
  // Jobs removed with their tasks and logs (retention), after the upserts above. Their ids
  // stay used: the job high water is not lowered.
  std::vector<JobId> deleted_jobs;
  int64_t attempt_high_water = 0;  // highest attempt id handed out; 0 = unchanged
  // Highest job id handed out; 0 = unchanged. Committed with the job that took it, so a
  // job id is never handed out twice, even after the job with the highest id is deleted.
  int64_t job_high_water = 0;

  bool empty() const {
    return jobs.empty() && tasks.empty() && logs.empty() && workers.empty() && models.empty() &&
           deleted_jobs.empty() && attempt_high_water == 0 && job_high_water == 0;
  }
};

struct StoreSnapshot {
  std::vector<JobRecord> jobs;    // ordered by id
  std::vector<TaskRecord> tasks;  // ordered by (job, index)
  int64_t attempt_high_water = 0;
  int64_t job_high_water = 0;         // 0 in stores written before it was kept
  std::vector<WorkerRecord> workers;  // drained workers, ordered by id
  std::vector<ModelRecord> models;    // the model catalog, ordered by name
  // Jobs with a stored row Load could not read (an unparsable spec, an unknown state, a
  // malformed frame list...), each with what was wrong, naming the row and field. Load
  // still returns them and their readable tasks (a job whose own row is damaged has an
  // empty spec; damaged task rows are left out); recovery quarantines them, so one bad
  // row costs one job, never the whole store.
  std::map<JobId, std::string> damaged;
};

// Thread-compatible: the StoreWriter thread is the only caller of Commit; Load and
// ReadLogs may be called from any one thread at a time.
class JobStore {
 public:
  virtual ~JobStore() = default;

  // Everything committed so far.
  virtual absl::StatusOr<StoreSnapshot> Load() = 0;

  // Applies the batch in one transaction: all of it is durable, or none of it.
  virtual absl::Status Commit(const WriteBatch& batch) = 0;

  // Log lines of one task (task.index < 0: every task of the job), oldest first.
  virtual absl::StatusOr<std::vector<LogRecord>> ReadLogs(TaskId task, int limit) = 0;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_STORE_JOB_STORE_H_
