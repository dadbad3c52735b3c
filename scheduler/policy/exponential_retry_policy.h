// ExponentialRetryPolicy: GenFarm's retry rules.
// - Not charged: a lost worker, a cancel, a preemption (none is the task's fault).
// - Never retried: a bad spec (it fails the same way on every worker); it still counts
//   as an attempt.
// - Otherwise retried while charged attempts <= retries, after the shared exponential
//   backoff (common/backoff.h) of the charged attempt count; uncharged requeues run at once.
//
//   ExponentialRetryPolicy retry({absl::Seconds(1), absl::Seconds(60), /*jitter=*/0}, bitgen);
#ifndef GENFARM_SCHEDULER_POLICY_EXPONENTIAL_RETRY_POLICY_H_
#define GENFARM_SCHEDULER_POLICY_EXPONENTIAL_RETRY_POLICY_H_

#include "absl/random/bit_gen_ref.h"
#include "common/backoff.h"
#include "scheduler/policy/retry_policy.h"

namespace genfarm::scheduler {

class ExponentialRetryPolicy : public RetryPolicy {
 public:
  // `gen` is only drawn from when options.jitter > 0; it must outlive the policy.
  ExponentialRetryPolicy(BackoffOptions options, absl::BitGenRef gen)
      : options_(options), gen_(gen) {}

  bool Charges(v1::FailureReason reason) const override;
  RetryDecision Decide(v1::FailureReason reason, int32_t charged_attempts,
                       int32_t retries) const override;

 private:
  BackoffOptions options_;
  absl::BitGenRef gen_;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_POLICY_EXPONENTIAL_RETRY_POLICY_H_
