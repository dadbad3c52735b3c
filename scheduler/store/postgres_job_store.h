// PostgresJobStore: the JobStore on a PostgreSQL server (libpqxx 6.4), for farms whose state
// must outlive the scheduler's host. Same contract as SqliteJobStore: Commit applies one
// WriteBatch in one transaction (the StoreWriter's group commit decides what goes into it),
// Load reads everything back in key order and reports damaged rows per job, ReadLogs returns
// the newest lines oldest first.
//
//   GENFARM_ASSIGN_OR_RETURN(std::unique_ptr<PostgresJobStore> store,
//                            PostgresJobStore::Open("postgres://genfarm@db:5432/genfarm"));
//   GENFARM_ASSIGN_OR_RETURN(StoreSnapshot snapshot, store->Load());
//   WriteBatch batch;
//   batch.tasks.push_back(task);
//   GENFARM_RETURN_IF_ERROR(store->Commit(batch));
//
// Connecting. `url` is anything libpq accepts: a URI (`postgres://user@host:port/db`,
// `postgresql://...?sslmode=require`) or a keyword string (`host=/run/pg dbname=genfarm`).
// Passwords are best kept out of the URL (PGPASSFILE / ~/.pgpass); error messages never echo
// the password.
//
// Schema. Open creates the schema if it is missing (idempotent, under an advisory lock so two
// schedulers starting together do not race), records its version in `genfarm_schema_version`,
// and refuses a database written by a newer GenFarm. Tables mirror SqliteJobStore's:
//   jobs(id PK, idempotency_key UNIQUE where non-empty, spec bytea, state, submit_ms, start_ms,
//        end_ms, message)
//   tasks((job_id, idx) PK, stage, frames (text ranges, see frame_ranges.h), state, attempts,
//         attempt_id, worker, start_ms, end_ms, not_before_ms, failure_reason, message,
//         frames_done)
//   logs(id bigserial PK (append order), job_id, idx, attempt_id, time_ms, text),
//        index (job_id, idx, id)
//   meta(key PK, value)                      -- 'attempt_high_water', 'job_high_water'
//   workers(id PK, draining, updated_ms)     -- operator drains (drained workers only)
//   models(name PK, kind, window_before, window_after, version, sha256, updated_ms)
// Enumerations and counts are bigint, as in SQLite, so an out-of-range value written by hand
// or by a newer build is read and reported as damage rather than failing the whole Load.
//
// Speed. Every statement is prepared once per connection. A batch with many tasks or logs is
// sent with COPY (pqxx::stream_to) into a temporary table and merged with one
// INSERT ... ON CONFLICT, so a million-task batch is seconds, not minutes; Load reads tasks
// through a server-side cursor in chunks rather than one huge result.
//
// Durability: PostgreSQL's; with the server default synchronous_commit = on, a Commit that
// returned is on the server's disk.
//
// Text: PostgreSQL text holds valid UTF-8 without NUL bytes only, so other bytes in messages,
// log lines, worker ids and model fields are stored as U+FFFD (SQLite keeps them as given).
// Refusing them would fail the batch, which the StoreWriter would retry forever.
//
// Fencing (high availability, scheduler/ha): after EnableFencing(epoch), every Commit first
// reads the leader row (genfarm_leader, see postgres_leader_lease.h) FOR SHARE and writes
// nothing if its epoch is no longer `epoch` (ABORTED "fenced: ..."; on_fenced is told once),
// and counts itself in genfarm_epochs in the same transaction. The FOR SHARE lock makes a
// standby's acquire wait for a commit in flight, so no write of an old epoch can land after
// a new epoch began. idle_in_transaction_session_timeout is set on the connection so that a
// leader frozen inside a transaction (SIGSTOP, a VM pause) holds that lock for at most that
// long.
//
// Ownership: owns its connection. Thread-compatible: one caller at a time. Open a second
// store for a second thread (the scheduler reads task logs on its own connection).
#ifndef GENFARM_SCHEDULER_STORE_POSTGRES_JOB_STORE_H_
#define GENFARM_SCHEDULER_STORE_POSTGRES_JOB_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "scheduler/store/job_store.h"

namespace genfarm::scheduler {

class PostgresJobStore : public JobStore {
 public:
  // The schema version this build writes.
  static int CurrentSchemaVersion();

  // Connects to `url`, creates the schema if missing and prepares the statements.
  static absl::StatusOr<std::unique_ptr<PostgresJobStore>> Open(const std::string& url);

  // `url` with any password replaced by "***", for logs and errors.
  static std::string RedactUrl(const std::string& url);

  ~PostgresJobStore() override;

  absl::StatusOr<StoreSnapshot> Load() override;
  absl::Status Commit(const WriteBatch& batch) override;
  // Newest `limit` lines (limit <= 0: all), oldest first. task.index < 0: every task of the job.
  absl::StatusOr<std::vector<LogRecord>> ReadLogs(TaskId task, int limit) override;

  struct Fence {
    int64_t epoch = 0;   // the epoch this scheduler leads at
    std::string holder;  // recorded with the epoch's commits
    // Called (once, on the committing thread) when a commit found a newer epoch.
    std::function<void(const absl::Status&)> on_fenced;
    // A transaction left open longer than this is ended by the server (0: never).
    absl::Duration idle_in_transaction_timeout = absl::Seconds(2);
  };
  // Makes every later Commit conditional on the lease (see "Fencing" above). The lease tables
  // must exist (PostgresLeaderLease::Open creates them).
  absl::Status EnableFencing(Fence fence);

  // Batches with at least this many tasks (or logs) go through COPY; smaller ones through the
  // prepared row statements. Tests lower it to cover both paths.
  void set_copy_threshold(size_t rows) { copy_threshold_ = rows; }

 private:
  struct Connection;  // the pqxx connection, kept out of this header
  PostgresJobStore(std::unique_ptr<Connection> conn, std::string url);

  absl::Status CreateSchema();
  absl::Status LoadInto(StoreSnapshot& snapshot);

  std::unique_ptr<Connection> conn_;
  std::string url_;  // redacted
  std::optional<Fence> fence_;
  bool fenced_ = false;  // a commit was refused: on_fenced was called
  size_t copy_threshold_ = 256;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_STORE_POSTGRES_JOB_STORE_H_
