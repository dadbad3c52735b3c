// SqliteConnection: an RAII handle on one SQLite database connection (raw C API; see
// sqlite_statement.h for why no wrapper library).
//
//   GENFARM_ASSIGN_OR_RETURN(std::unique_ptr<SqliteConnection> conn,
//                            SqliteConnection::Open("/var/lib/genfarm/genfarm.db"));
//   GENFARM_RETURN_IF_ERROR(conn->Exec("PRAGMA journal_mode=WAL", "enable WAL"));
//   GENFARM_ASSIGN_OR_RETURN(SqliteStatement stmt, conn->Prepare("SELECT 1", "probe"));
//
// Ownership: owns the sqlite3 handle, closed in the destructor (sqlite3_close_v2, so
// statements still alive keep it open until they are finalized). Thread-compatible: one
// thread at a time (the SQLite library is built serialized, but our statements are not).
#ifndef GENFARM_SCHEDULER_STORE_SQLITE_CONNECTION_H_
#define GENFARM_SCHEDULER_STORE_SQLITE_CONNECTION_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "scheduler/store/sqlite_statement.h"

struct sqlite3;

namespace genfarm::scheduler {

class SqliteConnection {
 public:
  // Opens (creating if missing) the database file at `path`, read-write.
  static absl::StatusOr<std::unique_ptr<SqliteConnection>> Open(const std::string& path);

  ~SqliteConnection();
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  // Runs one or more statements that return nothing of interest. `operation` names them in
  // the error message.
  absl::Status Exec(absl::string_view sql, absl::string_view operation);

  // A prepared statement (SQLITE_PREPARE_PERSISTENT: it is meant to be kept and reused).
  absl::StatusOr<SqliteStatement> Prepare(absl::string_view sql, std::string operation);

  // Runs a query that returns one integer / one text value in its first row.
  absl::StatusOr<int64_t> QueryInt64(absl::string_view sql, std::string operation);
  absl::StatusOr<std::string> QueryText(absl::string_view sql, std::string operation);

  const std::string& path() const { return path_; }
  sqlite3* raw() { return db_; }

 private:
  SqliteConnection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  std::string path_;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_STORE_SQLITE_CONNECTION_H_
