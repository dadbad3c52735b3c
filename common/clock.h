// Time source, and every wait that depends on time. Nothing outside common/ reads the wall
// clock or waits on it: components take a Clock&, production passes RealClock, tests pass
// FakeClock and advance it. A component that waits for a deadline (a retry backoff, a
// heartbeat interval, a drain grace period) waits through the clock, so FakeClock::Advance()
// wakes it and a test never sleeps.
//
//   FakeClock clock;
//   LeaseTable leases(clock, absl::Seconds(30));
//   clock.Advance(absl::Seconds(31));
//
//   // A loop that waits on its own mutex for `stopping_` or the next tick:
//   absl::MutexLock lock(&mu_);
//   auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
//   if (clock_.AwaitUntil(&mu_, absl::Condition(&stopped), clock_.Now() + period)) return;
//
//   // In the test: wait (real deadline, no sleep) until the loop is blocked, then move time.
//   ASSERT_TRUE(clock.AwaitWaiters(1));
//   clock.Advance(period);
#ifndef GENFARM_COMMON_CLOCK_H_
#define GENFARM_COMMON_CLOCK_H_

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace genfarm {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // Blocks until Now() >= deadline or `stop` (may be null) is notified. Returns true when
  // `stop` was notified (also when it already was on entry), false when the deadline passed.
  virtual bool SleepUntil(absl::Time deadline, absl::Notification* stop) const = 0;

  // With `mu` held: blocks until `cond` holds or Now() >= deadline, and returns `cond`'s value
  // at return, with `mu` held again. Like absl::Mutex::AwaitWithDeadline, but on this
  // clock's time. `mu` may be released during the call, as in any condition wait.
  virtual bool AwaitUntil(absl::Mutex* mu, const absl::Condition& cond, absl::Time deadline) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) = 0;
};

// The system clock. Thread-safe.
class RealClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  bool SleepUntil(absl::Time deadline, absl::Notification* stop) const override;
  bool AwaitUntil(absl::Mutex* mu, const absl::Condition& cond, absl::Time deadline) const override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  static RealClock& Get();
};

// The steady (monotonic) clock, for leases and other deadlines that must not move when the
// wall clock is stepped (NTP, an operator): a step back would stretch a worker's lease past
// the scheduler's. Now() is an arbitrary epoch plus the time since boot, good only for
// durations and deadlines on this same clock, never for dates. Its waits re-read the clock
// at least once a second (absl's waits take wall-clock deadlines, so a long wait is sliced).
// Thread-safe; stateless.
class MonotonicClock : public Clock {
 public:
  absl::Time Now() const override;
  bool SleepUntil(absl::Time deadline, absl::Notification* stop) const override;
  bool AwaitUntil(absl::Mutex* mu, const absl::Condition& cond, absl::Time deadline) const override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
};

// A clock that only moves when told to. Advance() and Set() wake every waiter whose deadline
// has passed. Waiters are counted, so a test can wait until the code under test is blocked
// on the clock before it moves time (AwaitWaiters). Thread-safe.
//
// Lock order: the waiter registry, then a waiter's mutex, then the time. Advance() holds the
// registry while it locks and unlocks each waiting mutex (which makes absl re-evaluate the
// waiter's condition against the new time); a waiter never takes the registry while it holds
// its own mutex.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'800'000'000)) : now_(start) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&time_mu_);
    return now_;
  }
  void Advance(absl::Duration d);
  void Set(absl::Time t);

  // A waiter with a `stop` notification notices it within a millisecond of real time (a
  // Notification cannot wake a fake clock, so that one case polls).
  bool SleepUntil(absl::Time deadline, absl::Notification* stop) const override;
  bool AwaitUntil(absl::Mutex* mu, const absl::Condition& cond, absl::Time deadline) const override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Threads blocked in SleepUntil or AwaitUntil right now.
  int WaiterCount() const;
  // Their deadlines, earliest first (a test reads a retry delay as deadline - Now()).
  std::vector<absl::Time> WaiterDeadlines() const;
  // Waits, for at most `timeout` of real time, until at least `n` threads wait on this clock.
  // Returns whether they do.
  bool AwaitWaiters(int n, absl::Duration timeout = absl::Seconds(10)) const;
  // Waits, for at most `timeout` of real time, until some thread waits for a deadline after
  // Now() and no later than `by`; returns the earliest such deadline (nullopt on timeout).
  // Picks one loop's wait out of several (a retry delay among long heartbeat intervals)
  // and ignores a waiter that is already due but has not woken yet.
  std::optional<absl::Time> AwaitWaiterDueBy(absl::Time by,
                                             absl::Duration timeout = absl::Seconds(10)) const;
  // How many waits have started since construction; with AwaitWaitsStarted a test can wait
  // for a loop's next wait even when the count of current waiters does not change.
  int64_t waits_started() const;
  bool AwaitWaitsStarted(int64_t n, absl::Duration timeout = absl::Seconds(10)) const;

 private:
  // A registered waiter: the mutex to kick on Advance (null for SleepUntil, which waits on
  // time_mu_ itself) and its deadline.
  struct Waiter {
    absl::Mutex* mu;
    absl::Time deadline;
  };
  uint64_t Register(absl::Mutex* mu, absl::Time deadline) const;
  void Unregister(uint64_t id) const;
  // Locks and unlocks every registered waiter's mutex, so each re-evaluates its condition.
  void Kick();

  mutable absl::Mutex registry_mu_ ABSL_ACQUIRED_BEFORE(time_mu_);
  mutable std::map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(registry_mu_);
  mutable uint64_t next_waiter_ ABSL_GUARDED_BY(registry_mu_) = 0;
  mutable int64_t waits_started_ ABSL_GUARDED_BY(registry_mu_) = 0;

  mutable absl::Mutex time_mu_;
  absl::Time now_ ABSL_GUARDED_BY(time_mu_);
};

inline int64_t ToMillis(absl::Time t) { return absl::ToUnixMillis(t); }
inline absl::Time FromMillis(int64_t ms) { return absl::FromUnixMillis(ms); }

}  // namespace genfarm

#endif  // GENFARM_COMMON_CLOCK_H_
