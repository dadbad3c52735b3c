// Recovery from damaged or inconsistent stores: it serves what it can, quarantines what it
// cannot rebuild, and leaves no task in a state nothing acts on.
#include "scheduler/core/recovery.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/core/scheduler_core.h"
#include "tests/scheduler/core/fakes.h"

namespace genfarm::scheduler {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

std::string Yaml(const std::string& frames) {
  return absl::StrCat(R"(name: job
project: show
stages:
  - name: upres
    model: esrgan
    input: in/plate.####.exr
    output: out/upres.####.exr
    frames: ")",
                      frames, "\"\n");
}

class RecoveryTest : public ::testing::Test {
 protected:
  JobId Submit(SchedulerCore& core, const std::string& frames) {
    auto spec = ParseJobSpecYaml(Yaml(frames));
    EXPECT_TRUE(spec.ok()) << spec.status();
    auto result = core.SubmitJob(*spec, "");
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->id : JobId(0);
  }

  // A fresh core over `snapshot`, with one worker connected.
  std::unique_ptr<SchedulerCore> Restart(const StoreSnapshot& snapshot) {
    auto core = std::make_unique<SchedulerCore>(clock_, sink_, policy_, CoreOptions{});
    EXPECT_TRUE(core->Recover(snapshot).ok());
    channel_ = std::make_shared<testing::FakeChannel>();
    EXPECT_TRUE(core->WorkerHello(testing::MakeHello("w1", {testing::CpuDevice()},
                                                     {testing::Model("esrgan")}, /*slots=*/8),
                                  channel_)
                    .ok());
    return core;
  }

  // Runs every assignment to success until the job ends.
  void RunToEnd(SchedulerCore& core) {
    size_t done = 0;
    for (;;) {
      core.Dispatch();
      const auto assignments = channel_->Assignments();
      if (done == assignments.size()) return;
      for (; done < assignments.size(); ++done) {
        v1::Result r;
        r.set_attempt_id(assignments[done].attempt_id());
        r.set_success(true);
        core.WorkerResult(WorkerId("w1"), r);
      }
    }
  }

  FakeClock clock_;
  testing::RecordingSink sink_;
  testing::FakePlacementPolicy policy_;
  std::shared_ptr<testing::FakeChannel> channel_;
};

TEST_F(RecoveryTest, TornJobIsRebuiltFromItsPlanAndRunsToCompletion) {
  JobId id;
  {
    SchedulerCore core(clock_, sink_, policy_, CoreOptions{});
    id = Submit(core, "1001-1010");
  }
  StoreSnapshot snapshot = sink_.Snapshot();
  snapshot.tasks.resize(4);  // a crash mid-commit kept 4 of 10 tasks
  auto core = Restart(snapshot);
  RunToEnd(*core);
  EXPECT_THAT(channel_->Assignments(), SizeIs(10));
  EXPECT_EQ(core->GetJob(id)->state(), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(RecoveryTest, JobThatNoLongerPlansIsQuarantinedAndTheRestIsServed) {
  JobId bad, good;
  {
    SchedulerCore core(clock_, sink_, policy_, CoreOptions{});
    bad = Submit(core, "1001-1002");
    good = Submit(core, "2001-2002");
  }
  StoreSnapshot snapshot = sink_.Snapshot();
  snapshot.jobs[0].spec.mutable_stages(0)->set_frames("not a frame set");
  auto core = Restart(snapshot);
  absl::StatusOr<v1::Job> quarantined = core->GetJob(bad);
  ASSERT_TRUE(quarantined.ok());
  EXPECT_EQ(quarantined->state(), v1::JOB_STATE_FAILED);
  EXPECT_THAT(quarantined->message(), HasSubstr("quarantined at recovery"));
  EXPECT_EQ(sink_.job(bad.value()).state, v1::JOB_STATE_FAILED);  // and it says so durably
  RunToEnd(*core);
  EXPECT_EQ(core->GetJob(good)->state(), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(RecoveryTest, StoredTaskOutsideThePlanQuarantinesOnlyItsJob) {
  JobId bad, good;
  {
    SchedulerCore core(clock_, sink_, policy_, CoreOptions{});
    bad = Submit(core, "1001-1002");
    good = Submit(core, "2001");
  }
  StoreSnapshot snapshot = sink_.Snapshot();
  snapshot.tasks[1].id.index = 77;
  auto core = Restart(snapshot);
  EXPECT_EQ(core->GetJob(bad)->state(), v1::JOB_STATE_FAILED);
  EXPECT_THAT(core->GetJob(bad)->message(), HasSubstr("does not fit"));
  RunToEnd(*core);
  EXPECT_EQ(core->GetJob(good)->state(), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(RecoveryTest, WaitingTasksOfAnActiveJobAreNotStranded) {
  JobId id;
  {
    SchedulerCore core(clock_, sink_, policy_, CoreOptions{});
    id = Submit(core, "1001-1004");
  }
  StoreSnapshot snapshot = sink_.Snapshot();
  // The job record says active, but its tasks' move to queued never reached the store.
  for (TaskRecord& task : snapshot.tasks) task.state = v1::TASK_STATE_WAITING;
  auto core = Restart(snapshot);
  RunToEnd(*core);
  EXPECT_THAT(channel_->Assignments(), SizeIs(4));
  EXPECT_EQ(core->GetJob(id)->state(), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(RecoveryTest, JobWhoseDependencyIsMissingIsCanceledNotLeftWaiting) {
  JobId upstream, downstream;
  {
    SchedulerCore core(clock_, sink_, policy_, CoreOptions{});
    upstream = Submit(core, "1001");
    auto spec =
        ParseJobSpecYaml(absl::StrCat(Yaml("2001"), "depends_on_jobs: [", upstream.value(), "]\n"));
    ASSERT_TRUE(spec.ok()) << spec.status();
    downstream = core.SubmitJob(*spec, "")->id;
  }
  StoreSnapshot snapshot = sink_.Snapshot();
  snapshot.jobs.erase(snapshot.jobs.begin());  // the upstream job's record is gone
  snapshot.tasks.erase(snapshot.tasks.begin());
  auto core = Restart(snapshot);
  absl::StatusOr<v1::Job> job = core->GetJob(downstream);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), v1::JOB_STATE_FAILED);  // every task canceled: the job failed
  EXPECT_THAT(job->message(), HasSubstr("not in the store"));
}

TEST_F(RecoveryTest, JobIdsAreNeverReusedEvenWhenTheNewestJobIsGoneFromTheStore) {
  JobId last;
  {
    SchedulerCore core(clock_, sink_, policy_, CoreOptions{});
    Submit(core, "1001");
    last = Submit(core, "1002");
  }
  EXPECT_EQ(sink_.job_high_water(), last.value());  // put with the job, in its unit
  StoreSnapshot snapshot = sink_.Snapshot();
  snapshot.jobs.pop_back();  // the newest job was deleted
  snapshot.tasks.pop_back();
  auto core = Restart(snapshot);
  EXPECT_FALSE(core->GetJob(last).ok());
  EXPECT_EQ(Submit(*core, "1003").value(), last.value() + 1);
}

TEST_F(RecoveryTest, AStoreWithoutAJobHighWaterContinuesAfterItsNewestJob) {
  JobId last;
  {
    SchedulerCore core(clock_, sink_, policy_, CoreOptions{});
    Submit(core, "1001");
    last = Submit(core, "1002");
  }
  StoreSnapshot snapshot = sink_.Snapshot();
  snapshot.job_high_water = 0;  // written before the high water was kept
  auto core = Restart(snapshot);
  EXPECT_EQ(Submit(*core, "1003").value(), last.value() + 1);
}

}  // namespace
}  // namespace genfarm::scheduler
