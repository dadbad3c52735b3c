#include "common/enum_names.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm {
namespace {

using ::testing::ElementsAre;

// The spellings users see in `genfarm status`, metric labels and the dashboard JSON.
TEST(EnumNamesTest, LowerCaseNamesWithoutThePrefix) {
  EXPECT_EQ(JobStateName(v1::JOB_STATE_SUCCEEDED), "succeeded");
  EXPECT_EQ(JobStateName(v1::JOB_STATE_ACTIVE), "active");
  EXPECT_EQ(TaskStateName(v1::TASK_STATE_QUEUED), "queued");
  EXPECT_EQ(TaskStateName(v1::TASK_STATE_RUNNING), "running");
  EXPECT_EQ(FailureReasonName(v1::FAILURE_REASON_INPUT_MISSING), "input_missing");
  EXPECT_EQ(FailureReasonName(v1::FAILURE_REASON_OUT_OF_MEMORY), "out_of_memory");
  EXPECT_EQ(WorkerStateName(v1::WORKER_STATE_DRAINING), "draining");
  EXPECT_EQ(TierName(v1::TIER_INTERACTIVE), "interactive");
  EXPECT_EQ(StageKindName(v1::STAGE_KIND_DAILIES), "dailies");
}

TEST(EnumNamesTest, ZeroValuesAndUnknownNumbers) {
  EXPECT_EQ(TaskStateName(v1::TASK_STATE_UNSPECIFIED), "unspecified");
  EXPECT_EQ(FailureReasonName(v1::FAILURE_REASON_UNSPECIFIED), "unspecified");
  EXPECT_EQ(TierName(v1::TIER_UNSPECIFIED), "batch");  // what an unset tier means
  EXPECT_EQ(TaskStateName(static_cast<v1::TaskState>(99)), "unknown");
}

TEST(EnumNamesTest, ParsersInvertTheNamesInAnyCase) {
  for (int i = v1::TaskState_MIN; i <= v1::TaskState_MAX; ++i) {
    const auto state = static_cast<v1::TaskState>(i);
    if (state == v1::TASK_STATE_UNSPECIFIED) continue;
    EXPECT_EQ(ParseTaskState(TaskStateName(state)), state);
  }
  for (int i = v1::FailureReason_MIN + 1; i <= v1::FailureReason_MAX; ++i) {
    const auto reason = static_cast<v1::FailureReason>(i);
    EXPECT_EQ(ParseFailureReason(FailureReasonName(reason)), reason);
  }
  EXPECT_EQ(ParseJobState("failed"), v1::JOB_STATE_FAILED);
  EXPECT_EQ(ParseJobState("Active"), v1::JOB_STATE_ACTIVE);
  EXPECT_EQ(ParseWorkerState("DRAINING"), v1::WORKER_STATE_DRAINING);
  EXPECT_EQ(ParseTier("dailies"), v1::TIER_DAILIES);
  EXPECT_EQ(ParseStageKind("model"), v1::STAGE_KIND_MODEL);
}

TEST(EnumNamesTest, ParsersRefuseUnspecifiedAndStrangers) {
  EXPECT_EQ(ParseJobState("unspecified"), std::nullopt);
  EXPECT_EQ(ParseJobState("done"), std::nullopt);
  EXPECT_EQ(ParseJobState(""), std::nullopt);
  EXPECT_EQ(ParseJobState("JOB_STATE_FAILED"), std::nullopt);  // the text name, not the proto's
  EXPECT_EQ(ParseTier("urgent"), std::nullopt);
  EXPECT_EQ(ParseTier("unspecified"), std::nullopt);
}

TEST(EnumNamesTest, NameListsFollowTheEnumOrder) {
  EXPECT_THAT(TaskStateNames(), ElementsAre("waiting", "blocked", "queued", "running", "succeeded",
                                            "failed", "canceled"));
  EXPECT_THAT(JobStateNames(),
              ElementsAre("waiting", "active", "paused", "succeeded", "failed", "canceled"));
  EXPECT_THAT(TierNames(), ElementsAre("batch", "dailies", "interactive"));
  EXPECT_THAT(StageKindNames(), ElementsAre("model", "dailies"));
  EXPECT_THAT(WorkerStateNames(), ElementsAre("online", "draining", "offline"));
  EXPECT_EQ(FailureReasonNames().size(), 13u);
  EXPECT_EQ(FailureReasonNames().back(), "disk_full");
  EXPECT_EQ(FailureReasonName(v1::FAILURE_REASON_DISK_FULL), "disk_full");
  EXPECT_EQ(ParseFailureReason("disk_full"), v1::FAILURE_REASON_DISK_FULL);
}

}  // namespace
}  // namespace genfarm
