#include "common/backoff.h"

#include "absl/random/random.h"
#include "gtest/gtest.h"

namespace genfarm {
namespace {

TEST(BackoffDelayTest, DoublesFromInitialAndStopsAtTheCap) {
  absl::BitGen gen;
  BackoffOptions options{absl::Seconds(1), absl::Seconds(60), 0.0};
  EXPECT_EQ(BackoffDelay(options, 1, gen), absl::Seconds(1));
  EXPECT_EQ(BackoffDelay(options, 2, gen), absl::Seconds(2));
  EXPECT_EQ(BackoffDelay(options, 6, gen), absl::Seconds(32));
  EXPECT_EQ(BackoffDelay(options, 7, gen), absl::Seconds(60));
  EXPECT_EQ(BackoffDelay(options, 1'000'000, gen), absl::Seconds(60));
  EXPECT_EQ(BackoffDelay(options, 0, gen), absl::Seconds(1));
}

TEST(BackoffDelayTest, JitterStaysInsideItsBand) {
  absl::BitGen gen(std::seed_seq{7});
  BackoffOptions options{absl::Seconds(8), absl::Seconds(8), 0.5};
  absl::Duration lowest = absl::InfiniteDuration(), highest = absl::ZeroDuration();
  for (int i = 0; i < 1000; ++i) {
    absl::Duration d = BackoffDelay(options, 1, gen);
    lowest = std::min(lowest, d);
    highest = std::max(highest, d);
  }
  EXPECT_GE(lowest, absl::Seconds(4));
  EXPECT_LE(highest, absl::Seconds(8));
  EXPECT_LT(lowest, absl::Seconds(5));  // the band is used, not one point in it
  EXPECT_GT(highest, absl::Seconds(7));
}

TEST(ExponentialBackoffTest, ResetStartsOverFromInitial) {
  absl::BitGen gen;
  ExponentialBackoff backoff({absl::Milliseconds(200), absl::Seconds(10), 0.0}, gen);
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(200));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(400));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(800));
  backoff.Reset();
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(200));
}

}  // namespace
}  // namespace genfarm
