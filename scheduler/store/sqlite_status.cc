#include "scheduler/store/sqlite_status.h"

#include <sqlite3.h>

#include "absl/strings/str_cat.h"

namespace genfarm::scheduler {

absl::StatusCode SqliteCodeToStatusCode(int rc) {
  switch (rc & 0xff) {  // primary code; extended codes carry it in the low byte
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return absl::StatusCode::kOk;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL:
      return absl::StatusCode::kUnavailable;
    case SQLITE_IOERR:
      return absl::StatusCode::kUnavailable;
    case SQLITE_CONSTRAINT:
      return absl::StatusCode::kAlreadyExists;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_TOOBIG:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_READONLY:
      return absl::StatusCode::kPermissionDenied;
    case SQLITE_CANTOPEN:
      return absl::StatusCode::kFailedPrecondition;
    case SQLITE_INTERRUPT:
    case SQLITE_ABORT:
      return absl::StatusCode::kAborted;
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
    case SQLITE_MISUSE:
    case SQLITE_ERROR:
      return absl::StatusCode::kInternal;
    default:
      return absl::StatusCode::kUnknown;
  }
}

absl::Status SqliteStatus(int rc, sqlite3* db, absl::string_view operation) {
  // sqlite3_errmsg describes the most recent failure on the connection, which is this one as
  // long as the caller converts immediately (the store is single-threaded per connection).
  const char* detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return absl::Status(SqliteCodeToStatusCode(rc),
                      absl::StrCat("sqlite: ", operation, ": ", detail, " (", sqlite3_errstr(rc),
                                   ", code ", rc, ")"));
}

}  // namespace genfarm::scheduler
