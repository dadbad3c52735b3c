#include "scheduler/store/sqlite_job_store.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "scheduler/store/frame_ranges.h"
#include "scheduler/store/row_checks.h"

namespace genfarm::scheduler {
namespace {

// How Load names this store in what it logs about damaged rows.
constexpr absl::string_view kStoreName = "sqlite store";

constexpr char kDatabaseFile[] = "genfarm.db";
constexpr char kHighWaterKey[] = "attempt_high_water";
constexpr char kJobHighWaterKey[] = "job_high_water";

// Migration i (0-based) takes the schema from version i to i + 1. Append only: a shipped
// migration is never edited, since databases in the field have already run it.
constexpr const char* kMigrations[] = {
    // 1: initial schema.
    R"sql(
    CREATE TABLE jobs (
      id              INTEGER PRIMARY KEY,
      idempotency_key TEXT    NOT NULL DEFAULT '',
      spec            BLOB    NOT NULL,
      state           INTEGER NOT NULL,
      submit_ms       INTEGER NOT NULL DEFAULT 0,
      start_ms        INTEGER NOT NULL DEFAULT 0,
      end_ms          INTEGER NOT NULL DEFAULT 0,
      message         TEXT    NOT NULL DEFAULT ''
    );
    CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key)
      WHERE idempotency_key <> '';
    CREATE TABLE tasks (
      job_id          INTEGER NOT NULL,
      idx             INTEGER NOT NULL,
      stage           INTEGER NOT NULL,
      frames          TEXT    NOT NULL,
      state           INTEGER NOT NULL,
      attempts        INTEGER NOT NULL DEFAULT 0,
      attempt_id      INTEGER NOT NULL DEFAULT 0,
      worker          TEXT    NOT NULL DEFAULT '',
      start_ms        INTEGER NOT NULL DEFAULT 0,
      end_ms          INTEGER NOT NULL DEFAULT 0,
      not_before_ms   INTEGER NOT NULL DEFAULT 0,
      failure_reason  INTEGER NOT NULL DEFAULT 0,
      message         TEXT    NOT NULL DEFAULT '',
      frames_done     INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (job_id, idx)
    ) WITHOUT ROWID;
    CREATE TABLE logs (
      id         INTEGER PRIMARY KEY,
      job_id     INTEGER NOT NULL,
      idx        INTEGER NOT NULL,
      attempt_id INTEGER NOT NULL,
      time_ms    INTEGER NOT NULL,
      text       TEXT    NOT NULL
    );
    CREATE INDEX logs_task ON logs (job_id, idx, id);
    CREATE TABLE meta (
      key   TEXT PRIMARY KEY,
      value INTEGER NOT NULL
    ) WITHOUT ROWID;
    )sql",
    // 2: operator drains survive restarts.
    R"sql(
    CREATE TABLE workers (
      id         TEXT    PRIMARY KEY,
      draining   INTEGER NOT NULL,
      updated_ms INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    )sql",
    // 3: the durable model catalog.
    R"sql(
    CREATE TABLE models (
      name          TEXT    PRIMARY KEY,
      kind          TEXT    NOT NULL DEFAULT '',
      window_before INTEGER NOT NULL DEFAULT 0,
      window_after  INTEGER NOT NULL DEFAULT 0,
      version       TEXT    NOT NULL DEFAULT '',
      sha256        TEXT    NOT NULL DEFAULT '',
      updated_ms    INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    )sql",
    // 4: jobs waiting for model facts, stored without tasks (JobRecord::planned).
    R"sql(
    ALTER TABLE jobs ADD COLUMN planned INTEGER NOT NULL DEFAULT 1;
    )sql",
};

constexpr int kSchemaVersion = static_cast<int>(sizeof(kMigrations) / sizeof(kMigrations[0]));

// Runs `fn` on each row `stmt` returns, then resets it (on errors too).
template <typename Fn>
absl::Status ForEachRow(SqliteStatement& stmt, Fn fn) {
  for (;;) {
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok() || !*row) {
      stmt.Reset();
      return row.status();
    }
    fn(stmt);
  }
}

}  // namespace

int SqliteJobStore::CurrentSchemaVersion() { return kSchemaVersion; }

absl::StatusOr<std::unique_ptr<SqliteJobStore>> SqliteJobStore::Open(const std::string& data_dir) {
  return Open(data_dir, Options());
}

absl::StatusOr<std::unique_ptr<SqliteJobStore>> SqliteJobStore::Open(const std::string& data_dir,
                                                                     const Options& options) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite store: create data directory ", data_dir, ": ", ec.message()));
  }
  std::string path = (std::filesystem::path(data_dir) / kDatabaseFile).string();
  GENFARM_ASSIGN_OR_RETURN(std::unique_ptr<SqliteConnection> conn, SqliteConnection::Open(path));
  std::unique_ptr<SqliteJobStore> store(new SqliteJobStore(std::move(conn)));
  GENFARM_RETURN_IF_ERROR(store->Configure(options));
  GENFARM_RETURN_IF_ERROR(store->Migrate());
  GENFARM_RETURN_IF_ERROR(store->PrepareStatements());
  return store;
}

SqliteJobStore::~SqliteJobStore() = default;

absl::Status SqliteJobStore::Configure(const Options& options) {
  // busy_timeout first: the journal_mode change itself needs a lock another process may hold.
  GENFARM_RETURN_IF_ERROR(conn_->Exec(
      absl::StrCat("PRAGMA busy_timeout = ", absl::ToInt64Milliseconds(options.busy_timeout)),
      "set busy_timeout"));
  GENFARM_ASSIGN_OR_RETURN(std::string mode,
                           conn_->QueryText("PRAGMA journal_mode = WAL", "enable WAL"));
  if (mode != "wal") {
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite: enable WAL on ", conn_->path(), ": journal mode stayed \"", mode,
                     "\" (is the file on a filesystem without shared memory support?)"));
  }
  const char* sync = options.synchronous == Synchronous::kFull ? "FULL" : "NORMAL";
  GENFARM_RETURN_IF_ERROR(
      conn_->Exec(absl::StrCat("PRAGMA synchronous = ", sync), "set synchronous"));
  // Load scans whole tables once; a larger page cache (negative = KiB) and in-memory temp
  // storage for the sorts keep it from thrashing. 64 MiB.
  GENFARM_RETURN_IF_ERROR(conn_->Exec("PRAGMA cache_size = -65536", "set cache_size"));
  GENFARM_RETURN_IF_ERROR(conn_->Exec("PRAGMA temp_store = MEMORY", "set temp_store"));
  return absl::OkStatus();
}

absl::Status SqliteJobStore::Migrate() {
  GENFARM_RETURN_IF_ERROR(
      conn_->Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
                  "create schema_version"));
  // IMMEDIATE so two schedulers starting on one file cannot both run a migration.
  GENFARM_RETURN_IF_ERROR(conn_->Exec("BEGIN IMMEDIATE", "begin migration"));
  auto rollback = [this](absl::Status status) {
    (void)conn_->Exec("ROLLBACK", "rollback migration");
    return status;
  };
  absl::StatusOr<int64_t> version = conn_->QueryInt64(
      "SELECT coalesce(max(version), 0) FROM schema_version", "read schema version");
  if (!version.ok()) return rollback(version.status());
  if (*version > kSchemaVersion) {
    return rollback(absl::FailedPreconditionError(absl::StrCat(
        "sqlite store: ", conn_->path(), " has schema version ", *version,
        ", newer than this build understands (", kSchemaVersion, "); run a newer GenFarm")));
  }
  for (int64_t v = *version; v < kSchemaVersion; ++v) {
    absl::Status status = conn_->Exec(kMigrations[v], absl::StrCat("migrate to schema ", v + 1));
    if (!status.ok()) return rollback(status);
  }
  if (*version < kSchemaVersion) {
    absl::Status status = conn_->Exec(
        absl::StrCat("DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (",
                     kSchemaVersion, ")"),
        "record schema version");
    if (!status.ok()) return rollback(status);
  }
  return conn_->Exec("COMMIT", "commit migration");
}

absl::Status SqliteJobStore::PrepareStatements() {
  GENFARM_ASSIGN_OR_RETURN(begin_, conn_->Prepare("BEGIN IMMEDIATE", "begin commit"));
  GENFARM_ASSIGN_OR_RETURN(commit_, conn_->Prepare("COMMIT", "commit"));
  GENFARM_ASSIGN_OR_RETURN(rollback_, conn_->Prepare("ROLLBACK", "rollback"));
  GENFARM_ASSIGN_OR_RETURN(upsert_job_, conn_->Prepare(R"sql(
      INSERT INTO jobs (id, idempotency_key, spec, state, submit_ms, start_ms, end_ms, message,
                        planned)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
      ON CONFLICT (id) DO UPDATE SET
        idempotency_key = excluded.idempotency_key, spec = excluded.spec,
        state = excluded.state, submit_ms = excluded.submit_ms, start_ms = excluded.start_ms,
        end_ms = excluded.end_ms, message = excluded.message, planned = excluded.planned)sql",
                                                       "upsert job"));
  GENFARM_ASSIGN_OR_RETURN(upsert_task_, conn_->Prepare(R"sql(
      INSERT INTO tasks (job_id, idx, stage, frames, state, attempts, attempt_id, worker,
                         start_ms, end_ms, not_before_ms, failure_reason, message, frames_done)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
      ON CONFLICT (job_id, idx) DO UPDATE SET
        stage = excluded.stage, frames = excluded.frames, state = excluded.state,
        attempts = excluded.attempts, attempt_id = excluded.attempt_id,
        worker = excluded.worker, start_ms = excluded.start_ms, end_ms = excluded.end_ms,
        not_before_ms = excluded.not_before_ms, failure_reason = excluded.failure_reason,
        message = excluded.message, frames_done = excluded.frames_done)sql",
                                                        "upsert task"));
  GENFARM_ASSIGN_OR_RETURN(
      insert_log_, conn_->Prepare("INSERT INTO logs (job_id, idx, attempt_id, time_ms, text) "
                                  "VALUES (?1, ?2, ?3, ?4, ?5)",
                                  "append log"));
  // A high water only rises: a stale value can never make ids repeat after a restart.
  GENFARM_ASSIGN_OR_RETURN(upsert_high_water_, conn_->Prepare(R"sql(
      INSERT INTO meta (key, value) VALUES (?1, ?2)
      ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value))sql",
                                                              "store high water"));
  GENFARM_ASSIGN_OR_RETURN(delete_job_logs_,
                           conn_->Prepare("DELETE FROM logs WHERE job_id = ?1", "delete job logs"));
  GENFARM_ASSIGN_OR_RETURN(
      delete_job_tasks_, conn_->Prepare("DELETE FROM tasks WHERE job_id = ?1", "delete job tasks"));
  GENFARM_ASSIGN_OR_RETURN(delete_job_,
                           conn_->Prepare("DELETE FROM jobs WHERE id = ?1", "delete job"));
  GENFARM_ASSIGN_OR_RETURN(upsert_model_, conn_->Prepare(R"sql(
      INSERT INTO models (name, kind, window_before, window_after, version, sha256, updated_ms)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
      ON CONFLICT (name) DO UPDATE SET
        kind = excluded.kind, window_before = excluded.window_before,
        window_after = excluded.window_after, version = excluded.version,
        sha256 = excluded.sha256, updated_ms = excluded.updated_ms)sql",
                                                         "store model"));
  GENFARM_ASSIGN_OR_RETURN(
      select_models_,
      conn_->Prepare("SELECT name, kind, window_before, window_after, version, sha256, updated_ms "
                     "FROM models ORDER BY name",
                     "load models"));
  GENFARM_ASSIGN_OR_RETURN(upsert_worker_, conn_->Prepare(R"sql(
      INSERT INTO workers (id, draining, updated_ms) VALUES (?1, 1, ?2)
      ON CONFLICT (id) DO UPDATE SET draining = 1, updated_ms = excluded.updated_ms)sql",
                                                          "store worker drain"));
  GENFARM_ASSIGN_OR_RETURN(
      delete_worker_, conn_->Prepare("DELETE FROM workers WHERE id = ?1", "clear worker drain"));
  GENFARM_ASSIGN_OR_RETURN(
      select_workers_,
      conn_->Prepare("SELECT id, draining, updated_ms FROM workers ORDER BY id", "load workers"));
  GENFARM_ASSIGN_OR_RETURN(
      select_jobs_,
      conn_->Prepare("SELECT id, idempotency_key, spec, state, submit_ms, start_ms, end_ms, "
                     "message, planned FROM jobs ORDER BY id",
                     "load jobs"));
  GENFARM_ASSIGN_OR_RETURN(
      select_tasks_,
      conn_->Prepare("SELECT job_id, idx, stage, frames, state, attempts, attempt_id, worker, "
                     "start_ms, end_ms, not_before_ms, failure_reason, message, frames_done "
                     "FROM tasks ORDER BY job_id, idx",
                     "load tasks"));
  GENFARM_ASSIGN_OR_RETURN(count_tasks_,
                           conn_->Prepare("SELECT count(*) FROM tasks", "count tasks"));
  GENFARM_ASSIGN_OR_RETURN(
      select_high_water_,
      conn_->Prepare("SELECT value FROM meta WHERE key = ?1", "load high water"));
  // Newest `limit` rows (LIMIT -1 = all), returned oldest first.
  GENFARM_ASSIGN_OR_RETURN(select_task_logs_, conn_->Prepare(R"sql(
      SELECT job_id, idx, attempt_id, time_ms, text FROM (
        SELECT id, job_id, idx, attempt_id, time_ms, text FROM logs
        WHERE job_id = ?1 AND idx = ?2 ORDER BY id DESC LIMIT ?3)
      ORDER BY id)sql",
                                                             "read task logs"));
  GENFARM_ASSIGN_OR_RETURN(select_job_logs_, conn_->Prepare(R"sql(
      SELECT job_id, idx, attempt_id, time_ms, text FROM (
        SELECT id, job_id, idx, attempt_id, time_ms, text FROM logs
        WHERE job_id = ?1 ORDER BY id DESC LIMIT ?2)
      ORDER BY id)sql",
                                                            "read job logs"));
  return absl::OkStatus();
}

absl::StatusOr<std::string> SqliteJobStore::JournalMode() {
  return conn_->QueryText("PRAGMA journal_mode", "read journal_mode");
}

absl::StatusOr<StoreSnapshot> SqliteJobStore::Load() {
  StoreSnapshot snapshot;
  // A read transaction so jobs, tasks and the high water come from one consistent state.
  GENFARM_RETURN_IF_ERROR(conn_->Exec("BEGIN", "begin load"));
  absl::Status status = LoadInto(snapshot);
  (void)conn_->Exec("COMMIT", "end load");
  if (!status.ok()) return status;
  return snapshot;
}

absl::Status SqliteJobStore::LoadInto(StoreSnapshot& snapshot) {
  GENFARM_RETURN_IF_ERROR(ForEachRow(select_jobs_, [&](const SqliteStatement& row) {
    JobRecord& job = snapshot.jobs.emplace_back();
    job.id = JobId(row.ColumnInt64(0));
    job.idempotency_key = std::string(row.ColumnText(1));
    job.submit_ms = row.ColumnInt64(4);
    job.start_ms = row.ColumnInt64(5);
    job.end_ms = row.ColumnInt64(6);
    job.message = std::string(row.ColumnText(7));
    job.planned = row.ColumnInt64(8) != 0;
    // A damaged row costs its job only: it is returned for recovery to quarantine.
    CheckJobRow(kStoreName, row.ColumnBlob(2), row.ColumnInt64(3), job, snapshot);
  }));

  GENFARM_RETURN_IF_ERROR(ForEachRow(count_tasks_, [&](const SqliteStatement& row) {
    snapshot.tasks.reserve(static_cast<size_t>(row.ColumnInt64(0)));
  }));
  GENFARM_RETURN_IF_ERROR(ForEachRow(select_tasks_, [&](const SqliteStatement& row) {
    TaskRecord& task = snapshot.tasks.emplace_back();
    task.id.job = JobId(row.ColumnInt64(0));
    if (!CheckTaskRow(kStoreName, row.ColumnInt64(1), row.ColumnText(3), row.ColumnInt64(4),
                      row.ColumnInt64(11), task, snapshot)) {
      snapshot.tasks.pop_back();
      return;
    }
    task.stage = static_cast<int32_t>(row.ColumnInt64(2));
    task.attempts = static_cast<int32_t>(row.ColumnInt64(5));
    task.attempt = AttemptId(row.ColumnInt64(6));
    task.worker = std::string(row.ColumnText(7));
    task.start_ms = row.ColumnInt64(8);
    task.end_ms = row.ColumnInt64(9);
    task.not_before_ms = row.ColumnInt64(10);
    task.message = std::string(row.ColumnText(12));
    task.frames_done = row.ColumnInt64(13);
  }));

  for (auto [key, value] : {std::pair{kHighWaterKey, &snapshot.attempt_high_water},
                            std::pair{kJobHighWaterKey, &snapshot.job_high_water}}) {
    select_high_water_.BindText(1, key);
    GENFARM_RETURN_IF_ERROR(
        ForEachRow(select_high_water_,
                   [value = value](const SqliteStatement& row) { *value = row.ColumnInt64(0); }));
  }

  GENFARM_RETURN_IF_ERROR(ForEachRow(select_workers_, [&](const SqliteStatement& row) {
    WorkerRecord& worker = snapshot.workers.emplace_back();
    worker.id = WorkerId(std::string(row.ColumnText(0)));
    worker.draining = row.ColumnInt64(1) != 0;
    worker.updated_ms = row.ColumnInt64(2);
  }));

  return ForEachRow(select_models_, [&](const SqliteStatement& row) {
    ModelRecord& rec = snapshot.models.emplace_back();
    rec.model.set_name(std::string(row.ColumnText(0)));
    rec.model.set_kind(std::string(row.ColumnText(1)));
    rec.model.set_window_before(static_cast<int32_t>(row.ColumnInt64(2)));
    rec.model.set_window_after(static_cast<int32_t>(row.ColumnInt64(3)));
    rec.model.set_version(std::string(row.ColumnText(4)));
    rec.model.set_sha256(std::string(row.ColumnText(5)));
    rec.updated_ms = row.ColumnInt64(6);
  });
}

absl::Status SqliteJobStore::Commit(const WriteBatch& batch) {
  if (batch.empty()) return absl::OkStatus();
  GENFARM_RETURN_IF_ERROR(begin_.Run());
  absl::Status status = ApplyBatch(batch);
  if (status.ok()) status = commit_.Run();
  if (!status.ok()) {
    // After a failed COMMIT (e.g. SQLITE_BUSY) the transaction is still open; after some
    // errors SQLite has already rolled back. Either way, leave no transaction behind.
    (void)rollback_.Run();
  }
  return status;
}

absl::Status SqliteJobStore::ApplyBatch(const WriteBatch& batch) {
  std::string spec;
  for (const JobRecord& job : batch.jobs) {
    spec.clear();
    if (!job.spec.SerializeToString(&spec)) {
      return absl::InternalError(
          absl::StrCat("sqlite store: serialize spec of job ", job.id.value()));
    }
    upsert_job_.BindInt64(1, job.id.value());
    upsert_job_.BindText(2, job.idempotency_key);
    upsert_job_.BindBlob(3, spec);
    upsert_job_.BindInt64(4, job.state);
    upsert_job_.BindInt64(5, job.submit_ms);
    upsert_job_.BindInt64(6, job.start_ms);
    upsert_job_.BindInt64(7, job.end_ms);
    upsert_job_.BindText(8, job.message);
    upsert_job_.BindInt64(9, job.planned ? 1 : 0);
    absl::Status status = upsert_job_.Run();
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat(status.message(), " (job ", job.id.value(),
                                       ", idempotency key \"", job.idempotency_key, "\")"));
    }
  }
  std::string frames;
  for (const TaskRecord& task : batch.tasks) {
    frames = EncodeFrameRanges(task.frames);
    upsert_task_.BindInt64(1, task.id.job.value());
    upsert_task_.BindInt64(2, task.id.index);
    upsert_task_.BindInt64(3, task.stage);
    upsert_task_.BindText(4, frames);
    upsert_task_.BindInt64(5, task.state);
    upsert_task_.BindInt64(6, task.attempts);
    upsert_task_.BindInt64(7, task.attempt.value());
    upsert_task_.BindText(8, task.worker);
    upsert_task_.BindInt64(9, task.start_ms);
    upsert_task_.BindInt64(10, task.end_ms);
    upsert_task_.BindInt64(11, task.not_before_ms);
    upsert_task_.BindInt64(12, task.failure_reason);
    upsert_task_.BindText(13, task.message);
    upsert_task_.BindInt64(14, task.frames_done);
    absl::Status status = upsert_task_.Run();
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat(status.message(), " (task ", task.id.ToString(), ")"));
    }
  }
  for (const LogRecord& log : batch.logs) {
    insert_log_.BindInt64(1, log.task.job.value());
    insert_log_.BindInt64(2, log.task.index);
    insert_log_.BindInt64(3, log.attempt.value());
    insert_log_.BindInt64(4, log.time_ms);
    insert_log_.BindText(5, log.text);
    GENFARM_RETURN_IF_ERROR(insert_log_.Run());
  }
  for (const WorkerRecord& worker : batch.workers) {
    SqliteStatement& stmt = worker.draining ? upsert_worker_ : delete_worker_;
    stmt.BindText(1, worker.id.value());
    if (worker.draining) stmt.BindInt64(2, worker.updated_ms);
    absl::Status status = stmt.Run();
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat(status.message(), " (worker ", worker.id.value(), ")"));
    }
  }
  for (const ModelRecord& rec : batch.models) {
    const v1::ModelInfo& m = rec.model;
    upsert_model_.BindText(1, m.name());
    upsert_model_.BindText(2, m.kind());
    upsert_model_.BindInt64(3, m.window_before());
    upsert_model_.BindInt64(4, m.window_after());
    upsert_model_.BindText(5, m.version());
    upsert_model_.BindText(6, m.sha256());
    upsert_model_.BindInt64(7, rec.updated_ms);
    absl::Status status = upsert_model_.Run();
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat(status.message(), " (model ", m.name(), ")"));
    }
  }
  // After the upserts: records of a job put before its deletion must not bring it back.
  for (JobId job : batch.deleted_jobs) {
    for (SqliteStatement* stmt : {&delete_job_logs_, &delete_job_tasks_, &delete_job_}) {
      stmt->BindInt64(1, job.value());
      absl::Status status = stmt->Run();
      if (!status.ok()) {
        return absl::Status(status.code(),
                            absl::StrCat(status.message(), " (deleting job ", job.value(), ")"));
      }
    }
  }
  for (auto [key, value] : {std::pair{kHighWaterKey, batch.attempt_high_water},
                            std::pair{kJobHighWaterKey, batch.job_high_water}}) {
    if (value == 0) continue;
    upsert_high_water_.BindText(1, key);
    upsert_high_water_.BindInt64(2, value);
    GENFARM_RETURN_IF_ERROR(upsert_high_water_.Run());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<LogRecord>> SqliteJobStore::ReadLogs(TaskId task, int limit) {
  SqliteStatement& stmt = task.index < 0 ? select_job_logs_ : select_task_logs_;
  stmt.BindInt64(1, task.job.value());
  if (task.index >= 0) {
    stmt.BindInt64(2, task.index);
    stmt.BindInt64(3, limit > 0 ? limit : -1);
  } else {
    stmt.BindInt64(2, limit > 0 ? limit : -1);
  }
  std::vector<LogRecord> logs;
  GENFARM_RETURN_IF_ERROR(ForEachRow(stmt, [&](const SqliteStatement& row) {
    LogRecord& log = logs.emplace_back();
    log.task.job = JobId(row.ColumnInt64(0));
    log.task.index = static_cast<int32_t>(row.ColumnInt64(1));
    log.attempt = AttemptId(row.ColumnInt64(2));
    log.time_ms = row.ColumnInt64(3);
    log.text = std::string(row.ColumnText(4));
  }));
  return logs;
}

}  // namespace genfarm::scheduler
