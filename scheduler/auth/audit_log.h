// AuditLog: every mutating call, allowed or denied, in its own SQLite file in the data dir
// (audit.db): who, what, which object, when, from where, and the outcome. Its own connection
// on its own writer thread, so the core thread never waits for the disk; a record is
// committed in the order it was appended, and a query sees every record appended before it.
//
//   GENFARM_ASSIGN_OR_RETURN(auto audit, AuditLog::Open(data_dir + "/audit.db", clock));
//   audit->Append(MakeAuditRecord(who, kCancelJob, "job 12", "feature_x", status));
//   audit->Query({.who = "alice"}, [](absl::StatusOr<std::vector<AuditEntry>> rows) {...});
//
// Thread-safe. The destructor commits what is queued.
#ifndef GENFARM_SCHEDULER_AUTH_AUDIT_LOG_H_
#define GENFARM_SCHEDULER_AUTH_AUDIT_LOG_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/serial_executor.h"
#include "scheduler/auth/identity.h"

namespace genfarm::scheduler {
class SqliteConnection;
}

namespace genfarm::scheduler::auth {

struct AuditEntry {
  int64_t id = 0;       // set by the store
  int64_t time_ms = 0;  // set by Append from the clock
  std::string who;      // person name or worker id; "" anonymous
  std::string kind;     // IdentityKindName
  std::string credential;
  std::string method;  // short name: "CancelJob"
  std::string object;  // "job 12", "worker w1", ""
  int64_t job_id = 0;  // for the --job filter; 0 = none
  std::string project;
  std::string peer;
  bool allowed = false;
  std::string code;  // absl::StatusCodeToString of the outcome
  std::string reason;
};

struct AuditQuery {
  std::string who;
  std::string method;  // short name
  int64_t job_id = 0;
  int64_t since_ms = 0;
  int limit = 100;
};

// The record of one decision (the outcome's code and message; OK = allowed).
AuditEntry MakeAuditEntry(const Identity& who, absl::string_view method, std::string object,
                          int64_t job_id, std::string project, const absl::Status& outcome);

class AuditLog {
 public:
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path,
                                                        const Clock& clock);
  ~AuditLog();

  // Non-blocking: stamps the time and queues the insert on the writer thread. A write
  // error is logged (the call it records has already been decided).
  void Append(AuditEntry entry);

  // Runs on the writer thread, after every earlier Append; `done` is called there.
  void Query(AuditQuery query, std::function<void(absl::StatusOr<std::vector<AuditEntry>>)> done);

  // Blocks until everything appended so far is committed (tests, shutdown).
  void Flush();

 private:
  AuditLog(std::unique_ptr<SqliteConnection> db, const Clock& clock);
  absl::Status Insert(const AuditEntry& entry);
  absl::StatusOr<std::vector<AuditEntry>> Select(const AuditQuery& query);

  std::unique_ptr<SqliteConnection> db_;  // writer thread only
  const Clock& clock_;
  SerialExecutor writer_;
};

}  // namespace genfarm::scheduler::auth

#endif  // GENFARM_SCHEDULER_AUTH_AUDIT_LOG_H_
