// libpqxx exceptions as absl::Status: the one translation the PostgreSQL adapters share (the
// job store and the leader lease of scheduler/ha).
//
//   absl::Status s = PqxxGuard("postgres store: commit", [&] {
//     pqxx::work txn(conn);
//     txn.exec0("...");
//     txn.commit();
//     return absl::OkStatus();
//   });
//
// Only files that already include <pqxx/pqxx> include this header.
#ifndef GENFARM_SCHEDULER_STORE_POSTGRES_STATUS_H_
#define GENFARM_SCHEDULER_STORE_POSTGRES_STATUS_H_

#include <exception>
#include <pqxx/pqxx>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace genfarm::scheduler {

// PostgreSQL error classes (SQLSTATE's first two characters) to status codes.
absl::StatusCode SqlStateToCode(const std::string& state);

// libpq messages end in a newline and sometimes carry a DETAIL line; this keeps them on one.
std::string OneLine(absl::string_view what);

// Runs `fn` (returning absl::Status), turning libpqxx's exceptions into a status whose message
// starts with `what`.
template <typename Fn>
absl::Status PqxxGuard(absl::string_view what, Fn&& fn) {
  try {
    return fn();
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(absl::StrCat(what, ": connection lost: ", OneLine(e.what())));
  } catch (const pqxx::in_doubt_error& e) {
    return absl::UnknownError(absl::StrCat(what, ": commit outcome unknown: ", OneLine(e.what())));
  } catch (const pqxx::sql_error& e) {
    return absl::Status(
        SqlStateToCode(e.sqlstate()),
        absl::StrCat(what, ": ", OneLine(e.what()), " (SQLSTATE ", e.sqlstate(), ")"));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": ", OneLine(e.what())));
  }
}

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_STORE_POSTGRES_STATUS_H_
