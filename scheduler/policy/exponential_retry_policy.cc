#include "scheduler/policy/exponential_retry_policy.h"

namespace genfarm::scheduler {

bool ExponentialRetryPolicy::Charges(v1::FailureReason reason) const {
  switch (reason) {
    case v1::FAILURE_REASON_WORKER_LOST:
    case v1::FAILURE_REASON_CANCELED:
    case v1::FAILURE_REASON_PREEMPTED:
      return false;
    default:
      return true;
  }
}

RetryDecision ExponentialRetryPolicy::Decide(v1::FailureReason reason, int32_t charged_attempts,
                                             int32_t retries) const {
  RetryDecision decision;
  decision.charge = Charges(reason);
  // A spec the worker cannot execute fails the same way everywhere.
  decision.retry = reason != v1::FAILURE_REASON_BAD_SPEC && charged_attempts <= retries;
  if (decision.retry && decision.charge) {
    decision.delay = BackoffDelay(options_, charged_attempts, gen_);
  }
  return decision;
}

}  // namespace genfarm::scheduler
