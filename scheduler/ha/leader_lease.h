// LeaderLease: the mechanism under leader election, a lease with an epoch kept somewhere all
// schedulers share (PostgresLeaderLease: one row in PostgreSQL). LeaderElection decides when
// to call it; the lease decides, on its own clock (the database's, never the schedulers'),
// whether the lease has expired.
//
//   GENFARM_ASSIGN_OR_RETURN(LeaseView view, lease.TryAcquire());
//   if (view.ours) {
//     // leading at view.epoch: Renew(view.epoch) well within the lease duration
//   } else {
//     // standby: view.address leads at view.epoch (empty when nobody does)
//   }
//
// Implementations: PostgresLeaderLease; tests use a fake (tests/scheduler/ha).
#ifndef GENFARM_SCHEDULER_HA_LEADER_LEASE_H_
#define GENFARM_SCHEDULER_HA_LEADER_LEASE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace genfarm::scheduler::ha {

// Who holds the lease, as last read.
struct LeaseView {
  bool ours = false;     // the caller holds it (just acquired)
  int64_t epoch = 0;     // the epoch of the holder (ours when `ours`); 0: never held
  std::string holder;    // the holder's identity (unique per scheduler process)
  std::string address;   // where the holder serves clients (its --advertise address)
  bool expired = false;  // the holder's lease has run out (it may be about to be taken)
};

class LeaderLease {
 public:
  virtual ~LeaderLease() = default;

  // Takes the lease when it is free or expired, with a new epoch (one more than the last).
  // Otherwise says who holds it. An error (database unreachable, lock busy) takes nothing.
  virtual absl::StatusOr<LeaseView> TryAcquire() = 0;

  // Extends the lease held at `epoch` by the lease duration from now. FailedPrecondition
  // when it is no longer ours (another scheduler took it): the caller must step down. Other
  // errors say nothing either way; the caller may retry until its lease would have expired.
  virtual absl::Status Renew(int64_t epoch) = 0;

  // Gives up the lease held at `epoch` (a clean shutdown), so a standby need not wait for it
  // to expire. No-op when it is no longer ours.
  virtual absl::Status Release(int64_t epoch) = 0;
};

}  // namespace genfarm::scheduler::ha

#endif  // GENFARM_SCHEDULER_HA_LEADER_LEASE_H_
