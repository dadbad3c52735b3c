#include "client/cli/format.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/cli/fake_jobs.h"

namespace genfarm::client {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'060);

// Enum names and ParseJobState moved to common/enum_names.h; their cases are in
// tests/common/enum_names_test.cc.

TEST(FormatTest, HumanDuration) {
  EXPECT_EQ(HumanDuration(absl::Seconds(0)), "0s");
  EXPECT_EQ(HumanDuration(absl::Seconds(45)), "45s");
  EXPECT_EQ(HumanDuration(absl::Seconds(65)), "1m05s");
  EXPECT_EQ(HumanDuration(absl::Seconds(2 * 3600 + 3 * 60 + 59)), "2h03m");
  EXPECT_EQ(HumanDuration(absl::Hours(76)), "3d04h");
  EXPECT_EQ(HumanDuration(absl::Seconds(-5)), "0s");
}

TEST(FormatTest, HumanBytes) {
  EXPECT_EQ(HumanBytes(512), "512B");
  EXPECT_EQ(HumanBytes(1536), "1.5KiB");
  EXPECT_EQ(HumanBytes(int64_t{80} << 30), "80.0GiB");
}

TEST(FormatTest, TaskFramesUseFrameSetSyntax) {
  v1::Task task;
  for (int64_t f : {1001, 1003, 1005, 1007}) task.add_frames(f);
  EXPECT_EQ(TaskFrames(task), "1001-1007x2");
}

TEST(FormatTest, ProgressLineShowsStagesRateAndEta) {
  EXPECT_EQ(FormatProgressLine(ActiveJob(), 2.5, absl::Seconds(128)),
            "job 17 sh010_upres_retime active 160/480 33% | upres 120/240 3 running 1 failed | "
            "retime 40/240 | 2.50 frames/s ETA 2m08s");
}

TEST(FormatTest, ProgressLineWithUnknownRate) {
  EXPECT_THAT(FormatProgressLine(ActiveJob(), std::nullopt, std::nullopt),
              HasSubstr("| -- frames/s ETA --"));
}

TEST(FormatTest, FastRateUsesOneDecimal) {
  EXPECT_THAT(FormatProgressLine(ActiveJob(), 42.25, absl::Seconds(5)),
              HasSubstr("42.2 frames/s ETA 5s"));
}

TEST(FormatTest, FinishedJobProgressLineHasNoEta) {
  std::string line = FormatProgressLine(FailedJob(), 2.5, absl::Seconds(10));
  EXPECT_THAT(line, AllOf(HasSubstr("failed 472/480 98%"), Not(HasSubstr("ETA"))));
}

TEST(FormatTest, OutcomeLineHasFramesDurationAndMessage) {
  EXPECT_EQ(FormatJobOutcome(FailedJob()),
            "job 17 (sh010_upres_retime) failed: 472/480 frames in 3m12s (1 task failed)");
}

TEST(FormatTest, JobsTable) {
  v1::Job done = FailedJob();
  done.set_id(9);
  done.mutable_spec()->set_name("sh020_dailies");
  std::string table = FormatJobsTable({ActiveJob(), done}, kNow);
  EXPECT_EQ(
      table,
      R"(ID  NAME                PROJECT    SHOT   STATE   PRI  FRAMES       SUBMITTER  SUBMITTED
17  sh010_upres_retime  feature_x  sh010  active  60   160/480 33%  jdoe       1m10s ago
9   sh020_dailies       feature_x  sh010  failed  60   472/480 98%  jdoe       1m10s ago
)");
}

TEST(FormatTest, StatusShowsStagesCountsAndWhyTasksFailOrWait) {
  std::string status = FormatJobStatus(ActiveJob(), SomeTasks(), kNow, absl::UTCTimeZone());
  EXPECT_THAT(status, HasSubstr("job 17 sh010_upres_retime [active]\n"));
  EXPECT_THAT(status, HasSubstr("project feature_x  shot sh010  submitter jdoe  priority 60 "
                                "(batch)\n"));
  EXPECT_THAT(status, HasSubstr("started 2027-01-15 08:00:00 (running for 1m00s)"));
  EXPECT_THAT(status, HasSubstr("  upres   120/240  50%   11 queued, 3 running, 15 succeeded, "
                                "1 failed\n"));
  EXPECT_THAT(status, HasSubstr("  retime  40/240   16%   25 blocked, 5 succeeded\n"));
  EXPECT_THAT(status, HasSubstr("tasks: 25 blocked, 11 queued, 3 running, 20 succeeded, "
                                "1 failed\n"));
  EXPECT_THAT(status, HasSubstr("failed tasks:\n  task 7 upres frames 1057-1064 (3 attempts, "
                                "input_missing, last on gpu04): frame 1059: input "
                                "/shots/sh010/plate.1059.exr not found\n"));
  EXPECT_THAT(status, HasSubstr("not placed:\n  task 12 upres frames 1097-1098 (queued): no "
                                "worker has 24.0GiB free VRAM (largest: gpu02 16.0GiB)\n"));
  EXPECT_THAT(status, Not(HasSubstr("task 3 ")));
}

// `genfarm status` of a big job: the counters say more than the sample of tasks it fetched.
TEST(FormatTest, StatusOfABigJobListsASampleAndSaysHowManyMore) {
  v1::Job job = ActiveJob();
  v1::StageStatus& upres = *job.mutable_stages(0);
  (*upres.mutable_tasks_by_state())["failed"] = 31;
  (*upres.mutable_tasks_by_state())["running"] = 3;
  (*upres.mutable_tasks_by_state())["queued"] = 999'000;
  std::vector<v1::Task> sample = SomeTasks();  // 1 failed, 1 queued (task 12)
  v1::Task running = ParseText<v1::Task>(R"pb(
    index: 5
    stage: "upres"
    state: TASK_STATE_RUNNING
    frames: [ 1041, 1042 ]
    worker: "gpu02"
    frames_done: 1
  )pb");
  sample.push_back(running);
  for (int i = 13; i < 16; ++i) {  // tasks 12-15 queued for the same reason: one line
    v1::Task queued = sample[2];
    queued.set_index(i);
    queued.clear_frames();
    queued.add_frames(1097 + 2 * (i - 12));
    queued.add_frames(1098 + 2 * (i - 12));
    sample.push_back(queued);
  }
  std::string status = FormatJobStatus(job, sample, kNow, absl::UTCTimeZone());
  EXPECT_THAT(status, HasSubstr("  ... 30 more failed tasks\n"));
  EXPECT_THAT(status, HasSubstr("running tasks:\n  task 5 upres frames 1041-1042 on gpu02, "
                                "1/2 frames done\n  ... 2 more running tasks\n"));
  EXPECT_THAT(status, HasSubstr("not placed:\n  tasks 12-15 upres frames 1097-1104 (queued): no "
                                "worker has 24.0GiB free VRAM (largest: gpu02 16.0GiB)\n"
                                "  ... 998996 more queued tasks\n"));
}

// A task queued again after its worker was lost says so by the reason's name.
TEST(FormatTest, ATaskQueuedAgainAfterAFailedAttemptNamesTheReason) {
  v1::Task lost = ParseText<v1::Task>(R"pb(
    index: 0
    stage: "up"
    state: TASK_STATE_QUEUED
    frames: [ 1, 2 ]
    attempts: 1
    failure_reason: FAILURE_REASON_WORKER_LOST
    message: "worker w1 lost: stream closed"
  )pb");
  std::string status = FormatJobStatus(ActiveJob(), {lost}, kNow, absl::UTCTimeZone());
  EXPECT_THAT(status, HasSubstr("not placed:\n  task 0 up frames 1-2 (queued, worker_lost): "
                                "worker w1 lost: stream closed\n"));
}

TEST(FormatTest, FailedTasksWithATotalSayHowManyWereLeftOut) {
  EXPECT_THAT(FormatFailedTasks(SomeTasks(), 5), HasSubstr("  ... 4 more failed tasks\n"));
  EXPECT_THAT(FormatFailedTasks(SomeTasks(), 1), Not(HasSubstr("more")));
  EXPECT_EQ(FormatFailedTasks({}, 7), "");
}

TEST(FormatTest, WorkersTable) {
  v1::Worker worker = ParseText<v1::Worker>(R"pb(
    id: "gpu04"
    state: WORKER_STATE_ONLINE
    slots: 2
    busy_slots: 1
    devices {
      name: "cuda:0 NVIDIA A100"
      kind: "cuda"
      memory_total_bytes: 85899345920
      memory_used_bytes: 21474836480
    }
    models { name: "esrgan-slim-x2" loaded: true }
    models { name: "rife-v4.6" loaded: false }
    running: "17/3"
  )pb");
  v1::Worker cpu = ParseText<v1::Worker>(R"pb(
    id: "cpu01"
    state: WORKER_STATE_DRAINING
    slots: 4
    devices { name: "cpu" kind: "cpu" }
  )pb");
  EXPECT_EQ(
      FormatWorkersTable({worker, cpu}),
      R"(ID     STATE     DEVICES                             SLOTS  MODELS                        RUNNING
gpu04  online    cuda:0 NVIDIA A100 20.0GiB/80.0GiB  1/2    esrgan-slim-x2 (2 available)  17/3
cpu01  draining  cpu                                 0/4    -                             -
)");
}

TEST(FormatTest, LogLine) {
  v1::LogLine line = ParseText<v1::LogLine>(
      R"pb(
        task_index: 3 attempt_id: 41 time_ms: 1800000005000 text: "frame 1042 done"
      )pb");
  EXPECT_EQ(FormatLogLine(line, absl::UTCTimeZone()), "08:00:05 task 3 #41  frame 1042 done");
}

}  // namespace
}  // namespace genfarm::client
