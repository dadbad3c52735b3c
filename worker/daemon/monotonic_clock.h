// MonotonicClock: a Clock on the steady (monotonic) clock, for lease fencing. A lease must be
// measured on a clock that never jumps: a wall-clock step back (NTP, an operator) would stretch
// the worker's lease past the scheduler's. Its Now() is an arbitrary epoch plus the time since
// boot, so it is only good for durations and deadlines on this same clock, never for dates.
//
//   MonotonicClock monotonic;
//   LeaseTable leases(monotonic);
//
// Thread-safe; stateless.
#ifndef GENFARM_WORKER_DAEMON_MONOTONIC_CLOCK_H_
#define GENFARM_WORKER_DAEMON_MONOTONIC_CLOCK_H_

#include "common/clock.h"

namespace genfarm::worker {

class MonotonicClock : public Clock {
 public:
  absl::Time Now() const override;
  bool SleepUntil(absl::Time deadline, absl::Notification* stop) const override;
  // Waits in slices no longer than a second and rechecks Now(): Abseil turns a timeout into a
  // wall-clock deadline internally, so one long wait could be stretched by a wall-clock step.
  bool AwaitUntil(absl::Mutex* mu, const absl::Condition& cond, absl::Time deadline) const override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_DAEMON_MONOTONIC_CLOCK_H_
