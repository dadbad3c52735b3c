#include "client/cli/rate_estimator.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm::client {
namespace {

using ::testing::DoubleNear;
using ::testing::Optional;

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

TEST(RateEstimatorTest, NoRateFromOneSample) {
  RateEstimator rate;
  rate.Observe(kStart, 100);
  EXPECT_EQ(rate.FramesPerSecond(), std::nullopt);
  EXPECT_EQ(rate.Eta(50), std::nullopt);
}

TEST(RateEstimatorTest, SteadyRateGivesEta) {
  RateEstimator rate;
  rate.Observe(kStart, 0);
  rate.Observe(kStart + absl::Seconds(10), 20);
  EXPECT_THAT(rate.FramesPerSecond(), Optional(DoubleNear(2.0, 1e-9)));
  EXPECT_EQ(rate.Eta(100), absl::Seconds(50));
  EXPECT_EQ(rate.Eta(3), absl::Seconds(2));  // rounded up: 1.5 s -> 2 s
}

TEST(RateEstimatorTest, NothingLeftMeansZeroEta) {
  RateEstimator rate;
  EXPECT_EQ(rate.Eta(0), absl::ZeroDuration());
}

TEST(RateEstimatorTest, WindowFollowsRecentRate) {
  RateEstimator rate(absl::Seconds(30));
  // 10 frames/s for a minute, then 1 frame/s for a minute.
  int64_t frames = 0;
  absl::Time t = kStart;
  rate.Observe(t, frames);
  for (int i = 0; i < 60; ++i) rate.Observe(t += absl::Seconds(1), frames += 10);
  EXPECT_THAT(rate.FramesPerSecond(), Optional(DoubleNear(10.0, 1e-9)));
  for (int i = 0; i < 60; ++i) rate.Observe(t += absl::Seconds(1), frames += 1);
  EXPECT_THAT(rate.FramesPerSecond(), Optional(DoubleNear(1.0, 1e-9)));
}

TEST(RateEstimatorTest, SparseUpdatesKeepOneSampleBeforeTheWindow) {
  RateEstimator rate(absl::Seconds(30));
  rate.Observe(kStart, 0);
  rate.Observe(kStart + absl::Seconds(100), 50);  // first sample is far outside the window
  EXPECT_THAT(rate.FramesPerSecond(), Optional(DoubleNear(0.5, 1e-9)));
}

TEST(RateEstimatorTest, StallHasNoEta) {
  RateEstimator rate;
  rate.Observe(kStart, 40);
  rate.Observe(kStart + absl::Seconds(40), 40);
  EXPECT_THAT(rate.FramesPerSecond(), Optional(DoubleNear(0.0, 1e-9)));
  EXPECT_EQ(rate.Eta(10), std::nullopt);
}

TEST(RateEstimatorTest, FramesGoingBackRestartsTheEstimate) {
  RateEstimator rate;
  rate.Observe(kStart, 0);
  rate.Observe(kStart + absl::Seconds(10), 100);
  rate.Observe(kStart + absl::Seconds(11), 60);  // tasks retried
  EXPECT_EQ(rate.FramesPerSecond(), std::nullopt);
  rate.Observe(kStart + absl::Seconds(15), 80);
  EXPECT_THAT(rate.FramesPerSecond(), Optional(DoubleNear(5.0, 1e-9)));
}

TEST(RateEstimatorTest, IgnoresSamplesFromThePast) {
  RateEstimator rate;
  rate.Observe(kStart + absl::Seconds(10), 10);
  rate.Observe(kStart, 0);
  EXPECT_EQ(rate.FramesPerSecond(), std::nullopt);
}

}  // namespace
}  // namespace genfarm::client
