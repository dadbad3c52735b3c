#include "scheduler/core/job_plan.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/frame_set.h"
#include "common/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

v1::JobSpec Spec(const std::string& yaml) {
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(yaml);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : v1::JobSpec{};
}

// One model stage over `frames` in chunks of `chunk`.
v1::JobSpec OneStage(const std::string& frames, int chunk) {
  return Spec(absl::StrCat(R"(
name: plan
project: p
stages:
  - name: upres
    model: esrgan
    input: in/plate.####.exr
    output: out/upres.####.exr
    frames: ")",
                           frames, R"("
    chunk: )",
                           chunk, "\n"));
}

JobPlan Plan(const v1::JobSpec& spec, WindowLookup windows = nullptr) {
  absl::StatusOr<JobPlan> plan = PlanJob(spec, windows);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *plan : JobPlan{};
}

std::vector<std::vector<int64_t>> TaskFrames(const JobPlan& plan, int stage) {
  std::vector<std::vector<int64_t>> out;
  for (const PlannedTask& t : plan.tasks) {
    if (t.stage == stage) out.push_back(t.frames);
  }
  return out;
}

TEST(JobPlanTest, ChunksContiguousFramesInOrder) {
  JobPlan plan = Plan(OneStage("1001-1010", 3));
  EXPECT_THAT(TaskFrames(plan, 0),
              ElementsAre(ElementsAre(1001, 1002, 1003), ElementsAre(1004, 1005, 1006),
                          ElementsAre(1007, 1008, 1009), ElementsAre(1010)));
  for (const PlannedTask& t : plan.tasks) EXPECT_THAT(t.deps, IsEmpty());
}

TEST(JobPlanTest, ChunksSteppedFramesByMembersNotByNumbers) {
  // 1001-1020x2 is 10 frames; chunk 3 counts members of the set, so no task is empty
  // and none holds a frame outside the set.
  JobPlan plan = Plan(OneStage("1001-1020x2", 3));
  EXPECT_THAT(TaskFrames(plan, 0),
              ElementsAre(ElementsAre(1001, 1003, 1005), ElementsAre(1007, 1009, 1011),
                          ElementsAre(1013, 1015, 1017), ElementsAre(1019)));
  EXPECT_THAT(plan.stage_frames[0].size(), 10u);
}

TEST(JobPlanTest, OddChunkSizesNeverDropOrDuplicateFrames) {
  const std::string frames = "1,5,10-20,100-130x3,1001-1100";
  const std::vector<int64_t> expected = FrameSet::Parse(frames)->frames();
  for (int chunk : {1, 2, 3, 5, 7, 11, 13, 17, 64, 127, 1000}) {
    SCOPED_TRACE(absl::StrCat("chunk ", chunk));
    JobPlan plan = Plan(OneStage(frames, chunk));
    std::vector<int64_t> all;
    for (const auto& task : TaskFrames(plan, 0)) {
      EXPECT_FALSE(task.empty());
      EXPECT_LE(static_cast<int>(task.size()), chunk);
      all.insert(all.end(), task.begin(), task.end());
    }
    EXPECT_EQ(all, expected);  // every frame once, in order
    const size_t tasks = (expected.size() + chunk - 1) / chunk;
    EXPECT_EQ(plan.tasks.size(), tasks);
  }
}

// upres 1001-1010 in chunks of 4 (tasks 0..2), then `grade` over the same frames in
// chunks of 4 (tasks 3..5) with the given window.
v1::JobSpec TwoStages(const std::string& window) {
  return Spec(absl::StrCat(R"(
name: plan
project: p
stages:
  - name: upres
    model: esrgan
    input: in/plate.####.exr
    output: out/upres.####.exr
    frames: 1001-1010
    chunk: 4
  - name: grade
    model: denoise
    input: out/upres.####.exr
    output: out/grade.####.exr
    frames: 1001-1010
    chunk: 4
)",
                           window));
}

TEST(JobPlanTest, DownstreamTaskNeedsOnlyTheUpstreamTaskWritingItsFrames) {
  JobPlan plan = Plan(TwoStages(""));
  ASSERT_EQ(plan.tasks.size(), 6u);
  EXPECT_THAT(plan.tasks[3].deps, ElementsAre(0));
  EXPECT_THAT(plan.tasks[4].deps, ElementsAre(1));
  EXPECT_THAT(plan.tasks[5].deps, ElementsAre(2));
}

TEST(JobPlanTest, WindowAfterOneNeedsTheNextUpstreamChunk) {
  JobPlan plan = Plan(TwoStages("    window: {after: 1}\n"));
  ASSERT_EQ(plan.tasks.size(), 6u);
  EXPECT_THAT(plan.tasks[3].deps, ElementsAre(0, 1));  // frame 1004 reads 1005
  EXPECT_THAT(plan.tasks[4].deps, ElementsAre(1, 2));  // frame 1008 reads 1009
  EXPECT_THAT(plan.tasks[5].deps, ElementsAre(2));     // 1011 does not exist upstream
  EXPECT_EQ(plan.windows[1].after, 1);
}

TEST(JobPlanTest, ModelWindowFromWorkersWidensDependencies) {
  JobPlan plan = Plan(TwoStages(""), [](const std::string& model) {
    return model == "denoise" ? TemporalWindow{1, 0} : TemporalWindow{};
  });
  ASSERT_EQ(plan.tasks.size(), 6u);
  EXPECT_THAT(plan.tasks[3].deps, ElementsAre(0));
  EXPECT_THAT(plan.tasks[4].deps, ElementsAre(0, 1));  // frame 1005 reads 1004
  EXPECT_THAT(plan.tasks[5].deps, ElementsAre(1, 2));
  EXPECT_EQ(plan.windows[1].before, 1);
}

// The mapping itself (RetimeSpanOf, formerly RetimeOutputs here) is tested with the worker's
// view of it in tests/common/retime_mapping_test.cc; these check the planner's use of it.

// A spec the validator never saw (a stored one on recovery, or a default factor the core
// filled in): the planner bounds the retime output itself before building anything.
TEST(JobPlanTest, RetimeWritingTooManyFramesIsRefusedBeforePlanning) {
  v1::JobSpec spec = Spec(R"(
name: plan
project: p
stages:
  - name: retime
    model: rife
    input: in/plate.####.exr
    output: out/retime.####.exr
    frames: 1,1000000000
)");
  (*spec.mutable_stages(0)->mutable_params())["factor"] = "2";
  absl::StatusOr<JobPlan> plan = PlanJob(spec, nullptr);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(plan.status().message(),
            "stages[0].params.factor: a retime by 2 of 2 frames writes 1999999999 frames, more "
            "than the limit of 1000000 per stage");

  (*spec.mutable_stages(0)->mutable_params())["factor"] = "2147483647";
  plan = PlanJob(spec, nullptr);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().message(),
            "stages[0].params.factor: must be an integer in [2, 16], got 2147483647");
}

TEST(JobPlanTest, SparseFramesWithoutARetimeAreNotBoundedByTheirSpan) {
  JobPlan plan = Plan(OneStage("1,1000000000", 1));
  EXPECT_EQ(plan.tasks.size(), 2u);
}

TEST(JobPlanTest, StageAfterRetimeDependsOnTheTaskWritingEachRetimedFrame) {
  // retime 1001-1004 (factor 2) in chunks of 2 writes 1001-1004 (task 0) and
  // 1005-1007 (task 1); grade reads the retimed frames one per task.
  JobPlan plan = Plan(Spec(R"(
name: plan
project: p
stages:
  - name: retime
    model: rife
    input: in/plate.####.exr
    output: out/retime.####.exr
    frames: 1001-1004
    chunk: 2
    params: {factor: 2}
  - name: grade
    model: denoise
    input: out/retime.####.exr
    output: out/grade.####.exr
    frames: 1001-1007
    chunk: 1
)"));
  ASSERT_EQ(plan.tasks.size(), 2u + 7u);
  std::vector<std::vector<int32_t>> deps;
  for (size_t i = 2; i < plan.tasks.size(); ++i) deps.push_back(plan.tasks[i].deps);
  EXPECT_THAT(deps, ElementsAre(ElementsAre(0), ElementsAre(0), ElementsAre(0), ElementsAre(0),
                                ElementsAre(1), ElementsAre(1), ElementsAre(1)));
}

TEST(JobPlanTest, RetimeOnTwosWaitsForTheTaskWritingTheNextInputFrame) {
  // Upres on twos, one frame per task; retime interpolates each frame towards the next
  // frame *of its set* (1001 -> 1003), so its task must wait for that upstream task too.
  JobPlan plan = Plan(Spec(R"(
name: plan
project: p
stages:
  - name: upres
    model: esrgan
    input: in/plate.####.exr
    output: out/upres.####.exr
    frames: 1001-1005x2
    chunk: 1
  - name: retime
    model: rife
    input: out/upres.####.exr
    output: out/retime.####.exr
    frames: 1001-1005x2
    chunk: 1
    params: {factor: 2}
    window: {after: 1}
)"));
  ASSERT_EQ(plan.tasks.size(), 6u);
  EXPECT_THAT(plan.tasks[3].deps, ElementsAre(0, 1));  // 1001 -> 1003
  EXPECT_THAT(plan.tasks[4].deps, ElementsAre(1, 2));  // 1003 -> 1005
  EXPECT_THAT(plan.tasks[5].deps, ElementsAre(2));
}

TEST(JobPlanTest, DailiesIsOneTaskNeedingEveryUpstreamTask) {
  JobPlan plan = Plan(Spec(R"(
name: plan
project: p
stages:
  - name: upres
    model: esrgan
    input: in/plate.####.exr
    output: out/upres.####.exr
    frames: 1001-1010
    chunk: 3
  - name: dailies
    kind: dailies
    input: out/upres.####.exr
    output: out/dailies/sh010
    frames: 1001-1010
    chunk: 2
)"));
  ASSERT_EQ(plan.tasks.size(), 5u);
  EXPECT_EQ(plan.tasks[4].stage, 1);
  EXPECT_EQ(plan.tasks[4].frames.size(), 10u);  // chunk is ignored: one task
  EXPECT_THAT(plan.tasks[4].deps, ElementsAre(0, 1, 2, 3));
}

TEST(JobPlanTest, AfterNamingALaterStageIsAnError) {
  v1::JobSpec spec = TwoStages("");
  spec.mutable_stages()->SwapElements(0, 1);
  absl::StatusOr<JobPlan> plan = PlanJob(spec, nullptr);
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(std::string(plan.status().message()), ::testing::HasSubstr("upres"));
}

}  // namespace
}  // namespace genfarm::scheduler
