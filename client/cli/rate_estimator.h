// Frames-per-second and ETA from a stream of (time, frames done) samples, over a sliding window
// so the rate follows the farm as workers come and go.
//
//   RateEstimator rate(absl::Seconds(30));
//   rate.Observe(clock.Now(), job_frames_done);
//   if (auto eta = rate.Eta(frames_total - frames_done)) ...
//
// Time is passed in, never read, so tests drive it with plain values. Not thread-safe.
#ifndef GENFARM_CLIENT_CLI_RATE_ESTIMATOR_H_
#define GENFARM_CLIENT_CLI_RATE_ESTIMATOR_H_

#include <cstdint>
#include <deque>
#include <optional>

#include "absl/time/time.h"

namespace genfarm::client {

class RateEstimator {
 public:
  explicit RateEstimator(absl::Duration window = absl::Seconds(30)) : window_(window) {}

  // Records that `frames_done` frames were done at `now`. A count that goes down (frames retried)
  // restarts the estimate. Samples older than `now` are ignored.
  void Observe(absl::Time now, int64_t frames_done);

  // Frames per second over the window; nullopt until two samples span some time.
  std::optional<double> FramesPerSecond() const;

  // Time left for `frames_remaining` at the current rate; nullopt when the rate is unknown or zero.
  std::optional<absl::Duration> Eta(int64_t frames_remaining) const;

 private:
  struct Sample {
    absl::Time time;
    int64_t frames;
  };
  absl::Duration window_;
  std::deque<Sample> samples_;  // oldest first; the first may predate the window (see Observe)
};

}  // namespace genfarm::client

#endif  // GENFARM_CLIENT_CLI_RATE_ESTIMATOR_H_
