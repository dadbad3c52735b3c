#include "worker/pipeline/retime_mapping.h"

#include <map>
#include <numeric>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm::worker {
namespace {

using ::testing::ElementsAre;

std::vector<int64_t> Range(int64_t first, int64_t last, int64_t step = 1) {
  std::vector<int64_t> v;
  for (int64_t f = first; f <= last; f += step) v.push_back(f);
  return v;
}

std::vector<int64_t> OutputFrames(const std::vector<RetimeOutput>& outs) {
  std::vector<int64_t> v;
  for (const RetimeOutput& o : outs) v.push_back(o.output_frame);
  return v;
}

TEST(RetimeMappingTest, FactorTwoOnAMiddleChunk) {
  auto outs = MapRetime(Range(1, 10), {4, 5, 6}, 2);
  ASSERT_TRUE(outs.ok()) << outs.status();
  EXPECT_THAT(*outs, ElementsAre(RetimeOutput{7, 4, 4, 0.f}, RetimeOutput{8, 4, 5, 0.5f},
                                 RetimeOutput{9, 5, 5, 0.f}, RetimeOutput{10, 5, 6, 0.5f},
                                 RetimeOutput{11, 6, 6, 0.f}, RetimeOutput{12, 6, 7, 0.5f}));
  EXPECT_THAT(RetimeInputFrames(*outs), ElementsAre(4, 5, 6, 7));  // 7: neighbour, not owned
}

TEST(RetimeMappingTest, LastStageFrameWritesOnlyItsCopy) {
  auto outs = MapRetime(Range(1001, 1004), {1003, 1004}, 3);
  ASSERT_TRUE(outs.ok());
  EXPECT_THAT(OutputFrames(*outs), ElementsAre(1007, 1008, 1009, 1010));
  EXPECT_FLOAT_EQ((*outs)[1].t, 1.f / 3);
  EXPECT_FLOAT_EQ((*outs)[2].t, 2.f / 3);
  EXPECT_TRUE((*outs)[3].is_copy());
  EXPECT_EQ((*outs)[3].from, 1004);
}

TEST(RetimeMappingTest, SteppedFramesFillTheGapKeepingTime) {
  // Plate on twos: 1, 3, 5. Factor 2: output frame o shows time 1 + (o - 1) / 2.
  auto outs = MapRetime({1, 3, 5}, {1, 3, 5}, 2);
  ASSERT_TRUE(outs.ok());
  EXPECT_THAT(OutputFrames(*outs), ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 9));
  EXPECT_EQ((*outs)[2].from, 1);
  EXPECT_EQ((*outs)[2].to, 3);
  EXPECT_FLOAT_EQ((*outs)[2].t, 0.5f);
  EXPECT_EQ((*outs)[4].output_frame, 5);
  EXPECT_TRUE((*outs)[4].is_copy());
  EXPECT_EQ((*outs)[4].from, 3);
}

TEST(RetimeMappingTest, FactorOneIsACopy) {
  auto outs = MapRetime(Range(1, 5), Range(1, 5), 1);
  ASSERT_TRUE(outs.ok());
  EXPECT_THAT(OutputFrames(*outs), ElementsAre(1, 2, 3, 4, 5));
  for (const RetimeOutput& o : *outs) EXPECT_TRUE(o.is_copy());
}

TEST(RetimeMappingTest, RejectsBadInput) {
  EXPECT_EQ(MapRetime(Range(1, 5), {3}, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MapRetime({}, {}, 2).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MapRetime({1, 2, 2}, {1}, 2).status().code(), absl::StatusCode::kInvalidArgument);
  absl::Status outside = MapRetime(Range(1, 5), {9}, 2).status();
  EXPECT_EQ(outside.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(outside.message()), testing::HasSubstr("frame 9"));
}

// Whatever the chunking, the union of the tasks' outputs is every output frame from the
// first to the last exactly once.
TEST(RetimeMappingTest, ChunksNeverDropOrDuplicateAnOutput) {
  const std::vector<std::vector<int64_t>> stages = {
      Range(1, 17), Range(1001, 1040), Range(0, 30, 3), Range(-5, 12, 2), {1, 2, 3, 7, 8, 20}};
  for (const auto& stage : stages) {
    for (int factor : {1, 2, 3, 4}) {
      for (size_t chunk : {1u, 2u, 3u, 5u, 7u, 100u}) {
        SCOPED_TRACE(testing::Message()
                     << "first " << stage.front() << " factor " << factor << " chunk " << chunk);
        std::map<int64_t, int> seen;
        for (size_t i = 0; i < stage.size(); i += chunk) {
          std::vector<int64_t> task(stage.begin() + i,
                                    stage.begin() + std::min(stage.size(), i + chunk));
          auto outs = MapRetime(stage, task, factor);
          ASSERT_TRUE(outs.ok()) << outs.status();
          for (const RetimeOutput& o : *outs) {
            ++seen[o.output_frame];
            EXPECT_GE(o.t, 0.f);
            EXPECT_LT(o.t, 1.f);
          }
        }
        const int64_t first = stage.front();
        const int64_t last = (stage.back() - first) * factor + first;
        ASSERT_EQ(int64_t(seen.size()), last - first + 1);
        EXPECT_EQ(seen.begin()->first, first);
        EXPECT_EQ(seen.rbegin()->first, last);
        for (const auto& [frame, count] : seen) EXPECT_EQ(count, 1) << "output " << frame;
      }
    }
  }
}

}  // namespace
}  // namespace genfarm::worker
