// Exponential backoff with jitter: the one curve every retry loop in GenFarm uses (the
// scheduler's task retries, the store writer's commit retries, the worker's reconnects to
// the scheduler, the CLI's follow loop). Shaped after Envoy's BackOffStrategy: a small
// stateful object per retry loop, plus a pure function for callers that keep the
// failure count themselves (the core keeps it in the task record).
//
//   ExponentialBackoff backoff({.initial = absl::Milliseconds(200), .max = absl::Seconds(10),
//                               .jitter = 0.5}, bitgen);
//   while (!Connect()) clock.SleepUntil(clock.Now() + backoff.Next(), &stop);
//   backoff.Reset();  // after a success
//
// Thread-safety: ExponentialBackoff is not thread-safe; use one per loop.
#ifndef GENFARM_COMMON_BACKOFF_H_
#define GENFARM_COMMON_BACKOFF_H_

#include "absl/random/bit_gen_ref.h"
#include "absl/time/time.h"

namespace genfarm {

struct BackoffOptions {
  absl::Duration initial = absl::Milliseconds(100);  // the first delay
  absl::Duration max = absl::Seconds(10);            // no delay is longer than this
  // Fraction of each delay that is random: the delay is drawn uniformly from
  // [d * (1 - jitter), d]. 0 gives the bare curve (deterministic), 1 "full jitter".
  double jitter = 0.0;
};

// The delay after the `failures`-th consecutive failure (1-based): initial * 2^(failures-1),
// capped at max, then jittered. failures < 1 is treated as 1.
absl::Duration BackoffDelay(const BackoffOptions& options, int failures, absl::BitGenRef gen);

class ExponentialBackoff {
 public:
  ExponentialBackoff(BackoffOptions options, absl::BitGenRef gen) : options_(options), gen_(gen) {}

  // The delay to wait before the next try; each call counts one more failure.
  absl::Duration Next() { return BackoffDelay(options_, ++failures_, gen_); }
  // After a success: the next failure starts from the initial delay again.
  void Reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  BackoffOptions options_;
  absl::BitGenRef gen_;
  int failures_ = 0;
};

}  // namespace genfarm

#endif  // GENFARM_COMMON_BACKOFF_H_
