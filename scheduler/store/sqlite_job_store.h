// SqliteJobStore: the embedded default JobStore, one SQLite file `<data_dir>/genfarm.db` in WAL
// mode. Commit applies a WriteBatch in one transaction with prepared statements that are kept
// and reused (UPSERT by primary key); Load reads everything back in primary-key order, fast
// enough to restart over a million tasks in about a second (see genfarm-store-bench).
//
//   GENFARM_ASSIGN_OR_RETURN(std::unique_ptr<SqliteJobStore> store,
//                            SqliteJobStore::Open("/var/lib/genfarm"));
//   GENFARM_ASSIGN_OR_RETURN(StoreSnapshot snapshot, store->Load());
//   WriteBatch batch;
//   batch.tasks.push_back(task);
//   GENFARM_RETURN_IF_ERROR(store->Commit(batch));
//
// Durability. With the default Synchronous::kNormal, SQLite in WAL mode writes every commit to
// the WAL before Commit returns but fsyncs only at checkpoints: a committed batch survives the
// scheduler process crashing or being SIGKILLed (the data is in the OS page cache and the WAL
// is replayed on open), but a power loss or kernel crash may lose the last commits since the
// previous checkpoint. The database is never corrupted either way. Synchronous::kFull fsyncs the
// WAL on every commit, closing that window at the cost of one fsync per group commit (which the
// StoreWriter's group commit amortises over many records).
//
// Schema. A `schema_version` table holds the version; Open applies the migrations the file has
// not seen yet, each in its own transaction, and refuses a file written by a newer GenFarm.
//   jobs(id PK, idempotency_key UNIQUE where non-empty, spec BLOB (serialized v1.JobSpec), state,
//        submit_ms, start_ms, end_ms, message)
//   tasks((job_id, idx) PK, stage, frames (text ranges, see frame_ranges.h), state, attempts,
//         attempt_id, worker, start_ms, end_ms, not_before_ms, failure_reason, message,
//         frames_done)                                      -- WITHOUT ROWID: clustered by key
//   logs(id PK (append order), job_id, idx, attempt_id, time_ms, text), index (job_id, idx, id)
//   meta(key PK, value)                      -- 'attempt_high_water', 'job_high_water'
//   workers(id PK, draining, updated_ms)     -- operator drains (drained workers only)
//   models(name PK, kind, window_before, window_after, version, sha256, updated_ms)
//                                            -- the durable model catalog
//
// Ownership: owns its connection and statements. Thread-compatible, per JobStore: one caller at
// a time (the StoreWriter thread for Commit). A second process opening the same file waits up
// to `busy_timeout` for locks rather than failing at once.
#ifndef GENFARM_SCHEDULER_STORE_SQLITE_JOB_STORE_H_
#define GENFARM_SCHEDULER_STORE_SQLITE_JOB_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "scheduler/store/job_store.h"
#include "scheduler/store/sqlite_connection.h"
#include "scheduler/store/sqlite_statement.h"

namespace genfarm::scheduler {

class SqliteJobStore : public JobStore {
 public:
  // PRAGMA synchronous level; see the durability note above.
  enum class Synchronous { kNormal, kFull };

  struct Options {
    Synchronous synchronous = Synchronous::kNormal;
    absl::Duration busy_timeout = absl::Seconds(5);
  };

  // The schema version this build writes (the number of migrations it knows).
  static int CurrentSchemaVersion();

  // Opens or creates `data_dir`/genfarm.db (creating data_dir if missing) and migrates it.
  static absl::StatusOr<std::unique_ptr<SqliteJobStore>> Open(const std::string& data_dir);
  static absl::StatusOr<std::unique_ptr<SqliteJobStore>> Open(const std::string& data_dir,
                                                              const Options& options);

  ~SqliteJobStore() override;

  absl::StatusOr<StoreSnapshot> Load() override;
  absl::Status Commit(const WriteBatch& batch) override;
  // Newest `limit` lines (limit <= 0: all), oldest first. task.index < 0: every task of the job.
  absl::StatusOr<std::vector<LogRecord>> ReadLogs(TaskId task, int limit) override;

  // The database file, and its journal mode as SQLite reports it ("wal"); for tests and
  // /healthz.
  const std::string& path() const { return conn_->path(); }
  absl::StatusOr<std::string> JournalMode();

 private:
  explicit SqliteJobStore(std::unique_ptr<SqliteConnection> conn) : conn_(std::move(conn)) {}

  absl::Status Configure(const Options& options);
  absl::Status Migrate();
  absl::Status PrepareStatements();
  absl::Status ApplyBatch(const WriteBatch& batch);
  // Load's reads, inside its transaction.
  absl::Status LoadInto(StoreSnapshot& snapshot);

  std::unique_ptr<SqliteConnection> conn_;
  // Prepared once in Open, reused by every Commit/Load/ReadLogs. Declared after conn_ so they
  // are finalized before the connection closes.
  SqliteStatement begin_;
  SqliteStatement commit_;
  SqliteStatement rollback_;
  SqliteStatement upsert_job_;
  SqliteStatement upsert_task_;
  SqliteStatement insert_log_;
  SqliteStatement upsert_high_water_;
  SqliteStatement delete_job_logs_;
  SqliteStatement delete_job_tasks_;
  SqliteStatement delete_job_;
  SqliteStatement upsert_model_;
  SqliteStatement select_models_;
  SqliteStatement upsert_worker_;
  SqliteStatement delete_worker_;
  SqliteStatement select_workers_;
  SqliteStatement select_jobs_;
  SqliteStatement select_tasks_;
  SqliteStatement count_tasks_;
  SqliteStatement select_high_water_;
  SqliteStatement select_task_logs_;
  SqliteStatement select_job_logs_;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_STORE_SQLITE_JOB_STORE_H_
