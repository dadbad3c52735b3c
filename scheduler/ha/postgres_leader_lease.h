// PostgresLeaderLease: the leader lease as one row in PostgreSQL (libpqxx), on its own
// connection, so a lease renewal never queues behind the store's group commit on the store's
// connection.
//
//   PostgresLeaderLease::Options options;
//   options.url = "postgres://genfarm@db/genfarm";
//   options.holder = "sched-a:4242:9f3c";        // unique per scheduler process
//   options.address = "sched-a.farm:7070";       // where clients reach it when it leads
//   GENFARM_ASSIGN_OR_RETURN(auto lease, PostgresLeaderLease::Open(options));
//   GENFARM_ASSIGN_OR_RETURN(LeaseView view, lease->TryAcquire());
//
// Tables (created if missing, under an advisory lock):
//   genfarm_leader(id int PK CHECK (id = 1), holder, address, epoch bigint, acquired_at,
//                  expires_at timestamptz)       -- the one lease row
//   genfarm_epochs(epoch PK, holder, address, acquired_at, last_commit_at, commits)
//                  -- one row per epoch; PostgresJobStore's fenced commits count themselves
//                     here, so anyone can check that no epoch wrote after its successor began
// Acquire is one UPDATE that takes the row when it has expired (or is already ours) and
// increments the epoch; renew is an UPDATE ... WHERE holder = me AND epoch = mine. Every
// expiry is computed with the server's clock_timestamp(), never a scheduler's clock. Each
// statement runs under lock_timeout (a frozen leader's open transaction cannot hang an
// acquire) and statement_timeout.
//
// Fencing (how the store uses the row): a fenced PostgresJobStore commit reads the row
// FOR SHARE first. Acquire's UPDATE therefore waits for every commit in flight to end, and a
// commit that starts after the acquire sees the new epoch and writes nothing.
//
// Ownership: owns its connection (reconnects after losing it). Thread-compatible: the
// election thread is its only caller.
#ifndef GENFARM_SCHEDULER_HA_POSTGRES_LEADER_LEASE_H_
#define GENFARM_SCHEDULER_HA_POSTGRES_LEADER_LEASE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "scheduler/ha/leader_lease.h"

namespace genfarm::scheduler::ha {

class PostgresLeaderLease : public LeaderLease {
 public:
  struct Options {
    std::string url;      // libpq URI or keyword string (what PostgresJobStore::Open takes)
    std::string holder;   // this scheduler process
    std::string address;  // advertised to clients while leading
    absl::Duration lease = absl::Seconds(2);
    // How long an acquire or renewal may wait for the row lock (a commit in flight).
    absl::Duration lock_timeout = absl::Milliseconds(500);
  };

  // Connects and creates the tables. An unreachable server is not an error (each call
  // reconnects); a refused login or a bad URL is.
  static absl::StatusOr<std::unique_ptr<PostgresLeaderLease>> Open(Options options);
  ~PostgresLeaderLease() override;

  absl::StatusOr<LeaseView> TryAcquire() override;
  absl::Status Renew(int64_t epoch) override;
  absl::Status Release(int64_t epoch) override;

 private:
  struct Connection;
  explicit PostgresLeaderLease(Options options);
  // Connects (again, after a lost connection) and prepares the statements.
  absl::Status Connect();
  // Runs `fn` on a connected connection; drops the connection when it was lost.
  template <typename Fn>
  absl::Status Run(const char* what, Fn&& fn);

  const Options options_;
  std::string redacted_url_;
  std::unique_ptr<Connection> conn_;
};

}  // namespace genfarm::scheduler::ha

#endif  // GENFARM_SCHEDULER_HA_POSTGRES_LEADER_LEASE_H_
