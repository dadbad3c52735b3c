#include "common/frame_set.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<int64_t> Frames(const std::string& text) {
  absl::StatusOr<FrameSet> set = FrameSet::Parse(text);
  EXPECT_TRUE(set.ok()) << text << ": " << set.status();
  return set.ok() ? set->frames() : std::vector<int64_t>{};
}

std::string ErrorOf(const std::string& text, int64_t max_frames = kMaxFramesPerStage) {
  absl::StatusOr<FrameSet> set = FrameSet::Parse(text, max_frames);
  EXPECT_FALSE(set.ok()) << text << " parsed as " << (set.ok() ? set->ToString() : "");
  if (set.ok()) return "";
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(set.status().message());
}

TEST(FrameSetTest, SingleFrame) { EXPECT_THAT(Frames("1001"), ElementsAre(1001)); }

TEST(FrameSetTest, InclusiveRange) {
  EXPECT_THAT(Frames("1001-1004"), ElementsAre(1001, 1002, 1003, 1004));
}

TEST(FrameSetTest, SteppedRangeStartsAtFirstFrame) {
  EXPECT_THAT(Frames("1001-1010x3"), ElementsAre(1001, 1004, 1007, 1010));
  EXPECT_THAT(Frames("1-10x4"), ElementsAre(1, 5, 9));
}

TEST(FrameSetTest, ListIsSortedAndDeduplicated) {
  EXPECT_THAT(Frames("10-12,1,5,11,1"), ElementsAre(1, 5, 10, 11, 12));
}

// Out of order or overlapping: unit-step ranges are merged as intervals, stepped ones
// sorted; both give the sorted set without duplicates.
TEST(FrameSetTest, OutOfOrderAndOverlappingTokensGiveTheSortedSet) {
  EXPECT_THAT(Frames("10-12, 1-3, 2, 11-14"), ElementsAre(1, 2, 3, 10, 11, 12, 13, 14));
  EXPECT_THAT(Frames("7-11x2, 1-5x2, 5"), ElementsAre(1, 3, 5, 7, 9, 11));
  absl::StatusOr<FrameSet> big = FrameSet::Parse("1-100000, 1, 50000-100001");
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->size(), 100001u);
  EXPECT_EQ(big->ToString(), "1-100001");
}

// Tokens in ascending order skip the sort; touching or overlapping ones still merge.
TEST(FrameSetTest, AscendingTokensAndTouchingTokensGiveTheSameSet) {
  EXPECT_THAT(Frames("1-3,5,7-9x2"), ElementsAre(1, 2, 3, 5, 7, 9));
  EXPECT_THAT(Frames("1-3,3-4"), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(Frames("1-10x4,9"), ElementsAre(1, 5, 9));
  EXPECT_THAT(Frames("5,1-2"), ElementsAre(1, 2, 5));
}

TEST(FrameSetTest, WhitespaceAroundCommasIsTolerated) {
  EXPECT_THAT(Frames("  1 , 5 ,\t10-12 "), ElementsAre(1, 5, 10, 11, 12));
}

TEST(FrameSetTest, NegativeFrames) {
  EXPECT_THAT(Frames("-5--3"), ElementsAre(-5, -4, -3));
  EXPECT_THAT(Frames("-2-1"), ElementsAre(-2, -1, 0, 1));
  EXPECT_THAT(Frames("-1"), ElementsAre(-1));
}

TEST(FrameSetTest, Accessors) {
  absl::StatusOr<FrameSet> set = FrameSet::Parse("1001-1010x3,2000");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->size(), 5u);
  EXPECT_FALSE(set->empty());
  EXPECT_EQ(set->first(), 1001);
  EXPECT_EQ(set->last(), 2000);
  EXPECT_TRUE(set->Contains(1004));
  EXPECT_FALSE(set->Contains(1002));
  EXPECT_FALSE(set->Contains(1999));
  EXPECT_TRUE(FrameSet().empty());
}

TEST(FrameSetTest, EmptyTextIsRefused) {
  EXPECT_EQ(ErrorOf(""), "empty frame set");
  EXPECT_EQ(ErrorOf("  \t"), "empty frame set");
}

TEST(FrameSetTest, GarbageTokenIsNamed) {
  std::string error = ErrorOf("1,10-x");
  EXPECT_THAT(error, HasSubstr("token '10-x'"));
  EXPECT_THAT(error, HasSubstr("expected a frame"));
  EXPECT_THAT(ErrorOf("1001-1100 x2"), HasSubstr("token '1001-1100 x2'"));
  EXPECT_THAT(ErrorOf("abc"), HasSubstr("token 'abc'"));
  EXPECT_THAT(ErrorOf("5x2"), HasSubstr("token '5x2'"));
  EXPECT_THAT(ErrorOf("1-"), HasSubstr("token '1-'"));
  EXPECT_THAT(ErrorOf("1.5"), HasSubstr("token '1.5'"));
}

TEST(FrameSetTest, EmptyTokenIsNamed) {
  EXPECT_THAT(ErrorOf("1,,2"), HasSubstr("token 2 is empty"));
  EXPECT_THAT(ErrorOf("1,"), HasSubstr("token 2 is empty"));
}

TEST(FrameSetTest, ReversedRangeIsNamed) {
  std::string error = ErrorOf("1,20-10");
  EXPECT_THAT(error, HasSubstr("token '20-10'"));
  EXPECT_THAT(error, HasSubstr("range 20-10 is reversed"));
}

TEST(FrameSetTest, StepMustBePositive) {
  std::string error = ErrorOf("1-10x0");
  EXPECT_THAT(error, HasSubstr("token '1-10x0'"));
  EXPECT_THAT(error, HasSubstr("step must be >= 1, got 0"));
  EXPECT_THAT(ErrorOf("1-10x-2"), HasSubstr("step must be >= 1, got -2"));
  EXPECT_THAT(ErrorOf("1-10xq"), HasSubstr("step is not an integer"));
}

TEST(FrameSetTest, HugeFrameNumberIsRefused) {
  std::string error = ErrorOf("1-99999999999999999999");
  EXPECT_THAT(error, HasSubstr("token '1-99999999999999999999'"));
  EXPECT_THAT(error, HasSubstr("out of range"));
}

TEST(FrameSetTest, TenMillionFramesAreRefusedBeforeAnyAreMaterialized) {
  EXPECT_THAT(ErrorOf("1-10000000"),
              HasSubstr("has 10000000 frames, more than the limit of 1000000"));
  // A trillion frames (8 TB as a vector) can only be refused by counting first: a parser
  // that materialized the set would die of bad_alloc here instead of returning an error.
  EXPECT_THAT(ErrorOf("1-999999999999"),
              HasSubstr("has 999999999999 frames, more than the limit of 1000000"));
}

TEST(FrameSetTest, LimitCountsDistinctFrames) {
  // Overlapping ranges count each frame once.
  absl::StatusOr<FrameSet> set = FrameSet::Parse("1-1000000,1-1000000,500000-600000");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->size(), 1'000'000u);
  EXPECT_THAT(ErrorOf("1-1000000,1000001"), HasSubstr("has 1000001 frames"));
  // Stepped overlaps take the slow path and still count distinct frames.
  set = FrameSet::Parse("1-100x2,1-100x2,1-100", 100);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->size(), 100u);
  EXPECT_THAT(ErrorOf("1-100x2,2-100x2,101", 100), HasSubstr("more frames than the limit of 100"));
}

TEST(FrameSetTest, CustomLimit) {
  EXPECT_TRUE(FrameSet::Parse("1-10", 10).ok());
  EXPECT_THAT(ErrorOf("1-11", 10), HasSubstr("has 11 frames, more than the limit of 10"));
}

TEST(FrameSetTest, ToStringIsCompact) {
  auto canonical = [](const std::string& text) {
    absl::StatusOr<FrameSet> set = FrameSet::Parse(text);
    EXPECT_TRUE(set.ok()) << set.status();
    return set.ok() ? set->ToString() : "";
  };
  EXPECT_EQ(canonical("1001"), "1001");
  EXPECT_EQ(canonical("1,2,3,4"), "1-4");
  EXPECT_EQ(canonical("1001-1100x2"), "1001-1099x2");
  EXPECT_EQ(canonical("1,5,10-20"), "1,5,10-20");
  EXPECT_EQ(canonical("10-20x1,1,3,5,7"), "1-7x2,10-20");
  EXPECT_EQ(canonical("-5--1"), "-5--1");
  EXPECT_EQ(FrameSet().ToString(), "");
}

// The one frame-list formatter: the dashboard's former CompactFrames cases and the store's
// any-sequence contract (tests/scheduler/store/frame_ranges_test.cc round-trips it).
TEST(FrameSetTest, FormatWritesAnySequenceInFrameSetSyntax) {
  EXPECT_EQ(FrameSet::Format({}), "");
  EXPECT_EQ(FrameSet::Format({1001}), "1001");
  EXPECT_EQ(FrameSet::Format({1001, 1002}), "1001-1002");
  EXPECT_EQ(FrameSet::Format({1001, 1002, 1003, 1004}), "1001-1004");
  EXPECT_EQ(FrameSet::Format({1, 5}), "1,5");
  EXPECT_EQ(FrameSet::Format({1, 2, 3, 5, 7, 9}), "1-3,5-9x2");
  EXPECT_EQ(FrameSet::Format({1, 5, 10, 11, 12, 13}), "1,5,10-13");
  EXPECT_EQ(FrameSet::Format({-2, -1, 0}), "-2-0");
  EXPECT_EQ(FrameSet::Format({5, 4, 4}), "5,4,4");  // order and repeats kept
  EXPECT_EQ(FrameSet::Format({INT64_MIN, INT64_MAX}), "-9223372036854775808,9223372036854775807");
  for (const char* text : {"1001-1100", "1-9x2,20,30-40", "-5--1,3"}) {
    const FrameSet set = *FrameSet::Parse(text);
    EXPECT_EQ(FrameSet::Format(set.frames()), set.ToString()) << text;
  }
}

TEST(FrameSetTest, ToStringRoundTrips) {
  const std::vector<std::string> inputs = {"1001",
                                           "1001-1100",
                                           "1001-1100x2",
                                           "1,5,10-20",
                                           "-10--1,0,1-9x3",
                                           "1,2,4,8,16,32",
                                           "1-3,5-7x2,100,200-300x50,301",
                                           "7,8",
                                           "1,3",
                                           "-3-3x3"};
  for (const std::string& text : inputs) {
    absl::StatusOr<FrameSet> set = FrameSet::Parse(text);
    ASSERT_TRUE(set.ok()) << text << ": " << set.status();
    absl::StatusOr<FrameSet> again = FrameSet::Parse(set->ToString());
    ASSERT_TRUE(again.ok()) << set->ToString() << ": " << again.status();
    EXPECT_EQ(*again, *set) << text << " -> " << set->ToString();
  }
}

TEST(FrameSetTest, FromFramesSortsAndDeduplicates) {
  FrameSet set = FrameSet::FromFrames({5, 1, 3, 1});
  EXPECT_THAT(set.frames(), ElementsAre(1, 3, 5));
  EXPECT_EQ(set.ToString(), "1-5x2");
}

TEST(FrameSetTest, ChunkConsecutiveFrames) {
  absl::StatusOr<FrameSet> set = FrameSet::Parse("1001-1010");
  ASSERT_TRUE(set.ok());
  absl::StatusOr<std::vector<std::vector<int64_t>>> chunks = set->Chunk(4);
  ASSERT_TRUE(chunks.ok()) << chunks.status();
  EXPECT_THAT(*chunks, ElementsAre(ElementsAre(1001, 1002, 1003, 1004),
                                   ElementsAre(1005, 1006, 1007, 1008), ElementsAre(1009, 1010)));
}

TEST(FrameSetTest, ChunkSteppedFramesTakesMembersNotNumbers) {
  absl::StatusOr<FrameSet> set = FrameSet::Parse("1-20x2");
  ASSERT_TRUE(set.ok());
  absl::StatusOr<std::vector<std::vector<int64_t>>> chunks = set->Chunk(3);
  ASSERT_TRUE(chunks.ok());
  EXPECT_THAT(*chunks, ElementsAre(ElementsAre(1, 3, 5), ElementsAre(7, 9, 11),
                                   ElementsAre(13, 15, 17), ElementsAre(19)));
}

TEST(FrameSetTest, ChunkNeverDropsOrDuplicatesAFrame) {
  for (const std::string text : {"1001-1096", "1-97x3,500,1000-1010", "-7-7"}) {
    absl::StatusOr<FrameSet> set = FrameSet::Parse(text);
    ASSERT_TRUE(set.ok());
    for (int chunk_size : {1, 2, 3, 5, 7, 8, 13, 95, 96, 97, 1000}) {
      absl::StatusOr<std::vector<std::vector<int64_t>>> chunks = set->Chunk(chunk_size);
      ASSERT_TRUE(chunks.ok());
      std::vector<int64_t> joined;
      for (size_t i = 0; i < chunks->size(); ++i) {
        const std::vector<int64_t>& chunk = (*chunks)[i];
        ASSERT_FALSE(chunk.empty());
        if (i + 1 < chunks->size()) {
          EXPECT_EQ(chunk.size(), static_cast<size_t>(chunk_size)) << text << " / " << chunk_size;
        } else {
          EXPECT_LE(chunk.size(), static_cast<size_t>(chunk_size));
        }
        joined.insert(joined.end(), chunk.begin(), chunk.end());
      }
      EXPECT_EQ(joined, set->frames()) << text << " / " << chunk_size;
    }
  }
}

TEST(FrameSetTest, ChunkSizeMustBePositive) {
  absl::StatusOr<FrameSet> set = FrameSet::Parse("1-10");
  ASSERT_TRUE(set.ok());
  absl::StatusOr<std::vector<std::vector<int64_t>>> chunks = set->Chunk(0);
  ASSERT_FALSE(chunks.ok());
  EXPECT_EQ(chunks.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(chunks.status().message(), HasSubstr("chunk size must be >= 1, got 0"));
  EXPECT_FALSE(set->Chunk(-3).ok());
}

}  // namespace
}  // namespace genfarm
