// LeaseTable: the worker's side of lease fencing (docs/fencing.md). It knows, for every attempt
// this worker runs, until when the scheduler cannot have declared it lost, and refuses to let an
// output be renamed into place after that. The lease is measured on the worker's own monotonic
// clock from when the worker SENT the hello or heartbeat that the scheduler's LeaseRenewal
// answered; the scheduler measures it from when it received that message, so the worker's lease
// always runs out first.
//
//   LeaseTable leases(monotonic_clock);
//   leases.Start([&](int64_t attempt, const std::string& why) { executor.Stop(attempt, why); });
//   msg.set_lease_seq(leases.NoteSent());            // right before each hello/heartbeat
//   leases.SetLease(absl::Milliseconds(welcome.lease_ms()));
//   leases.OnRenewal(renewal);                       // every LeaseRenewal
//   leases.OnDisconnected();                         // the stream broke
//   leases.Add(attempt);  ...  leases.Remove(attempt);
//   GENFARM_RETURN_IF_ERROR(leases.CheckBeforeRename(attempt));   // right before rename()
//
// Rules: an attempt may rename while it is not revoked, its lease has not run out, and the
// current stream has confirmed it (a renewal listed it since the last disconnect). After a
// disconnect the rename waits (on the clock) for the next renewal, up to the lease's end. An
// attempt a renewal does not list, or one the scheduler cancelled, is revoked at once; one whose
// lease runs out is lost. Start's callback is told once of each attempt lost or unlisted (not
// of a Revoke), from the watch thread or from the caller of OnRenewal / CheckBeforeRename. With no
// lease (a scheduler that sends none, lease 0) nothing is fenced.
//
// Ownership: borrows the clock (must outlive the table). Thread-safe; the watch thread is
// started by Start and joined by Stop or the destructor.
#ifndef GENFARM_WORKER_DAEMON_LEASE_TABLE_H_
#define GENFARM_WORKER_DAEMON_LEASE_TABLE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "genfarm/v1/worker_service.pb.h"

namespace genfarm::worker {

class LeaseTable {
 public:
  struct Options {
    // Margins against the two clocks running at different rates (NTP slews a clock by up to
    // 500 ppm; these are 10x that) and against scheduling jitter: the worker treats a lease of
    // L as L * (1 - rate_margin) - fixed_margin.
    double rate_margin = 0.005;
    absl::Duration fixed_margin = absl::Milliseconds(100);
    std::function<void()> on_rename_refused;  // metrics; called without the table's lock
  };
  using OnLost = std::function<void(int64_t attempt, const std::string& why)>;

  explicit LeaseTable(const Clock& clock) : LeaseTable(clock, Options{}) {}
  LeaseTable(const Clock& clock, Options options);
  ~LeaseTable();

  // Starts the watch thread, which calls `on_lost` for each attempt whose lease runs out.
  void Start(OnLost on_lost);
  void Stop();

  // Records now as the send time of the next hello/heartbeat and returns its number (> 0).
  uint64_t NoteSent();
  void SetLease(absl::Duration lease);
  void OnRenewal(const v1::LeaseRenewal& renewal);
  void OnDisconnected();

  // A new assignment: it inherits the worker's current lease (the scheduler assigned it over
  // a stream whose lease was renewed).
  void Add(int64_t attempt);
  // The scheduler cancelled it: no more renames. Start's callback is not called (the caller
  // stops the attempt with the cancel's own reason).
  void Revoke(int64_t attempt, const std::string& why);
  void Remove(int64_t attempt);

  // OK when `attempt` may rename an output into place now. Blocks while the stream is down
  // (or not yet confirmed the attempt) and the lease has time left. Aborted when revoked or
  // expired; the message says which and when.
  absl::Status CheckBeforeRename(int64_t attempt);

  // For tests and metrics.
  bool enabled() const;
  absl::Time ValidUntil(int64_t attempt) const;  // InfinitePast when unknown
  int64_t renames_refused() const;

 private:
  struct Held {
    absl::Time valid_until = absl::InfinitePast();
    bool confirmed = false;  // listed by a renewal on the current stream
    bool lost = false;       // revoked or expired: never renames again
    std::string why;         // why lost
  };
  void WatchLoop();
  void MarkLost(int64_t attempt, Held& held, std::string why,
                std::vector<std::pair<int64_t, std::string>>* notify)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Notify(const std::vector<std::pair<int64_t, std::string>>& lost);
  absl::Duration Usable(absl::Duration lease) const;

  const Clock& clock_;
  const Options options_;
  OnLost on_lost_;  // set by Start before the thread runs; read-only after
  mutable absl::Mutex mu_;
  absl::Duration lease_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();  // zero: fencing off
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  std::deque<std::pair<uint64_t, absl::Time>> sent_ ABSL_GUARDED_BY(mu_);  // recent, by seq
  absl::Time worker_valid_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool confirmed_ ABSL_GUARDED_BY(mu_) = false;  // a renewal arrived on the current stream
  std::map<int64_t, Held> held_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // bumped by every change; wakes waiters
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t renames_refused_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_DAEMON_LEASE_TABLE_H_
