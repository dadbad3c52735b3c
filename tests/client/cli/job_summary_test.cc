#include "client/cli/job_summary.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/cli/fake_jobs.h"

namespace genfarm::client {
namespace {

TEST(JobSummaryTest, FailedJobSummaryNamesFailedFramesAndMessages) {
  nlohmann::json summary = JobSummaryJson(FailedJob(), SomeTasks());
  EXPECT_EQ(summary["job_id"], 17);
  EXPECT_EQ(summary["name"], "sh010_upres_retime");
  EXPECT_EQ(summary["state"], "failed");
  EXPECT_EQ(summary["ok"], false);
  EXPECT_DOUBLE_EQ(summary["duration_seconds"].get<double>(), 192.0);
  EXPECT_EQ(summary["frames_total"], 480);
  EXPECT_EQ(summary["frames_done"], 472);
  EXPECT_EQ(summary["frames_failed"], 6);  // task 7: 8 frames, 2 written
  EXPECT_EQ(summary["message"], "1 task failed");

  ASSERT_EQ(summary["stages"].size(), 2u);
  const nlohmann::json& upres = summary["stages"][0];
  EXPECT_EQ(upres["name"], "upres");
  EXPECT_EQ(upres["frames_total"], 240);
  EXPECT_EQ(upres["frames_done"], 232);
  EXPECT_EQ(upres["frames_failed"], 6);
  EXPECT_EQ(upres["output"], "/shots/sh010/up/up.####.exr");
  EXPECT_EQ(upres["tasks"]["failed"], 1);
  EXPECT_FALSE(upres["tasks"].contains("running"));  // zero counts left out
  EXPECT_EQ(summary["stages"][1]["frames_failed"], 0);

  ASSERT_EQ(summary["failed_tasks"].size(), 1u);
  const nlohmann::json& failed = summary["failed_tasks"][0];
  EXPECT_EQ(failed["index"], 7);
  EXPECT_EQ(failed["stage"], "upres");
  EXPECT_EQ(failed["frames"], "1057-1064");
  EXPECT_EQ(failed["attempts"], 3);
  EXPECT_EQ(failed["failure_reason"], "input_missing");
  EXPECT_EQ(failed["worker"], "gpu04");
  EXPECT_EQ(failed["message"], "frame 1059: input /shots/sh010/plate.1059.exr not found");

  EXPECT_EQ(summary["outputs"],
            nlohmann::json({"/shots/sh010/up/up.####.exr", "/shots/sh010/rt/rt.####.exr"}));
}

TEST(JobSummaryTest, SucceededJobIsOk) {
  v1::Job job = FailedJob();
  job.set_state(v1::JOB_STATE_SUCCEEDED);
  job.clear_message();
  nlohmann::json summary = JobSummaryJson(job, {});
  EXPECT_EQ(summary["ok"], true);
  EXPECT_EQ(summary["state"], "succeeded");
  EXPECT_TRUE(summary["failed_tasks"].empty());
  EXPECT_EQ(summary["frames_failed"], 0);
}

TEST(JobSummaryTest, UnfinishedJobHasNoDuration) {
  nlohmann::json summary = JobSummaryJson(ActiveJob(), {});
  EXPECT_TRUE(summary["duration_seconds"].is_null());
  EXPECT_EQ(summary["ok"], false);
}

TEST(JobSummaryTest, RoundTripsThroughText) {
  nlohmann::json summary = JobSummaryJson(FailedJob(), SomeTasks());
  EXPECT_EQ(nlohmann::json::parse(summary.dump()), summary);
}

}  // namespace
}  // namespace genfarm::client
