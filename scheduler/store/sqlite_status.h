// Conversion of SQLite result codes to absl::Status, done once at the adapter so nothing above
// the store sees an SQLite code.
//
//   int rc = sqlite3_step(stmt);
//   if (rc != SQLITE_DONE) return SqliteStatus(rc, db, "upsert task 12/3");
//   // -> UNAVAILABLE: sqlite: upsert task 12/3: database is locked (SQLITE_BUSY)
#ifndef GENFARM_SCHEDULER_STORE_SQLITE_STATUS_H_
#define GENFARM_SCHEDULER_STORE_SQLITE_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

struct sqlite3;

namespace genfarm::scheduler {

// The canonical code that best describes an SQLite primary result code (BUSY -> Unavailable,
// CONSTRAINT -> AlreadyExists, CORRUPT -> DataLoss, FULL -> ResourceExhausted, ...).
absl::StatusCode SqliteCodeToStatusCode(int rc);

// A status for a failed SQLite call. `operation` names what we were doing, for the reader of
// the message; `db` (may be null) supplies SQLite's own detail (sqlite3_errmsg).
absl::Status SqliteStatus(int rc, sqlite3* db, absl::string_view operation);

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_STORE_SQLITE_STATUS_H_
