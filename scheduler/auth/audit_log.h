// AuditLog: every mutating call, allowed or denied, and every denial, in its own SQLite file
// in the data dir (audit.db): who, what, which object, when, from where, and the outcome.
// Its own connection on its own writer thread, so no caller waits for the disk. The writer
// commits whatever is queued as one transaction (group commit, synchronous=FULL), in the
// order it was appended; a query sees every record appended before it.
//
// "Committed before acknowledged": a reply that promises its call is on record is sent from
// the record's commit callback, not before it (on the writer thread, like StoreWriter's
// WhenDurable):
//
//   GENFARM_ASSIGN_OR_RETURN(auto audit, AuditLog::Open(data_dir + "/audit.db", clock));
//   audit->Append(MakeAuditEntry(who, kCancelJob, "job 12", 12, "feature_x", status),
//                 [reactor](absl::Status committed) { reactor->Finish(...); });
//   audit->Query({.who = "alice"}, [](absl::StatusOr<std::vector<AuditEntry>> rows) {...});
//
// Failures: a transaction that fails is logged and its records are lost (the calls they
// record were already decided); the commit callbacks waiting on them get its error.
// Thread-safe. Callbacks run on the writer thread without locks held and must be quick.
// The destructor commits what is queued, runs every callback, and joins the writer.
#ifndef GENFARM_SCHEDULER_AUTH_AUDIT_LOG_H_
#define GENFARM_SCHEDULER_AUTH_AUDIT_LOG_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
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
  struct Options {
    // Called on the writer thread before each transaction, with the number of records in
    // it. Tests hold the writer here to show what waits for a commit.
    std::function<void(size_t records)> before_commit;
  };
  using CommitCallback = std::function<void(absl::Status)>;

  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path,
                                                        const Clock& clock);
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path, const Clock& clock,
                                                        Options options);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Non-blocking: stamps the time and queues the record for the writer thread.
  void Append(AuditEntry entry) { Append(std::move(entry), nullptr); }
  // The same, then `committed` once this record (and so every one appended before it) is
  // committed: OK, or the error of the transaction that lost it. Runs on the writer thread
  // (on the caller's, with FailedPrecondition, once the log is closing).
  void Append(AuditEntry entry, CommitCallback committed);

  // Calls `done` on the writer thread once everything appended before the call is
  // committed: OK, or the error of the transaction that held the last of it (OK when
  // nothing was ever appended). Never blocks.
  void WhenCommitted(CommitCallback done);

  // Runs on the writer thread, after every earlier Append is committed; `done` is called
  // there.
  void Query(AuditQuery query, std::function<void(absl::StatusOr<std::vector<AuditEntry>>)> done);

  // Blocks until everything appended so far is committed (tests, shutdown). Never call it
  // from a commit callback.
  void Flush();

 private:
  struct Waiter {
    uint64_t seq = 0;  // due once committed_seq_ reaches it
    CommitCallback done;
  };

  AuditLog(std::unique_ptr<SqliteConnection> db, const Clock& clock, Options options);
  void AddWaiter(uint64_t seq, CommitCallback done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run();
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The outcome of the transaction that held record `seq`.
  absl::Status StatusOf(uint64_t seq) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One transaction: every record of `batch`, or none.
  absl::Status Commit(const std::vector<AuditEntry>& batch);
  absl::Status Insert(const std::vector<AuditEntry>& batch);
  absl::StatusOr<std::vector<AuditEntry>> Select(const AuditQuery& query);

  std::unique_ptr<SqliteConnection> db_;  // writer thread only
  const Clock& clock_;
  const Options options_;

  mutable absl::Mutex mu_;
  std::vector<AuditEntry> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<Waiter> waiters_ ABSL_GUARDED_BY(mu_);  // in seq order
  // Every Append takes the next seq; the writer takes pending_ whole, and once that
  // transaction is over committed_seq_ is the last seq it held.
  uint64_t appended_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t committed_seq_ ABSL_GUARDED_BY(mu_) = 0;
  // The latest failed transaction: its records (failed_from_, failed_to_] and its error.
  uint64_t failed_from_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t failed_to_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace genfarm::scheduler::auth

#endif  // GENFARM_SCHEDULER_AUTH_AUDIT_LOG_H_
