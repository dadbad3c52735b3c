#include "scheduler/core/job_table.h"

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/scheduler/core/fakes.h"

namespace genfarm::scheduler {
namespace {

class JobTableTest : public ::testing::Test {
 protected:
  LiveJob& AddJob() {
    absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(testing::kTwoStageYaml);
    EXPECT_TRUE(spec.ok()) << spec.status();
    ApplyJobSpecDefaults(&*spec);
    absl::StatusOr<JobPlan> plan =
        PlanJob(*spec, [](const std::string&) { return TemporalWindow{}; });
    EXPECT_TRUE(plan.ok()) << plan.status();
    JobRecord rec;
    rec.id = jobs_.NextId();
    rec.spec = *spec;
    rec.state = v1::JOB_STATE_ACTIVE;
    LiveJob& job = jobs_.Insert(std::move(rec), *std::move(plan));
    jobs_.InitNewTasks(job);
    return job;
  }

  FakeClock clock_;
  testing::RecordingSink sink_;
  CoreSignals signals_;
  JobTable jobs_{clock_, sink_, signals_};
};

TEST_F(JobTableTest, StartingAJobQueuesReadyTasksAndBlocksDependentOnes) {
  LiveJob& job = AddJob();
  ASSERT_EQ(job.tasks.size(), 6u);
  signals_.dispatch_needed = false;
  jobs_.StartJobIfReady(job);
  EXPECT_EQ(job.stages[0].Count(v1::TASK_STATE_QUEUED), 3);
  EXPECT_EQ(job.stages[1].Count(v1::TASK_STATE_BLOCKED), 3);
  EXPECT_THAT(job.stages[0].queued, ::testing::ElementsAre(0, 1, 2));
  EXPECT_TRUE(signals_.dispatch_needed);
  // Activation is not stored: recovery derives queued and blocked from waiting.
  EXPECT_FALSE(sink_.has_task(job.rec.id.value(), 4));
}

TEST_F(JobTableTest, SuccessReleasesExactlyTheDependentsItUnblocks) {
  LiveJob& job = AddJob();
  jobs_.StartJobIfReady(job);
  jobs_.SetTaskState(job, 1, v1::TASK_STATE_RUNNING);
  jobs_.SetTaskState(job, 1, v1::TASK_STATE_SUCCEEDED);
  jobs_.ReleaseDependents(job, 1);
  EXPECT_EQ(job.tasks[4].rec.state, v1::TASK_STATE_QUEUED);  // grade 1002 reads upres 1002
  EXPECT_EQ(job.tasks[3].rec.state, v1::TASK_STATE_BLOCKED);
  EXPECT_EQ(job.stages[0].frames_done, 1);
}

TEST_F(JobTableTest, FinalFailureCancelsDownstreamAndEndsTheJob) {
  LiveJob& job = AddJob();
  jobs_.StartJobIfReady(job);
  for (int32_t i : {0, 1, 2}) {
    jobs_.SetTaskState(job, i, v1::TASK_STATE_RUNNING);
    jobs_.SetTaskState(job, i, i == 0 ? v1::TASK_STATE_FAILED : v1::TASK_STATE_SUCCEEDED);
    if (i == 0) jobs_.CancelDownstream(job, i);
    if (i != 0) jobs_.ReleaseDependents(job, i);
  }
  EXPECT_EQ(job.tasks[3].rec.state, v1::TASK_STATE_CANCELED);
  EXPECT_THAT(job.tasks[3].rec.message, ::testing::HasSubstr("upstream task 0"));
  for (int32_t i : {4, 5}) {
    jobs_.SetTaskState(job, i, v1::TASK_STATE_RUNNING);
    jobs_.SetTaskState(job, i, v1::TASK_STATE_SUCCEEDED);
  }
  jobs_.UpdateJobState(job);
  EXPECT_EQ(job.rec.state, v1::JOB_STATE_FAILED);
  EXPECT_EQ(job.rec.message, "2 of 6 tasks did not succeed");
  EXPECT_FALSE(jobs_.active().contains(job.rec.id));
  EXPECT_EQ(sink_.job(job.rec.id.value()).state, v1::JOB_STATE_FAILED);
}

TEST_F(JobTableTest, BackedOffTaskWaitsForItsTime) {
  LiveJob& job = AddJob();
  jobs_.StartJobIfReady(job);
  jobs_.SetTaskState(job, 0, v1::TASK_STATE_RUNNING);
  job.tasks[0].rec.not_before_ms = ToMillis(clock_.Now()) + 5000;
  jobs_.SetTaskState(job, 0, v1::TASK_STATE_QUEUED);
  EXPECT_FALSE(job.stages[0].queued.count(0) > 0);
  EXPECT_FALSE(jobs_.ReleaseBackoffs(ToMillis(clock_.Now()) + 4999));
  EXPECT_TRUE(jobs_.ReleaseBackoffs(ToMillis(clock_.Now()) + 5000));
  EXPECT_TRUE(job.stages[0].queued.count(0) > 0);
}

TEST_F(JobTableTest, IdsAreNeverReusedAfterRecoveredJobs) {
  JobRecord rec;
  rec.id = JobId(41);
  rec.idempotency_key = "ci-41";
  jobs_.Insert(std::move(rec), JobPlan{});
  EXPECT_EQ(jobs_.NextId(), JobId(42));
  EXPECT_EQ(jobs_.FindByIdempotencyKey("ci-41"), JobId(41));
  EXPECT_EQ(jobs_.FindByIdempotencyKey(""), std::nullopt);
}

TEST_F(JobTableTest, DirtyJobsAreHandedOverOnce) {
  LiveJob& job = AddJob();
  jobs_.StartJobIfReady(job);
  EXPECT_TRUE(jobs_.TakeDirty().contains(job.rec.id));
  EXPECT_TRUE(jobs_.TakeDirty().empty());
}

}  // namespace
}  // namespace genfarm::scheduler
