// LeaderElection: which of several schedulers sharing one database leads. The policy half of
// high availability (the mechanism is a LeaderLease): a standby asks for the lease every
// poll_interval; the leader renews it every renew_interval and steps down when a renewal is
// refused (another scheduler holds a newer epoch), when it has not managed to renew for
// `lease - expiry_margin` on its own clock (it cannot know whether the lease still holds, so
// it stops before a standby could take it), or when told to (a fenced commit: StepDown()).
// Stepping down is final for this object: the scheduler restarts itself as a standby.
//
//   LeaderElection election(lease, RealClock::Get(), LeaderElection::Options(),
//       {.on_elected = [&](int64_t epoch) { elected.Notify(); },
//        .on_lost = [&](const absl::Status& why) { RestartAsStandby(why); }});
//   election.Start();   // a thread that polls or renews, and a watchdog
//   ...
//   election.Stop();
//
// Time: every wait and every expiry check is on the injected clock; tests call Step() and
// CheckExpiry() by hand with a FakeClock and a fake lease. The lease's own expiry is decided
// by the database's clock, which the scheduler's clock never overrides: a leader only ever
// steps down earlier than the database would let another take over.
//
// Thread-safety: Step() runs on one thread at a time (the election thread); CheckExpiry(),
// StepDown() and the accessors are safe from any thread. Callbacks run without locks held, on
// the thread that caused them, each at most once per transition (on_lost at most once).
#ifndef GENFARM_SCHEDULER_HA_LEADER_ELECTION_H_
#define GENFARM_SCHEDULER_HA_LEADER_ELECTION_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "scheduler/ha/leader_lease.h"

namespace genfarm::scheduler::ha {

class LeaderElection {
 public:
  struct Options {
    // How long a lease lasts (the lease backend is configured with the same value).
    absl::Duration lease = absl::Seconds(2);
    absl::Duration renew_interval = absl::Milliseconds(500);
    absl::Duration poll_interval = absl::Milliseconds(250);
    // The leader steps down this long before its lease could expire unrenewed.
    absl::Duration expiry_margin = absl::Milliseconds(250);
  };
  struct Callbacks {
    std::function<void(int64_t epoch)> on_elected;
    // A standby's latest view of the leader (for telling clients where it is).
    std::function<void(const LeaseView& leader)> on_standby;
    std::function<void(const absl::Status& why)> on_lost;
  };
  enum class Role { kStandby, kLeader, kSteppedDown };

  LeaderElection(LeaderLease& lease, const Clock& clock, Options options, Callbacks callbacks);
  ~LeaderElection();  // Stop()s
  LeaderElection(const LeaderElection&) = delete;
  LeaderElection& operator=(const LeaderElection&) = delete;

  // One round: a standby tries to acquire, the leader renews. Returns when the next round is
  // due (InfiniteFuture once stepped down).
  absl::Time Step();
  // Steps down if the leader's lease may have run out unrenewed (see the class comment).
  // Returns whether this call stepped down. Runs on the watchdog, so a renewal that hangs on
  // a dead network cannot keep a stale leader serving.
  bool CheckExpiry();
  // Steps down now (no-op unless leading or standing by); `why` goes to on_lost.
  void StepDown(const absl::Status& why);

  // The election and watchdog threads; Stop() joins them. Start at most once.
  void Start();
  void Stop();

  Role role() const;
  int64_t epoch() const;  // the epoch we lead at (0 unless leading)

 private:
  // Moves to kSteppedDown; returns false if already there.
  bool Lose(const absl::Status& why);

  LeaderLease& lease_;
  const Clock& clock_;
  const Options options_;
  const Callbacks callbacks_;

  mutable absl::Mutex mu_;
  Role role_ ABSL_GUARDED_BY(mu_) = Role::kStandby;
  int64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  // The leader's lease may have run out from here on (as seen by our clock).
  absl::Time valid_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string last_error_ ABSL_GUARDED_BY(mu_);  // logged once per change, not per poll

  absl::Notification stop_;
  std::thread thread_;
  std::thread watchdog_;
};

}  // namespace genfarm::scheduler::ha

#endif  // GENFARM_SCHEDULER_HA_LEADER_ELECTION_H_
