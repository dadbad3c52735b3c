#include "scheduler/store/postgres_job_store.h"

#include <cstdint>
#include <exception>
#include <limits>
#include <pqxx/pqxx>
#include <string>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "scheduler/store/frame_ranges.h"
#include "scheduler/store/postgres_status.h"
#include "scheduler/store/row_checks.h"

namespace genfarm::scheduler {

struct PostgresJobStore::Connection {
  explicit Connection(const std::string& url) : conn(url) {}
  pqxx::connection conn;
};

namespace {

// How Load names this store in what it logs about damaged rows.
constexpr absl::string_view kStoreName = "postgres store";

constexpr char kHighWaterKey[] = "attempt_high_water";
constexpr char kJobHighWaterKey[] = "job_high_water";
// Any constant both sides agree on: serialises schema creation between schedulers.
constexpr int64_t kSchemaLockKey = 0x67656e6661726d;  // "genfarm"

// Schema version i + 1 is kSchema[0..i] applied in order. Append only, as in SQLite.
constexpr const char* kSchema[] = {
    // 1: jobs, tasks, logs, meta, drains, the model catalog.
    R"sql(
    CREATE TABLE IF NOT EXISTS jobs (
      id              bigint PRIMARY KEY,
      idempotency_key text   NOT NULL DEFAULT '',
      spec            bytea  NOT NULL,
      state           bigint NOT NULL,
      submit_ms       bigint NOT NULL DEFAULT 0,
      start_ms        bigint NOT NULL DEFAULT 0,
      end_ms          bigint NOT NULL DEFAULT 0,
      message         text   NOT NULL DEFAULT ''
    );
    CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency_key ON jobs (idempotency_key)
      WHERE idempotency_key <> '';
    CREATE TABLE IF NOT EXISTS tasks (
      job_id          bigint NOT NULL,
      idx             bigint NOT NULL,
      stage           bigint NOT NULL,
      frames          text   NOT NULL,
      state           bigint NOT NULL,
      attempts        bigint NOT NULL DEFAULT 0,
      attempt_id      bigint NOT NULL DEFAULT 0,
      worker          text   NOT NULL DEFAULT '',
      start_ms        bigint NOT NULL DEFAULT 0,
      end_ms          bigint NOT NULL DEFAULT 0,
      not_before_ms   bigint NOT NULL DEFAULT 0,
      failure_reason  bigint NOT NULL DEFAULT 0,
      message         text   NOT NULL DEFAULT '',
      frames_done     bigint NOT NULL DEFAULT 0,
      PRIMARY KEY (job_id, idx)
    );
    CREATE TABLE IF NOT EXISTS logs (
      id         bigserial PRIMARY KEY,
      job_id     bigint NOT NULL,
      idx        bigint NOT NULL,
      attempt_id bigint NOT NULL,
      time_ms    bigint NOT NULL,
      text       text   NOT NULL
    );
    CREATE INDEX IF NOT EXISTS logs_task ON logs (job_id, idx, id);
    CREATE TABLE IF NOT EXISTS meta (
      key   text   PRIMARY KEY,
      value bigint NOT NULL
    );
    CREATE TABLE IF NOT EXISTS workers (
      id         text    PRIMARY KEY,
      draining   boolean NOT NULL,
      updated_ms bigint  NOT NULL DEFAULT 0
    );
    CREATE TABLE IF NOT EXISTS models (
      name          text   PRIMARY KEY,
      kind          text   NOT NULL DEFAULT '',
      window_before bigint NOT NULL DEFAULT 0,
      window_after  bigint NOT NULL DEFAULT 0,
      version       text   NOT NULL DEFAULT '',
      sha256        text   NOT NULL DEFAULT '',
      updated_ms    bigint NOT NULL DEFAULT 0
    );
    )sql",
};

constexpr int kSchemaVersion = static_cast<int>(sizeof(kSchema) / sizeof(kSchema[0]));

constexpr char kTaskColumns[] =
    "job_id, idx, stage, frames, state, attempts, attempt_id, worker, start_ms, end_ms, "
    "not_before_ms, failure_reason, message, frames_done";
constexpr char kTaskUpdate[] = R"sql(
    ON CONFLICT (job_id, idx) DO UPDATE SET
      stage = excluded.stage, frames = excluded.frames, state = excluded.state,
      attempts = excluded.attempts, attempt_id = excluded.attempt_id, worker = excluded.worker,
      start_ms = excluded.start_ms, end_ms = excluded.end_ms,
      not_before_ms = excluded.not_before_ms, failure_reason = excluded.failure_reason,
      message = excluded.message, frames_done = excluded.frames_done)sql";
// Rows fetched per round trip when Load walks the tasks cursor.
constexpr int kFetchRows = 20'000;

// Runs `fn`, turning libpqxx's exceptions into a status that names `what`.
template <typename Fn>
absl::Status Guard(absl::string_view what, Fn&& fn) {
  return PqxxGuard(absl::StrCat("postgres store: ", what), std::forward<Fn>(fn));
}

// Adds the row a failure was about to its message.
absl::Status Annotate(const absl::Status& status, absl::string_view row) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(status.message(), " (", row, ")"));
}

// Length of the valid UTF-8 sequence at s[i], or 0 if it is not one (overlong forms,
// surrogates and code points past U+10FFFF are invalid, as PostgreSQL holds them).
size_t Utf8SequenceLength(absl::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c >= 0x01 && c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;  // NUL, a stray continuation byte, or a byte that cannot start a sequence
}

// `text` as PostgreSQL text accepts it: valid UTF-8 without NUL. Other bytes (a worker's log
// line in Latin-1, a NUL in a message) become U+FFFD. Refusing them would fail the batch and
// the StoreWriter would retry that batch forever; SQLite keeps such bytes as given, so this is
// the one place the two stores differ.
std::string PgText(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t n = Utf8SequenceLength(text, i);
    if (n == 0) break;
    i += n;
  }
  if (i == text.size()) return std::string(text);
  std::string out(text.substr(0, i));
  while (i < text.size()) {
    const size_t n = Utf8SequenceLength(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      ++i;
    } else {
      out.append(text.data() + i, n);
      i += n;
    }
  }
  return out;
}

int64_t Int(const pqxx::field& f) { return f.as<int64_t>(); }
std::string Text(const pqxx::field& f) { return std::string(f.c_str(), f.size()); }

using TaskTuple = std::tuple<int64_t, int64_t, int64_t, std::string, int64_t, int64_t, int64_t,
                             std::string, int64_t, int64_t, int64_t, int64_t, std::string, int64_t>;

TaskTuple ToTuple(const TaskRecord& t) {
  return TaskTuple(t.id.job.value(), t.id.index, t.stage, EncodeFrameRanges(t.frames), t.state,
                   t.attempts, t.attempt.value(), PgText(t.worker), t.start_ms, t.end_ms,
                   t.not_before_ms, t.failure_reason, PgText(t.message), t.frames_done);
}

// The tasks of a batch, the last record of each task only: one INSERT ... ON CONFLICT may
// not touch a row twice, and the last record is the one a row-by-row upsert would leave.
std::vector<const TaskRecord*> LastPerTask(const std::vector<TaskRecord>& tasks) {
  absl::flat_hash_map<std::pair<int64_t, int32_t>, size_t> last;
  last.reserve(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    last[{tasks[i].id.job.value(), tasks[i].id.index}] = i;
  }
  std::vector<const TaskRecord*> out;
  out.reserve(last.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (last[{tasks[i].id.job.value(), tasks[i].id.index}] == i) out.push_back(&tasks[i]);
  }
  return out;
}

absl::Status ApplyJobs(pqxx::work& txn, const std::vector<JobRecord>& jobs) {
  std::string spec;
  for (const JobRecord& job : jobs) {
    spec.clear();
    if (!job.spec.SerializeToString(&spec)) {
      return absl::InternalError(
          absl::StrCat("postgres store: serialize spec of job ", job.id.value()));
    }
    const std::string row = absl::StrCat("jobs row ", job.id.value(), ", idempotency key \"",
                                         job.idempotency_key, "\"");
    GENFARM_RETURN_IF_ERROR(Annotate(
        Guard("upsert job",
              [&] {
                txn.exec_prepared("upsert_job", job.id.value(), PgText(job.idempotency_key),
                                  pqxx::binarystring(spec), static_cast<int64_t>(job.state),
                                  job.submit_ms, job.start_ms, job.end_ms, PgText(job.message));
                return absl::OkStatus();
              }),
        row));
  }
  return absl::OkStatus();
}

absl::Status ApplyTasks(pqxx::work& txn, const std::vector<TaskRecord>& tasks, size_t threshold) {
  if (tasks.size() < threshold) {
    for (const TaskRecord& t : tasks) {
      GENFARM_RETURN_IF_ERROR(Annotate(
          Guard("upsert task",
                [&] {
                  txn.exec_prepared("upsert_task", t.id.job.value(), int64_t{t.id.index},
                                    int64_t{t.stage}, EncodeFrameRanges(t.frames),
                                    static_cast<int64_t>(t.state), int64_t{t.attempts},
                                    t.attempt.value(), PgText(t.worker), t.start_ms, t.end_ms,
                                    t.not_before_ms, static_cast<int64_t>(t.failure_reason),
                                    PgText(t.message), t.frames_done);
                  return absl::OkStatus();
                }),
          absl::StrCat("tasks row ", t.id.ToString())));
    }
    return absl::OkStatus();
  }
  // Bulk: COPY into a per-session staging table emptied at commit, then one merge.
  return Guard(absl::StrCat("upsert ", tasks.size(), " tasks by COPY"), [&] {
    txn.exec0(
        "CREATE TEMP TABLE IF NOT EXISTS genfarm_tasks_in (LIKE tasks INCLUDING DEFAULTS) "
        "ON COMMIT DELETE ROWS");
    {
      pqxx::stream_to copy(
          txn, "genfarm_tasks_in",
          std::vector<std::string>{"job_id", "idx", "stage", "frames", "state", "attempts",
                                   "attempt_id", "worker", "start_ms", "end_ms", "not_before_ms",
                                   "failure_reason", "message", "frames_done"});
      for (const TaskRecord* t : LastPerTask(tasks)) copy << ToTuple(*t);
      copy.complete();
    }
    txn.exec0(absl::StrCat("INSERT INTO tasks (", kTaskColumns, ") SELECT ", kTaskColumns,
                           " FROM genfarm_tasks_in", kTaskUpdate));
    return absl::OkStatus();
  });
}

absl::Status ApplyLogs(pqxx::work& txn, const std::vector<LogRecord>& logs, size_t threshold) {
  if (logs.size() < threshold) {
    for (const LogRecord& log : logs) {
      GENFARM_RETURN_IF_ERROR(Annotate(
          Guard("append log",
                [&] {
                  txn.exec_prepared("insert_log", log.task.job.value(), int64_t{log.task.index},
                                    log.attempt.value(), log.time_ms, PgText(log.text));
                  return absl::OkStatus();
                }),
          absl::StrCat("logs of task ", log.task.ToString())));
    }
    return absl::OkStatus();
  }
  return Guard(absl::StrCat("append ", logs.size(), " log lines by COPY"), [&] {
    pqxx::stream_to copy(
        txn, "logs", std::vector<std::string>{"job_id", "idx", "attempt_id", "time_ms", "text"});
    for (const LogRecord& log : logs) {
      copy << std::make_tuple(log.task.job.value(), int64_t{log.task.index}, log.attempt.value(),
                              log.time_ms, PgText(log.text));
    }
    copy.complete();
    return absl::OkStatus();
  });
}

absl::Status ApplyRest(pqxx::work& txn, const WriteBatch& batch) {
  for (const WorkerRecord& worker : batch.workers) {
    GENFARM_RETURN_IF_ERROR(Annotate(
        Guard(worker.draining ? "store worker drain" : "clear worker drain",
              [&] {
                if (worker.draining) {
                  txn.exec_prepared("upsert_worker", PgText(worker.id.value()), worker.updated_ms);
                } else {
                  txn.exec_prepared("delete_worker", PgText(worker.id.value()));
                }
                return absl::OkStatus();
              }),
        absl::StrCat("workers row ", worker.id.value())));
  }
  for (const ModelRecord& rec : batch.models) {
    const v1::ModelInfo& m = rec.model;
    GENFARM_RETURN_IF_ERROR(
        Annotate(Guard("store model",
                       [&] {
                         txn.exec_prepared("upsert_model", PgText(m.name()), PgText(m.kind()),
                                           int64_t{m.window_before()}, int64_t{m.window_after()},
                                           PgText(m.version()), PgText(m.sha256()), rec.updated_ms);
                         return absl::OkStatus();
                       }),
                 absl::StrCat("models row ", m.name())));
  }
  // After the upserts: records of a job put before its deletion must not bring it back.
  if (!batch.deleted_jobs.empty()) {
    std::string ids = absl::StrCat(
        "{",
        absl::StrJoin(batch.deleted_jobs, ",",
                      [](std::string* out, JobId id) { absl::StrAppend(out, id.value()); }),
        "}");
    GENFARM_RETURN_IF_ERROR(Annotate(Guard("delete jobs",
                                           [&] {
                                             txn.exec_prepared("delete_job_logs", ids);
                                             txn.exec_prepared("delete_job_tasks", ids);
                                             txn.exec_prepared("delete_jobs", ids);
                                             return absl::OkStatus();
                                           }),
                                     absl::StrCat("jobs ", ids)));
  }
  for (auto [key, value] : {std::pair{kHighWaterKey, batch.attempt_high_water},
                            std::pair{kJobHighWaterKey, batch.job_high_water}}) {
    if (value == 0) continue;
    GENFARM_RETURN_IF_ERROR(Annotate(Guard("store high water",
                                           [&, key = key, value = value] {
                                             txn.exec_prepared("upsert_high_water",
                                                               std::string(key), value);
                                             return absl::OkStatus();
                                           }),
                                     absl::StrCat("meta row ", key)));
  }
  return absl::OkStatus();
}

}  // namespace

int PostgresJobStore::CurrentSchemaVersion() { return kSchemaVersion; }

std::string PostgresJobStore::RedactUrl(const std::string& url) {
  std::string out = url;
  // URI form: scheme://user:password@host...
  const size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    const size_t at = out.find('@', scheme + 3);
    const size_t colon = out.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // Keyword form and URI parameters: password=...
  for (size_t pos = out.find("password="); pos != std::string::npos;
       pos = out.find("password=", pos + 1)) {
    const size_t start = pos + 9;
    size_t end = out.find_first_of(" &", start);
    if (end == std::string::npos) end = out.size();
    out.replace(start, end - start, "***");
  }
  return out;
}

PostgresJobStore::PostgresJobStore(std::unique_ptr<Connection> conn, std::string url)
    : conn_(std::move(conn)), url_(std::move(url)) {}

PostgresJobStore::~PostgresJobStore() = default;

absl::StatusOr<std::unique_ptr<PostgresJobStore>> PostgresJobStore::Open(const std::string& url) {
  const std::string redacted = RedactUrl(url);
  std::unique_ptr<Connection> conn;
  absl::Status connected = Guard(absl::StrCat("connect to ", redacted), [&] {
    conn = std::make_unique<Connection>(url);
    return absl::OkStatus();
  });
  if (!connected.ok()) return connected;
  std::unique_ptr<PostgresJobStore> store(new PostgresJobStore(std::move(conn), redacted));
  GENFARM_RETURN_IF_ERROR(store->CreateSchema());
  GENFARM_RETURN_IF_ERROR(Guard("prepare statements", [&] {
    pqxx::connection& c = store->conn_->conn;
    c.prepare("upsert_job", R"sql(
        INSERT INTO jobs (id, idempotency_key, spec, state, submit_ms, start_ms, end_ms, message)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (id) DO UPDATE SET
          idempotency_key = excluded.idempotency_key, spec = excluded.spec,
          state = excluded.state, submit_ms = excluded.submit_ms, start_ms = excluded.start_ms,
          end_ms = excluded.end_ms, message = excluded.message)sql");
    c.prepare("upsert_task",
              absl::StrCat("INSERT INTO tasks (", kTaskColumns,
                           ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                           kTaskUpdate));
    c.prepare("insert_log",
              "INSERT INTO logs (job_id, idx, attempt_id, time_ms, text) "
              "VALUES ($1, $2, $3, $4, $5)");
    // A high water only rises: a stale value can never make ids repeat after a restart.
    c.prepare("upsert_high_water",
              "INSERT INTO meta (key, value) VALUES ($1, $2) "
              "ON CONFLICT (key) DO UPDATE SET value = greatest(meta.value, excluded.value)");
    c.prepare("delete_job_logs", "DELETE FROM logs WHERE job_id = ANY ($1::bigint[])");
    c.prepare("delete_job_tasks", "DELETE FROM tasks WHERE job_id = ANY ($1::bigint[])");
    c.prepare("delete_jobs", "DELETE FROM jobs WHERE id = ANY ($1::bigint[])");
    c.prepare("upsert_model", R"sql(
        INSERT INTO models (name, kind, window_before, window_after, version, sha256, updated_ms)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (name) DO UPDATE SET
          kind = excluded.kind, window_before = excluded.window_before,
          window_after = excluded.window_after, version = excluded.version,
          sha256 = excluded.sha256, updated_ms = excluded.updated_ms)sql");
    c.prepare("upsert_worker",
              "INSERT INTO workers (id, draining, updated_ms) VALUES ($1, true, $2) "
              "ON CONFLICT (id) DO UPDATE SET draining = true, updated_ms = excluded.updated_ms");
    c.prepare("delete_worker", "DELETE FROM workers WHERE id = $1");
    // Newest $n rows, returned oldest first.
    c.prepare("select_task_logs", R"sql(
        SELECT job_id, idx, attempt_id, time_ms, text FROM (
          SELECT id, job_id, idx, attempt_id, time_ms, text FROM logs
          WHERE job_id = $1 AND idx = $2 ORDER BY id DESC LIMIT $3) newest
        ORDER BY id)sql");
    c.prepare("select_job_logs", R"sql(
        SELECT job_id, idx, attempt_id, time_ms, text FROM (
          SELECT id, job_id, idx, attempt_id, time_ms, text FROM logs
          WHERE job_id = $1 ORDER BY id DESC LIMIT $2) newest
        ORDER BY id)sql");
    return absl::OkStatus();
  }));
  return store;
}

absl::Status PostgresJobStore::CreateSchema() {
  return Guard(absl::StrCat("create schema on ", url_), [&]() -> absl::Status {
    // Notices ("relation already exists, skipping") are noise on every start.
    conn_->conn.set_variable("client_min_messages", "warning");
    pqxx::work txn(conn_->conn);
    txn.exec(absl::StrCat("SELECT pg_advisory_xact_lock(", kSchemaLockKey, ")"));
    txn.exec0("CREATE TABLE IF NOT EXISTS genfarm_schema_version (version bigint NOT NULL)");
    const int64_t version =
        txn.exec1("SELECT coalesce(max(version), 0) FROM genfarm_schema_version")[0].as<int64_t>();
    if (version > kSchemaVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          "postgres store: ", url_, " has schema version ", version,
          ", newer than this build understands (", kSchemaVersion, "); run a newer GenFarm"));
    }
    for (int64_t v = version; v < kSchemaVersion; ++v) txn.exec0(kSchema[v]);
    if (version < kSchemaVersion) {
      txn.exec0("DELETE FROM genfarm_schema_version");
      txn.exec0(absl::StrCat("INSERT INTO genfarm_schema_version (version) VALUES (",
                             kSchemaVersion, ")"));
    }
    txn.commit();
    return absl::OkStatus();
  });
}

absl::Status PostgresJobStore::EnableFencing(Fence fence) {
  return Guard("enable fencing", [&] {
    if (fence.idle_in_transaction_timeout > absl::ZeroDuration()) {
      conn_->conn.set_variable(
          "idle_in_transaction_session_timeout",
          std::to_string(absl::ToInt64Milliseconds(fence.idle_in_transaction_timeout)));
    }
    pqxx::connection& c = conn_->conn;
    c.prepare("fence_check", "SELECT epoch, holder FROM genfarm_leader WHERE id = 1 FOR SHARE");
    // clock_timestamp(): the time of this statement, the last before the commit, so an old
    // epoch's last_commit_at precedes its successor's acquired_at (which waited for our lock).
    c.prepare("record_commit", R"sql(
        INSERT INTO genfarm_epochs (epoch, holder, acquired_at, last_commit_at, commits)
        VALUES ($1, $2, clock_timestamp(), clock_timestamp(), 1)
        ON CONFLICT (epoch) DO UPDATE SET
          last_commit_at = clock_timestamp(), commits = genfarm_epochs.commits + 1)sql");
    fence_ = std::move(fence);
    return absl::OkStatus();
  });
}

absl::Status PostgresJobStore::Commit(const WriteBatch& batch) {
  if (batch.empty()) return absl::OkStatus();
  bool fenced = false;
  absl::Status status = Guard("commit", [&]() -> absl::Status {
    pqxx::work txn(conn_->conn);
    if (fence_.has_value()) {
      const pqxx::row leader = txn.exec_prepared1("fence_check");
      const int64_t epoch = leader[0].as<int64_t>();
      if (epoch != fence_->epoch) {
        fenced = true;
        return absl::AbortedError(absl::StrCat(
            "fenced: this scheduler's epoch ", fence_->epoch, " was superseded by ", epoch, " (",
            leader[1].as<std::string>(), "); nothing of this batch was written"));
      }
    }
    GENFARM_RETURN_IF_ERROR(ApplyJobs(txn, batch.jobs));
    GENFARM_RETURN_IF_ERROR(ApplyTasks(txn, batch.tasks, copy_threshold_));
    GENFARM_RETURN_IF_ERROR(ApplyLogs(txn, batch.logs, copy_threshold_));
    GENFARM_RETURN_IF_ERROR(ApplyRest(txn, batch));
    if (fence_.has_value()) txn.exec_prepared0("record_commit", fence_->epoch, fence_->holder);
    txn.commit();  // on any early return, ~work rolls back: nothing of the batch stays
    return absl::OkStatus();
  });
  if (fenced && !fenced_) {
    fenced_ = true;
    if (fence_->on_fenced) fence_->on_fenced(status);
  }
  return status;
}

absl::StatusOr<StoreSnapshot> PostgresJobStore::Load() {
  StoreSnapshot snapshot;
  GENFARM_RETURN_IF_ERROR(Guard("load", [&] { return LoadInto(snapshot); }));
  return snapshot;
}

absl::Status PostgresJobStore::LoadInto(StoreSnapshot& snapshot) {
  // One snapshot of the database for jobs, tasks and the high waters.
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(conn_->conn);
  for (const pqxx::row& row :
       txn.exec("SELECT id, idempotency_key, spec, state, submit_ms, start_ms, end_ms, message "
                "FROM jobs ORDER BY id")) {
    JobRecord& job = snapshot.jobs.emplace_back();
    job.id = JobId(Int(row[0]));
    job.idempotency_key = Text(row[1]);
    const pqxx::binarystring spec(row[2]);
    const absl::string_view spec_bytes(reinterpret_cast<const char*>(spec.data()), spec.size());
    job.submit_ms = Int(row[4]);
    job.start_ms = Int(row[5]);
    job.end_ms = Int(row[6]);
    job.message = Text(row[7]);
    // A damaged row costs its job only: it is returned for recovery to quarantine.
    CheckJobRow(kStoreName, spec_bytes, Int(row[3]), job, snapshot);
  }

  snapshot.tasks.reserve(
      static_cast<size_t>(txn.exec1("SELECT count(*) FROM tasks")[0].as<int64_t>()));
  // A cursor, so a million tasks arrive in chunks rather than as one result held twice.
  txn.exec0(absl::StrCat("DECLARE genfarm_load_tasks NO SCROLL CURSOR FOR SELECT ", kTaskColumns,
                         " FROM tasks ORDER BY job_id, idx"));
  const std::string fetch = absl::StrCat("FETCH ", kFetchRows, " FROM genfarm_load_tasks");
  for (;;) {
    pqxx::result chunk = txn.exec(fetch);
    if (chunk.empty()) break;
    for (const pqxx::row& row : chunk) {
      TaskRecord& task = snapshot.tasks.emplace_back();
      task.id.job = JobId(Int(row[0]));
      if (!CheckTaskRow(kStoreName, Int(row[1]), absl::string_view(row[3].c_str(), row[3].size()),
                        Int(row[4]), Int(row[11]), task, snapshot)) {
        snapshot.tasks.pop_back();
        continue;
      }
      task.stage = static_cast<int32_t>(Int(row[2]));
      task.attempts = static_cast<int32_t>(Int(row[5]));
      task.attempt = AttemptId(Int(row[6]));
      task.worker = Text(row[7]);
      task.start_ms = Int(row[8]);
      task.end_ms = Int(row[9]);
      task.not_before_ms = Int(row[10]);
      task.message = Text(row[12]);
      task.frames_done = Int(row[13]);
    }
  }
  txn.exec0("CLOSE genfarm_load_tasks");

  for (const pqxx::row& row : txn.exec("SELECT key, value FROM meta")) {
    const std::string key = Text(row[0]);
    if (key == kHighWaterKey) snapshot.attempt_high_water = Int(row[1]);
    if (key == kJobHighWaterKey) snapshot.job_high_water = Int(row[1]);
  }
  for (const pqxx::row& row :
       txn.exec("SELECT id, draining, updated_ms FROM workers ORDER BY id")) {
    WorkerRecord& worker = snapshot.workers.emplace_back();
    worker.id = WorkerId(Text(row[0]));
    worker.draining = row[1].as<bool>();
    worker.updated_ms = Int(row[2]);
  }
  // COLLATE "C": the same byte order as SQLite's, whatever the database's locale.
  for (const pqxx::row& row :
       txn.exec("SELECT name, kind, window_before, window_after, version, sha256, updated_ms "
                "FROM models ORDER BY name COLLATE \"C\"")) {
    ModelRecord& rec = snapshot.models.emplace_back();
    rec.model.set_name(Text(row[0]));
    rec.model.set_kind(Text(row[1]));
    rec.model.set_window_before(static_cast<int32_t>(Int(row[2])));
    rec.model.set_window_after(static_cast<int32_t>(Int(row[3])));
    rec.model.set_version(Text(row[4]));
    rec.model.set_sha256(Text(row[5]));
    rec.updated_ms = Int(row[6]);
  }
  txn.commit();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<LogRecord>> PostgresJobStore::ReadLogs(TaskId task, int limit) {
  const int64_t rows = limit > 0 ? limit : std::numeric_limits<int64_t>::max();
  std::vector<LogRecord> logs;
  GENFARM_RETURN_IF_ERROR(Guard(absl::StrCat("read logs of ", task.ToString()), [&] {
    pqxx::read_transaction txn(conn_->conn);
    pqxx::result result =
        task.index < 0
            ? txn.exec_prepared("select_job_logs", task.job.value(), rows)
            : txn.exec_prepared("select_task_logs", task.job.value(), int64_t{task.index}, rows);
    logs.reserve(result.size());
    for (const pqxx::row& row : result) {
      LogRecord& log = logs.emplace_back();
      log.task.job = JobId(Int(row[0]));
      log.task.index = static_cast<int32_t>(Int(row[1]));
      log.attempt = AttemptId(Int(row[2]));
      log.time_ms = Int(row[3]);
      log.text = Text(row[4]);
    }
    txn.commit();
    return absl::OkStatus();
  }));
  return logs;
}

}  // namespace genfarm::scheduler
