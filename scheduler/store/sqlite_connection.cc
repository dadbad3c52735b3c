#include "scheduler/store/sqlite_connection.h"

#include <sqlite3.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "scheduler/store/sqlite_status.h"

namespace genfarm::scheduler {

absl::StatusOr<std::unique_ptr<SqliteConnection>> SqliteConnection::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           /*zVfs=*/nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = SqliteStatus(rc, db, absl::StrCat("open ", path));
    sqlite3_close_v2(db);  // a handle is returned even on failure
    return status;
  }
  sqlite3_extended_result_codes(db, 1);
  return std::unique_ptr<SqliteConnection>(new SqliteConnection(db, path));
}

SqliteConnection::~SqliteConnection() { sqlite3_close_v2(db_); }

absl::Status SqliteConnection::Exec(absl::string_view sql, absl::string_view operation) {
  std::string owned(sql);  // sqlite3_exec wants a NUL-terminated string
  int rc = sqlite3_exec(db_, owned.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db_, operation);
  return absl::OkStatus();
}

absl::StatusOr<SqliteStatement> SqliteConnection::Prepare(absl::string_view sql,
                                                          std::string operation) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    return SqliteStatus(rc, db_, absl::StrCat("prepare ", operation));
  }
  return SqliteStatement(stmt, std::move(operation));
}

absl::StatusOr<int64_t> SqliteConnection::QueryInt64(absl::string_view sql, std::string operation) {
  GENFARM_ASSIGN_OR_RETURN(SqliteStatement stmt, Prepare(sql, operation));
  GENFARM_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("sqlite: ", operation, ": no row"));
  return stmt.ColumnInt64(0);
}

absl::StatusOr<std::string> SqliteConnection::QueryText(absl::string_view sql,
                                                        std::string operation) {
  GENFARM_ASSIGN_OR_RETURN(SqliteStatement stmt, Prepare(sql, operation));
  GENFARM_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("sqlite: ", operation, ": no row"));
  return std::string(stmt.ColumnText(0));
}

}  // namespace genfarm::scheduler
