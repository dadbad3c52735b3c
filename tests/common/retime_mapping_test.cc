#include "common/retime_mapping.h"

#include <map>
#include <numeric>
#include <optional>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm {
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

// The outputs of each input frame, as the planner reads them (moved from
// tests/scheduler/core/job_plan_test.cc, where they tested the planner's own copy).
std::vector<int64_t> SpanFrames(const std::vector<int64_t>& all, int64_t f, int factor) {
  std::optional<RetimeSpan> span = RetimeSpanOf(all, f, factor);
  std::vector<int64_t> v;
  for (int64_t k = 0; span && k < span->count; ++k) v.push_back(span->first_output + k);
  return v;
}

TEST(RetimeMappingTest, SpansOnContiguousFrames) {
  const std::vector<int64_t> all = {1001, 1002, 1003, 1004};
  EXPECT_THAT(SpanFrames(all, 1001, 2), ElementsAre(1001, 1002));
  EXPECT_THAT(SpanFrames(all, 1003, 2), ElementsAre(1005, 1006));
  EXPECT_THAT(SpanFrames(all, 1004, 2), ElementsAre(1007));  // last frame: no "after"
  EXPECT_THAT(SpanFrames(all, 1002, 3), ElementsAre(1004, 1005, 1006));
  EXPECT_EQ(RetimeSpanOf(all, 1002, 2), (RetimeSpan{1003, 2, 1003}));
  EXPECT_EQ(RetimeSpanOf(all, 1004, 2), (RetimeSpan{1007, 1, 1004}));
  EXPECT_EQ(RetimeSpanOf(all, 1005, 2), std::nullopt);
}

TEST(RetimeMappingTest, SpansOnSteppedFramesFillTheGap) {
  // On "twos": input 1001 with next input 1003 writes (1003-1001)*2 = 4 outputs.
  const std::vector<int64_t> all = {1001, 1003, 1005};
  EXPECT_THAT(SpanFrames(all, 1001, 2), ElementsAre(1001, 1002, 1003, 1004));
  EXPECT_THAT(SpanFrames(all, 1003, 2), ElementsAre(1005, 1006, 1007, 1008));
  EXPECT_THAT(SpanFrames(all, 1005, 2), ElementsAre(1009));
  EXPECT_EQ(RetimeSpanOf(all, 1002, 2), std::nullopt);
}

// The planner's spans and the worker's outputs are the same frames, task by task.
TEST(RetimeMappingTest, SpansAreTheOutputsMapRetimeWrites) {
  const std::vector<int64_t> stage = {1, 2, 3, 7, 8, 20};
  for (int factor : {1, 2, 3, 16}) {
    std::vector<int64_t> from_spans;
    for (int64_t f : stage) {
      for (int64_t o : SpanFrames(stage, f, factor)) from_spans.push_back(o);
    }
    auto outs = MapRetime(stage, stage, factor);
    ASSERT_TRUE(outs.ok());
    EXPECT_EQ(OutputFrames(*outs), from_spans) << "factor " << factor;
    EXPECT_EQ(RetimeOutputCount(stage, factor), int64_t(from_spans.size()));
  }
}

TEST(RetimeMappingTest, OutputCountOfAWholeStage) {
  EXPECT_EQ(RetimeOutputCount({}, 2), 0);
  EXPECT_EQ(RetimeOutputCount({1001}, 2), 1);
  EXPECT_EQ(RetimeOutputCount(Range(1001, 1096), 2), 191);  // examples/sh010_upres_retime.yaml
  EXPECT_EQ(RetimeOutputCount({1, 1000000000}, 2), 1999999999);
  // Saturates rather than overflowing, so a bound check cannot be fooled.
  EXPECT_EQ(RetimeOutputCount({-999999999999, 999999999999}, 2147483647), INT64_MAX);
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
}  // namespace genfarm
