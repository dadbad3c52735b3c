#include "client/cli/rate_estimator.h"

#include <cmath>

namespace genfarm::client {

void RateEstimator::Observe(absl::Time now, int64_t frames_done) {
  if (!samples_.empty()) {
    if (now < samples_.back().time) return;
    if (frames_done < samples_.back().frames) samples_.clear();
  }
  samples_.push_back({now, frames_done});
  // Keep the newest sample older than the window start, so the window always spans at least
  // `window_` once enough history exists, and a stall shows up as a falling rate.
  while (samples_.size() > 2 && samples_[1].time <= now - window_) samples_.pop_front();
}

std::optional<double> RateEstimator::FramesPerSecond() const {
  if (samples_.size() < 2) return std::nullopt;
  const Sample& first = samples_.front();
  const Sample& last = samples_.back();
  double seconds = absl::ToDoubleSeconds(last.time - first.time);
  if (seconds <= 0) return std::nullopt;
  return static_cast<double>(last.frames - first.frames) / seconds;
}

std::optional<absl::Duration> RateEstimator::Eta(int64_t frames_remaining) const {
  if (frames_remaining <= 0) return absl::ZeroDuration();
  std::optional<double> rate = FramesPerSecond();
  if (!rate || *rate <= 0) return std::nullopt;
  return absl::Seconds(std::ceil(static_cast<double>(frames_remaining) / *rate));
}

}  // namespace genfarm::client
