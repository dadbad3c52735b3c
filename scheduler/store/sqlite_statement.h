// SqliteStatement: an RAII prepared statement of the raw SQLite C API. Prepared once, then
// bound, stepped and reset many times, which is what keeps Commit and Load fast.
//
// We use the C API through this wrapper and SqliteConnection rather than a C++ ORM or
// wrapper library: none that fits (small, status-based, no exceptions) is packaged in Debian
// bookworm, and the store needs only prepare/bind/step/column.
//
//   GENFARM_ASSIGN_OR_RETURN(SqliteStatement stmt,
//                            conn.Prepare("SELECT text FROM logs WHERE job_id = ?1", "read logs"));
//   stmt.BindInt64(1, job_id);
//   while (true) {
//     GENFARM_ASSIGN_OR_RETURN(bool row, stmt.Step());
//     if (!row) break;
//     lines.emplace_back(stmt.ColumnText(0));
//   }
//   stmt.Reset();
//
// Ownership: owns the sqlite3_stmt (finalized in the destructor); the connection must outlive
// it. Movable, not copyable. Thread-compatible (like the connection it belongs to).
#ifndef GENFARM_SCHEDULER_STORE_SQLITE_STATEMENT_H_
#define GENFARM_SCHEDULER_STORE_SQLITE_STATEMENT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct sqlite3_stmt;

namespace genfarm::scheduler {

class SqliteStatement {
 public:
  SqliteStatement() = default;
  // Takes ownership of `stmt`. `operation` names the statement in error messages.
  SqliteStatement(sqlite3_stmt* stmt, std::string operation);
  ~SqliteStatement();
  SqliteStatement(SqliteStatement&& other) noexcept;
  SqliteStatement& operator=(SqliteStatement&& other) noexcept;
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  // Parameters are 1-based, as in SQL ("?1"). Text and blobs are copied by SQLite
  // (SQLITE_TRANSIENT), so the arguments need not outlive the call. Bind errors are
  // programming errors (wrong index) and surface at the next Step().
  void BindInt64(int index, int64_t value);
  void BindText(int index, absl::string_view value);
  void BindBlob(int index, absl::string_view value);

  // true: a row is available through Column*; false: the statement is done.
  absl::StatusOr<bool> Step();
  // Step() for statements that return no rows, then Reset().
  absl::Status Run();
  // Ready to run again with fresh bindings.
  void Reset();

  // Columns are 0-based. The views are valid until the next Step/Reset.
  int64_t ColumnInt64(int column) const;
  absl::string_view ColumnText(int column) const;
  absl::string_view ColumnBlob(int column) const;

  const std::string& operation() const { return operation_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  std::string operation_;
  int bind_error_ = 0;  // first failed bind since Reset (SQLITE_OK when none)
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_STORE_SQLITE_STATEMENT_H_
