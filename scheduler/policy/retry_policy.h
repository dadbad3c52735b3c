// RetryPolicy: what happens to a task after one of its attempts failed. The core
// (mechanism) asks and applies: it charges the attempt to the task's retries or not,
// requeues it after the delay or fails it for good.
//
//   ExponentialRetryPolicy retry({.initial = absl::Seconds(1), .max = absl::Minutes(1)});
//   RetryDecision d = retry.Decide(v1::FAILURE_REASON_MODEL_ERROR, /*charged_attempts=*/2,
//                                  /*retries=*/3);
//   if (d.retry) requeue_after(d.delay); else fail();
//
// Implementations are pure (no clock, no I/O) and not required to be thread-safe: the
// core calls them on its one thread.
#ifndef GENFARM_SCHEDULER_POLICY_RETRY_POLICY_H_
#define GENFARM_SCHEDULER_POLICY_RETRY_POLICY_H_

#include <cstdint>

#include "absl/time/time.h"
#include "genfarm/v1/types.pb.h"

namespace genfarm::scheduler {

struct RetryDecision {
  // The attempt counts against the task's retries (a failure of the task, not a lost
  // worker, a cancel or a preemption).
  bool charge = true;
  // The task runs again; otherwise it fails for good.
  bool retry = false;
  // How long the requeued task waits before it may run (zero = at once).
  absl::Duration delay = absl::ZeroDuration();
};

class RetryPolicy {
 public:
  virtual ~RetryPolicy() = default;

  // Whether a failure for `reason` is charged to the task at all; Decide() applies it.
  virtual bool Charges(v1::FailureReason reason) const = 0;

  // `charged_attempts`: attempts charged to the task so far, this one included when it
  // is charged; `retries`: the stage's retry allowance.
  virtual RetryDecision Decide(v1::FailureReason reason, int32_t charged_attempts,
                               int32_t retries) const = 0;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_POLICY_RETRY_POLICY_H_
