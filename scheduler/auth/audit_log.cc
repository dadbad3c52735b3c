#include "scheduler/auth/audit_log.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
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
  return Open(path, clock, Options());
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path,
                                                         const Clock& clock, Options options) {
  // The data folder holds only the audit log when the jobs live in PostgreSQL: make it.
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && path != ":memory:") {
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error) {
      return absl::FailedPreconditionError(absl::StrCat("audit log: cannot create the folder ",
                                                        parent.string(), ": ", error.message()));
    }
  }
  GENFARM_ASSIGN_OR_RETURN(std::unique_ptr<SqliteConnection> db, SqliteConnection::Open(path));
  GENFARM_RETURN_IF_ERROR(db->Exec(kSchema, "create the audit table"));
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(db), clock, std::move(options)));
}

AuditLog::AuditLog(std::unique_ptr<SqliteConnection> db, const Clock& clock, Options options)
    : db_(std::move(db)), clock_(clock), options_(std::move(options)) {
  thread_ = std::thread([this] { Run(); });
}

AuditLog::~AuditLog() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void AuditLog::Append(AuditEntry entry, CommitCallback committed) {
  entry.time_ms = absl::ToUnixMillis(clock_.Now());
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      pending_.push_back(std::move(entry));
      ++appended_seq_;
      if (committed) AddWaiter(appended_seq_, std::move(committed));
      return;
    }
  }
  spdlog::error("audit: closing; not recorded: {} {} by '{}'", entry.method, entry.object,
                entry.who);
  if (committed) committed(absl::FailedPreconditionError("the audit log is closing"));
}

void AuditLog::WhenCommitted(CommitCallback done) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      AddWaiter(appended_seq_, std::move(done));
      return;
    }
  }
  done(absl::FailedPreconditionError("the audit log is closing"));
}

void AuditLog::AddWaiter(uint64_t seq, CommitCallback done) {
  waiters_.push_back(Waiter{seq, std::move(done)});
}

void AuditLog::Query(AuditQuery query,
                     std::function<void(absl::StatusOr<std::vector<AuditEntry>>)> done) {
  // A commit callback runs on the writer thread, the only user of the connection.
  WhenCommitted([this, query = std::move(query), done = std::move(done)](absl::Status) {
    done(Select(query));
  });
}

void AuditLog::Flush() {
  absl::Notification committed;
  WhenCommitted([&committed](absl::Status) { committed.Notify(); });
  committed.WaitForNotification();
}

bool AuditLog::HasWork() const {
  return stopping_ || !pending_.empty() ||
         (!waiters_.empty() && waiters_.front().seq <= committed_seq_);
}

absl::Status AuditLog::StatusOf(uint64_t seq) const {
  return seq > failed_from_ && seq <= failed_to_ ? failure_ : absl::OkStatus();
}

void AuditLog::Run() {
  while (true) {
    std::vector<AuditEntry> batch;
    uint64_t last = 0;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &AuditLog::HasWork));
      batch.swap(pending_);
      last = appended_seq_;
    }
    absl::Status committed = absl::OkStatus();
    if (!batch.empty()) {
      if (options_.before_commit) options_.before_commit(batch.size());
      committed = Commit(batch);
      if (!committed.ok()) {
        spdlog::error("audit: {} records lost: {}", batch.size(), std::string(committed.message()));
      }
    }
    std::vector<Waiter> due;
    bool exit = false;
    std::vector<absl::Status> outcomes;
    {
      absl::MutexLock lock(&mu_);
      if (!committed.ok()) {
        failed_from_ = last - batch.size();
        failed_to_ = last;
        failure_ = absl::Status(committed.code(),
                                absl::StrCat("audit record not committed: ", committed.message()));
      }
      committed_seq_ = last;
      size_t n = 0;
      while (n < waiters_.size() && waiters_[n].seq <= committed_seq_) ++n;
      for (size_t i = 0; i < n; ++i) {
        outcomes.push_back(StatusOf(waiters_[i].seq));
        due.push_back(std::move(waiters_[i]));
      }
      waiters_.erase(waiters_.begin(), waiters_.begin() + n);
      // Closing: no Append gets in any more, so once pending_ is empty every waiter is due.
      exit = stopping_ && pending_.empty() && waiters_.empty();
    }
    for (size_t i = 0; i < due.size(); ++i) due[i].done(outcomes[i]);
    if (exit) return;
  }
}

absl::Status AuditLog::Commit(const std::vector<AuditEntry>& batch) {
  GENFARM_RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE", "begin an audit commit"));
  absl::Status status = Insert(batch);
  if (status.ok()) status = db_->Exec("COMMIT", "commit the audit records");
  // After a failed COMMIT the transaction may still be open: leave none behind.
  if (!status.ok()) (void)db_->Exec("ROLLBACK", "roll back the audit records");
  return status;
}

absl::Status AuditLog::Insert(const std::vector<AuditEntry>& batch) {
  GENFARM_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_->Prepare("INSERT INTO audit (time_ms, who, kind, credential, method, object, job_id, "
                   "project, peer, allowed, code, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                   "insert an audit record"));
  for (const AuditEntry& e : batch) {
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
    GENFARM_RETURN_IF_ERROR(stmt.Run());
  }
  return absl::OkStatus();
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
