#include "scheduler/auth/audit_log.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "scheduler/store/sqlite_connection.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler::auth {
namespace {

constexpr int kMaxLimit = 10000;

constexpr absl::string_view kSchema = R"sql(
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ms INTEGER NOT NULL,
  who TEXT NOT NULL, kind TEXT NOT NULL, credential TEXT NOT NULL,
  method TEXT NOT NULL, object TEXT NOT NULL, job_id INTEGER NOT NULL,
  project TEXT NOT NULL, peer TEXT NOT NULL,
  allowed INTEGER NOT NULL, code TEXT NOT NULL, reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_time ON audit(time_ms);
)sql";

}  // namespace

AuditEntry MakeAuditEntry(const Identity& who, absl::string_view method, std::string object,
                          int64_t job_id, std::string project, const absl::Status& outcome) {
  AuditEntry entry;
  entry.who = who.name;
  entry.kind = std::string(IdentityKindName(who.kind));
  entry.credential = who.credential;
  const size_t slash = method.rfind('/');
  entry.method = std::string(slash == absl::string_view::npos ? method : method.substr(slash + 1));
  entry.object = std::move(object);
  entry.job_id = job_id;
  entry.project = std::move(project);
  entry.peer = who.peer;
  entry.allowed = outcome.ok();
  entry.code = absl::StatusCodeToString(outcome.code());
  entry.reason = std::string(outcome.message());
  return entry;
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path,
                                                         const Clock& clock) {
  GENFARM_ASSIGN_OR_RETURN(std::unique_ptr<SqliteConnection> db, SqliteConnection::Open(path));
  GENFARM_RETURN_IF_ERROR(db->Exec(kSchema, "create the audit table"));
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(db), clock));
}

AuditLog::AuditLog(std::unique_ptr<SqliteConnection> db, const Clock& clock)
    : db_(std::move(db)), clock_(clock) {}

AuditLog::~AuditLog() { Flush(); }

void AuditLog::Append(AuditEntry entry) {
  entry.time_ms = absl::ToUnixMillis(clock_.Now());
  writer_.Post([this, entry = std::move(entry)] {
    if (absl::Status s = Insert(entry); !s.ok()) {
      spdlog::error("audit: could not record {} {} by '{}': {}", entry.method, entry.object,
                    entry.who, std::string(s.message()));
    }
  });
}

void AuditLog::Query(AuditQuery query,
                     std::function<void(absl::StatusOr<std::vector<AuditEntry>>)> done) {
  writer_.Post([this, query = std::move(query), done = std::move(done)] { done(Select(query)); });
}

void AuditLog::Flush() {
  writer_.Run([] { return 0; });
}

absl::Status AuditLog::Insert(const AuditEntry& e) {
  GENFARM_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_->Prepare("INSERT INTO audit (time_ms, who, kind, credential, method, object, job_id, "
                   "project, peer, allowed, code, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                   "insert an audit record"));
  stmt.BindInt64(1, e.time_ms);
  stmt.BindText(2, e.who);
  stmt.BindText(3, e.kind);
  stmt.BindText(4, e.credential);
  stmt.BindText(5, e.method);
  stmt.BindText(6, e.object);
  stmt.BindInt64(7, e.job_id);
  stmt.BindText(8, e.project);
  stmt.BindText(9, e.peer);
  stmt.BindInt64(10, e.allowed ? 1 : 0);
  stmt.BindText(11, e.code);
  stmt.BindText(12, e.reason);
  return stmt.Run();
}

absl::StatusOr<std::vector<AuditEntry>> AuditLog::Select(const AuditQuery& q) {
  GENFARM_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_->Prepare("SELECT id, time_ms, who, kind, credential, method, object, job_id, project, "
                   "peer, allowed, code, reason FROM audit WHERE (?1 = '' OR who = ?1) AND "
                   "(?2 = '' OR method = ?2) AND (?3 = 0 OR job_id = ?3) AND time_ms >= ?4 "
                   "ORDER BY id DESC LIMIT ?5",
                   "list the audit log"));
  stmt.BindText(1, q.who);
  stmt.BindText(2, q.method);
  stmt.BindInt64(3, q.job_id);
  stmt.BindInt64(4, q.since_ms);
  stmt.BindInt64(5, q.limit <= 0 ? 100 : std::min(q.limit, kMaxLimit));
  std::vector<AuditEntry> rows;
  while (true) {
    GENFARM_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    AuditEntry e;
    e.id = stmt.ColumnInt64(0);
    e.time_ms = stmt.ColumnInt64(1);
    e.who = std::string(stmt.ColumnText(2));
    e.kind = std::string(stmt.ColumnText(3));
    e.credential = std::string(stmt.ColumnText(4));
    e.method = std::string(stmt.ColumnText(5));
    e.object = std::string(stmt.ColumnText(6));
    e.job_id = stmt.ColumnInt64(7);
    e.project = std::string(stmt.ColumnText(8));
    e.peer = std::string(stmt.ColumnText(9));
    e.allowed = stmt.ColumnInt64(10) != 0;
    e.code = std::string(stmt.ColumnText(11));
    e.reason = std::string(stmt.ColumnText(12));
    rows.push_back(std::move(e));
  }
  return rows;
}

}  // namespace genfarm::scheduler::auth
