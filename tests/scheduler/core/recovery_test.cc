// Recovery from damaged or inconsistent stores: it serves what it can, quarantines what it
// cannot rebuild, and leaves no task in a state nothing acts on. And what recovery must
// never undo: retention (DeleteJob, --retain_finished) removes ended jobs for good, without
// freeing their ids.
#include "scheduler/core/recovery.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

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
    return Fresh(CoreOptions{}, &snapshot);
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

  // A core (recovered from `snapshot`, when given) with one worker connected (8 slots).
  std::unique_ptr<SchedulerCore> Fresh(CoreOptions options = {},
                                       const StoreSnapshot* snapshot = nullptr) {
    auto core = std::make_unique<SchedulerCore>(clock_, sink_, policy_, options);
    if (snapshot != nullptr) {
      EXPECT_TRUE(core->Recover(*snapshot).ok());
    }
    channel_ = std::make_shared<testing::FakeChannel>();
    EXPECT_TRUE(core->WorkerHello(testing::MakeHello("w1", {testing::CpuDevice()},
                                                     {testing::Model("esrgan")}, /*slots=*/8),
                                  channel_)
                    .ok());
    return core;
  }

  // Two jobs submitted to a core that then goes away: what a restart finds in the store.
  std::pair<JobId, JobId> SubmitTwo(const std::string& first, const std::string& second) {
    SchedulerCore core(clock_, sink_, policy_, CoreOptions{});
    const JobId a = Submit(core, first);
    return {a, Submit(core, second)};
  }

  // `bad` came back failed, its message saying `why`; `good` is served to its end.
  void ExpectOnlyQuarantined(SchedulerCore& core, JobId bad, const std::string& why, JobId good) {
    absl::StatusOr<v1::Job> quarantined = core.GetJob(bad);
    ASSERT_TRUE(quarantined.ok()) << quarantined.status();
    EXPECT_EQ(quarantined->state(), v1::JOB_STATE_FAILED);
    EXPECT_THAT(quarantined->message(), HasSubstr(why));
    RunToEnd(core);
    EXPECT_EQ(core.GetJob(good)->state(), v1::JOB_STATE_SUCCEEDED);
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
  const auto [bad, good] = SubmitTwo("1001-1002", "2001");
  StoreSnapshot snapshot = sink_.Snapshot();
  snapshot.tasks[1].id.index = 77;
  auto core = Restart(snapshot);
  ExpectOnlyQuarantined(*core, bad, "does not fit", good);
}

TEST_F(RecoveryTest, AJobTheStoreCouldNotReadIsQuarantinedWithTheReasonAndTheRestIsServed) {
  const auto [bad, good] = SubmitTwo("1001-1002", "2001-2002");
  StoreSnapshot snapshot = sink_.Snapshot();
  snapshot.damaged[bad] = "tasks row 1/1: state 42 is not a task state";
  snapshot.tasks.erase(snapshot.tasks.begin() + 1);  // the store left the damaged row out
  auto core = Restart(snapshot);
  EXPECT_EQ(core->GetJob(bad)->message(),
            "quarantined at recovery: tasks row 1/1: state 42 is not a task state");
  // The damaged rows are left as they are for whoever looks into them.
  EXPECT_EQ(sink_.job(bad.value()).state, v1::JOB_STATE_ACTIVE);
  ExpectOnlyQuarantined(*core, bad, "state 42", good);
}

TEST_F(RecoveryTest, AStoredTaskOfTheWrongStageQuarantinesItsJob) {
  const auto [bad, good] = SubmitTwo("1001-1002", "2001");
  StoreSnapshot snapshot = sink_.Snapshot();
  snapshot.tasks[0].stage = 5;  // the job has one stage
  auto core = Restart(snapshot);
  ExpectOnlyQuarantined(*core, bad, "stored task 1/0 is of stage 5", good);
}

TEST_F(RecoveryTest, TasksWhoseJobRowIsGoneDoNotStrandTheJobsAfterThem) {
  const auto [gone, next] = SubmitTwo("1001-1003", "2001-2002");
  StoreSnapshot snapshot = sink_.Snapshot();
  snapshot.jobs.erase(snapshot.jobs.begin());  // its tasks stay
  auto core = Restart(snapshot);
  EXPECT_FALSE(core->GetJob(gone).ok());
  RunToEnd(*core);
  EXPECT_THAT(channel_->Assignments(), SizeIs(2));
  EXPECT_EQ(core->GetJob(next)->state(), v1::JOB_STATE_SUCCEEDED);
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

TEST_F(RecoveryTest, ADrainedWorkerThatReconnectsAfterARestartStaysDrained) {
  {
    SchedulerCore core(clock_, sink_, policy_, CoreOptions{});
    auto channel = std::make_shared<testing::FakeChannel>();
    ASSERT_TRUE(core.WorkerHello(testing::MakeHello("w1", {testing::CpuDevice()},
                                                    {testing::Model("esrgan")}, /*slots=*/8),
                                 channel)
                    .ok());
    const int units = sink_.units();
    ASSERT_TRUE(core.SetDrain(WorkerId("w1"), true).ok());
    EXPECT_EQ(sink_.units(), units + 1);  // the drain is one unit, so the reply can wait for it
  }
  EXPECT_TRUE(sink_.drained("w1"));
  auto core = Restart(sink_.Snapshot());  // w1 says hello again
  const JobId id = Submit(*core, "1001-1002");
  core->Dispatch();
  EXPECT_THAT(channel_->Assignments(), SizeIs(0));
  bool told = false;
  for (const v1::SchedulerMessage& m : channel_->sent()) told = told || m.drain().drain();
  EXPECT_TRUE(told);  // the worker hears it is drained
  ASSERT_THAT(core->ListWorkers(true), SizeIs(1));
  EXPECT_EQ(core->ListWorkers(true)[0].state(), v1::WORKER_STATE_DRAINING);

  ASSERT_TRUE(core->SetDrain(WorkerId("w1"), false).ok());
  EXPECT_FALSE(sink_.drained("w1"));
  RunToEnd(*core);
  EXPECT_EQ(core->GetJob(id)->state(), v1::JOB_STATE_SUCCEEDED);
}

using RetentionTest = RecoveryTest;

TEST_F(RetentionTest, DeleteRemovesAnEndedJobFromMemoryAndStoreAndItsIdIsNeverReused) {
  auto core = Fresh();
  auto spec = ParseJobSpecYaml(Yaml("1001-1003"));
  ASSERT_TRUE(spec.ok());
  const JobId id = core->SubmitJob(*spec, "ci-812")->id;
  RunToEnd(*core);
  ASSERT_EQ(core->GetJob(id)->state(), v1::JOB_STATE_SUCCEEDED);
  const int64_t tasks = core->task_count();
  const int units = sink_.units();

  absl::StatusOr<v1::Job> deleted = core->DeleteJob(id);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->id(), id.value());
  EXPECT_EQ(deleted->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(sink_.units(), units + 1);  // one unit, so the reply can wait for its commit
  EXPECT_EQ(core->GetJob(id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(core->task_count(), tasks - 3);
  EXPECT_FALSE(sink_.has_job(id.value()));
  EXPECT_EQ(sink_.task_records(), 0);
  EXPECT_TRUE(sink_.logs().empty());
  EXPECT_EQ(core->DeleteJob(id).status().code(), absl::StatusCode::kNotFound);

  // Its idempotency key went with it; the id did not come free, here or after a restart.
  const JobId again = core->SubmitJob(*spec, "ci-812")->id;
  EXPECT_EQ(again.value(), id.value() + 1);
  ASSERT_TRUE(core->CancelJob(again).ok());
  ASSERT_TRUE(core->DeleteJob(again).ok());
  auto restarted = Restart(sink_.Snapshot());
  EXPECT_EQ(restarted->task_count(), 0);
  EXPECT_EQ(Submit(*restarted, "1001").value(), again.value() + 1);
}

TEST_F(RetentionTest, AttemptIdsSkipAheadAfterARestartEvenWithEveryJobDeleted) {
  int64_t last_attempt = 0;
  {
    auto core = Fresh();
    const JobId id = Submit(*core, "1001");
    RunToEnd(*core);
    last_attempt = channel_->Assignments().back().attempt_id();
    ASSERT_TRUE(core->DeleteJob(id).ok());
  }
  auto core = Restart(sink_.Snapshot());  // no jobs left, but attempts were handed out
  Submit(*core, "1002");
  core->Dispatch();
  ASSERT_THAT(channel_->Assignments(), SizeIs(1));
  EXPECT_GT(channel_->Assignments()[0].attempt_id(), last_attempt + 1000);
}

TEST_F(RetentionTest, DeleteRefusesAJobThatHasNotEndedNamingItsState) {
  auto core = Fresh();
  const JobId id = Submit(*core, "1001-1002");
  absl::Status status = core->DeleteJob(id).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("is active"));
  ASSERT_TRUE(core->PauseJob(id).ok());
  EXPECT_THAT(core->DeleteJob(id).status().message(), HasSubstr("is paused"));
  EXPECT_TRUE(core->GetJob(id).ok());
  EXPECT_EQ(core->DeleteJob(JobId(999)).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RetentionTest, DeleteRefusesAJobThatAJobNotYetEndedDependsOn) {
  auto core = Fresh();
  const JobId upstream = Submit(*core, "1001");
  RunToEnd(*core);
  ASSERT_EQ(core->GetJob(upstream)->state(), v1::JOB_STATE_SUCCEEDED);
  ASSERT_TRUE(core->PauseJob(Submit(*core, "3001")).ok());  // unrelated
  auto spec =
      ParseJobSpecYaml(absl::StrCat(Yaml("2001"), "depends_on_jobs: [", upstream.value(), "]\n"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  const JobId downstream = core->SubmitJob(*spec, "")->id;
  ASSERT_TRUE(core->PauseJob(downstream).ok());
  absl::Status status = core->DeleteJob(upstream).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("job ", downstream.value(), " (paused)")));
  ASSERT_TRUE(core->CancelJob(downstream).ok());
  EXPECT_TRUE(core->DeleteJob(upstream).ok());
}

TEST_F(RetentionTest, RetainFinishedDeletesJobsEndedLongerAgoInBoundedBatchesPerTick) {
  CoreOptions options;
  options.retain_finished = absl::Hours(1);
  auto core = Fresh(options);
  std::vector<JobId> ids;
  for (int i = 0; i < 100; ++i) ids.push_back(Submit(*core, "1001"));
  RunToEnd(*core);
  clock_.Advance(absl::Minutes(30));
  const JobId young = Submit(*core, "1002");
  RunToEnd(*core);
  const JobId running = Submit(*core, "1003");  // never ends: w1 is drained below
  ASSERT_TRUE(core->SetDrain(WorkerId("w1"), true).ok());
  core->Tick();
  EXPECT_EQ(core->ListJobs(v1::ListJobsRequest()).jobs_size(), 100);  // a page; none deleted
  EXPECT_TRUE(core->GetJob(ids[0]).ok());

  clock_.Advance(absl::Minutes(31));  // the 100 ended 61 minutes ago, `young` 31
  core->Tick();
  int left = 0;
  for (JobId id : ids) left += core->GetJob(id).ok();
  EXPECT_GT(left, 0);  // one tick deletes a bounded batch ...
  EXPECT_LT(left, 100);
  core->Tick();
  left = 0;
  for (JobId id : ids) left += core->GetJob(id).ok();
  EXPECT_EQ(left, 0);  // ... and the next ticks the rest
  EXPECT_TRUE(core->GetJob(young).ok());
  EXPECT_TRUE(core->GetJob(running).ok());
  EXPECT_FALSE(sink_.has_job(ids[99].value()));

  clock_.Advance(absl::Minutes(30));
  core->Tick();
  EXPECT_FALSE(core->GetJob(young).ok());
  EXPECT_TRUE(core->GetJob(running).ok());  // never an unfinished job
}

}  // namespace
}  // namespace genfarm::scheduler
