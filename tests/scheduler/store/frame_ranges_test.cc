#include "scheduler/store/frame_ranges.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm::scheduler {
namespace {

using ::testing::ElementsAre;

std::vector<int64_t> RoundTrip(const std::vector<int64_t>& frames) {
  absl::StatusOr<std::vector<int64_t>> decoded = DecodeFrameRanges(EncodeFrameRanges(frames));
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  return decoded.ok() ? *decoded : std::vector<int64_t>{};
}

TEST(FrameRangesTest, ChunkOfConsecutiveFramesIsOneRange) {
  EXPECT_EQ(EncodeFrameRanges({1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008}), "1001-1008");
}

TEST(FrameRangesTest, SteppedAndMixedSets) {
  EXPECT_EQ(EncodeFrameRanges({1001, 1003, 1005, 1007}), "1001-1007x2");
  EXPECT_EQ(EncodeFrameRanges({1, 5, 10, 11, 12}), "1,5,10-12");
  EXPECT_EQ(EncodeFrameRanges({7}), "7");
  EXPECT_EQ(EncodeFrameRanges({}), "");
}

TEST(FrameRangesTest, RoundTripsAnySequenceExactly) {
  const std::vector<std::vector<int64_t>> cases = {
      {},
      {1001},
      {1001, 1002},
      {1001, 1003},
      {5, 4, 3, 2, 1},               // descending: no runs
      {3, 3, 3},                     // duplicates
      {1, 2, 3, 10, 20, 30, 31, 1},  // mixed runs and a repeat
      {-5, -4, -3, -1, 0, 1},        // negative frames
      {std::numeric_limits<int64_t>::min(), 0, std::numeric_limits<int64_t>::max()},
      {std::numeric_limits<int64_t>::max() - 1, std::numeric_limits<int64_t>::max()},
  };
  for (const auto& frames : cases) {
    EXPECT_EQ(RoundTrip(frames), frames) << "encoded as \"" << EncodeFrameRanges(frames) << "\"";
  }
}

TEST(FrameRangesTest, DecodesNegativeRanges) {
  absl::StatusOr<std::vector<int64_t>> frames = DecodeFrameRanges("-3--1,4-8x2");
  ASSERT_TRUE(frames.ok()) << frames.status();
  EXPECT_THAT(*frames, ElementsAre(-3, -2, -1, 4, 6, 8));
}

TEST(FrameRangesTest, RejectsMalformedText) {
  for (const char* bad : {"x", "1-", "1,", ",1", "5-1", "1-5x3", "1-9x1", "1-9x0", "1--",
                          "99999999999999999999", "0-99999999999", "1;2"}) {
    EXPECT_FALSE(DecodeFrameRanges(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace genfarm::scheduler
