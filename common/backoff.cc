#include "common/backoff.h"

#include <algorithm>

#include "absl/random/distributions.h"

namespace genfarm {

absl::Duration BackoffDelay(const BackoffOptions& options, int failures, absl::BitGenRef gen) {
  absl::Duration delay = options.initial;
  // Doubling stops at the cap, so a large failure count cannot overflow the duration.
  for (int i = 1; i < failures && delay < options.max; ++i) delay *= 2;
  delay = std::min(delay, options.max);
  const double jitter = std::clamp(options.jitter, 0.0, 1.0);
  if (jitter <= 0.0 || delay <= absl::ZeroDuration()) return delay;
  const double hi = absl::ToDoubleMicroseconds(delay);
  const double lo = hi * (1.0 - jitter);
  return absl::Microseconds(absl::Uniform<double>(absl::IntervalClosed, gen, lo, hi));
}

}  // namespace genfarm
