#include "worker/daemon/monotonic_clock.h"

#include <algorithm>
#include <chrono>

namespace genfarm::worker {
namespace {

constexpr absl::Duration kSlice = absl::Seconds(1);

}  // namespace

absl::Time MonotonicClock::Now() const {
  return absl::UnixEpoch() + absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

bool MonotonicClock::SleepUntil(absl::Time deadline, absl::Notification* stop) const {
  while (true) {
    const absl::Duration left = deadline - Now();
    if (stop != nullptr && stop->HasBeenNotified()) return true;
    if (left <= absl::ZeroDuration()) return false;
    const absl::Duration slice = std::min(left, kSlice);
    if (stop != nullptr) {
      if (stop->WaitForNotificationWithTimeout(slice)) return true;
    } else {
      absl::SleepFor(slice);
    }
  }
}

bool MonotonicClock::AwaitUntil(absl::Mutex* mu, const absl::Condition& cond,
                                absl::Time deadline) const {
  while (true) {
    const absl::Duration left = deadline - Now();
    if (left <= absl::ZeroDuration()) return cond.Eval();
    if (mu->AwaitWithTimeout(cond, std::min(left, kSlice))) return true;
  }
}

}  // namespace genfarm::worker
