#include "scheduler/store/sqlite_statement.h"

#include <sqlite3.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "scheduler/store/sqlite_status.h"

namespace genfarm::scheduler {

SqliteStatement::SqliteStatement(sqlite3_stmt* stmt, std::string operation)
    : stmt_(stmt), operation_(std::move(operation)) {}

SqliteStatement::~SqliteStatement() { sqlite3_finalize(stmt_); }

SqliteStatement::SqliteStatement(SqliteStatement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      operation_(std::move(other.operation_)),
      bind_error_(other.bind_error_) {}

SqliteStatement& SqliteStatement::operator=(SqliteStatement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    operation_ = std::move(other.operation_);
    bind_error_ = other.bind_error_;
  }
  return *this;
}

void SqliteStatement::BindInt64(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
}

void SqliteStatement::BindText(int index, absl::string_view value) {
  int rc =
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
}

void SqliteStatement::BindBlob(int index, absl::string_view value) {
  // A zero-length blob with a null pointer would bind NULL; "" keeps it an empty blob.
  const char* data = value.empty() ? "" : value.data();
  int rc = sqlite3_bind_blob64(stmt_, index, data, value.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
}

absl::StatusOr<bool> SqliteStatement::Step() {
  if (stmt_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("sqlite: ", operation_, ": not prepared"));
  }
  if (bind_error_ != SQLITE_OK) {
    return SqliteStatus(bind_error_, sqlite3_db_handle(stmt_), absl::StrCat("bind ", operation_));
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(rc, sqlite3_db_handle(stmt_), operation_);
}

absl::Status SqliteStatement::Run() {
  absl::StatusOr<bool> row = Step();
  Reset();
  if (!row.ok()) return row.status();
  return absl::OkStatus();
}

void SqliteStatement::Reset() {
  // sqlite3_reset repeats the last step's error code; Step() already reported it.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = SQLITE_OK;
}

int64_t SqliteStatement::ColumnInt64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

absl::string_view SqliteStatement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);  // after _text, as SQLite requires
  if (text == nullptr) return {};
  return absl::string_view(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

absl::string_view SqliteStatement::ColumnBlob(int column) const {
  const void* blob = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  if (blob == nullptr) return {};
  return absl::string_view(static_cast<const char*>(blob), static_cast<size_t>(size));
}

}  // namespace genfarm::scheduler
