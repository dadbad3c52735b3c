#include "scheduler/core/scheduler_core.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/clock.h"
#include "common/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/policy/genfarm_policy.h"
#include "tests/scheduler/core/fakes.h"

namespace genfarm::scheduler {
namespace {

using testing::CpuDevice;
using ::testing::ElementsAre;
using testing::FakeChannel;
using testing::GpuDevice;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::kGiB;
using testing::MakeHello;
using testing::Model;
using testing::RecordingSink;
using ::testing::SizeIs;

// One model stage `upres` (esrgan) over `frames`, plus `extra` YAML appended to it.
std::string OneStageYaml(const std::string& frames, int chunk, int retries,
                         const std::string& extra = "", const std::string& job_extra = "") {
  return absl::StrCat("name: job\nproject: show\n", job_extra, R"(stages:
  - name: upres
    model: esrgan
    input: in/plate.####.exr
    output: out/upres.####.exr
    frames: ")",
                      frames, "\"\n    chunk: ", chunk, "\n    retries: ", retries, "\n", extra);
}

// upres (one frame per task) then grade reading upres' output frame by frame.
std::string TwoStageYaml(const std::string& frames, int retries) {
  return absl::StrCat(R"(name: job
project: show
stages:
  - name: upres
    model: esrgan
    input: in/plate.####.exr
    output: out/upres.####.exr
    frames: ")",
                      frames, "\"\n    retries: ", retries, R"(
  - name: grade
    model: esrgan
    input: out/upres.####.exr
    output: out/grade.####.exr
    frames: ")",
                      frames, "\"\n    retries: ", retries, "\n");
}

class SchedulerCoreTest : public ::testing::Test {
 protected:
  SchedulerCoreTest() { core_ = NewCore(); }

  // The catalog knows the tests' models as if a worker had advertised them before (a
  // job whose model nobody advertised waits unplanned: see the Unplanned tests).
  std::unique_ptr<SchedulerCore> NewCore() {
    auto core = std::make_unique<SchedulerCore>(clock_, sink_, *policy_, options_);
    core->LearnModels({Model("esrgan"), Model("ghost-model"), Model("denoise")});
    return core;
  }

  std::shared_ptr<FakeChannel> Connect(const std::string& id, int slots = 1,
                                       std::vector<std::string> tags = {},
                                       std::vector<int64_t> running = {},
                                       SchedulerCore* core = nullptr) {
    auto channel = std::make_shared<FakeChannel>();
    v1::Hello hello =
        MakeHello(id, {CpuDevice()}, {Model("esrgan")}, slots, std::move(tags), std::move(running));
    absl::Status status = (core ? core : core_.get())->WorkerHello(hello, channel);
    EXPECT_TRUE(status.ok()) << status;
    return channel;
  }

  JobId Submit(const std::string& yaml, const std::string& key = "") {
    absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(yaml);
    EXPECT_TRUE(spec.ok()) << spec.status();
    absl::StatusOr<SubmitResult> result = core_->SubmitJob(*spec, key);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->id : JobId(0);
  }

  v1::Task TaskOf(JobId job, int32_t index, SchedulerCore* core = nullptr) {
    absl::StatusOr<std::vector<v1::Task>> tasks = (core ? core : core_.get())->GetTasks(job);
    EXPECT_TRUE(tasks.ok()) << tasks.status();
    if (!tasks.ok() || index >= static_cast<int32_t>(tasks->size())) return v1::Task{};
    return (*tasks)[index];
  }

  v1::JobState JobState(JobId job, SchedulerCore* core = nullptr) {
    absl::StatusOr<v1::Job> j = (core ? core : core_.get())->GetJob(job);
    EXPECT_TRUE(j.ok()) << j.status();
    return j.ok() ? j->state() : v1::JOB_STATE_UNSPECIFIED;
  }

  void Succeed(const std::string& worker, const v1::Assignment& a, SchedulerCore* core = nullptr) {
    v1::Result r;
    r.set_attempt_id(a.attempt_id());
    r.set_success(true);
    r.set_job_id(a.job_id());
    r.set_task_index(a.task_index());
    (core ? core : core_.get())->WorkerResult(WorkerId(worker), r);
  }

  void Fail(const std::string& worker, const v1::Assignment& a, v1::FailureReason reason,
            const std::string& message) {
    v1::Result r;
    r.set_attempt_id(a.attempt_id());
    r.set_success(false);
    r.set_failure_reason(reason);
    r.set_message(message);
    r.set_job_id(a.job_id());
    r.set_task_index(a.task_index());
    core_->WorkerResult(WorkerId(worker), r);
  }

  // A live worker's heartbeat: it reports every attempt the core gave it.
  void Heartbeat(const std::string& worker, SchedulerCore* core = nullptr) {
    SchedulerCore* c = core ? core : core_.get();
    v1::Heartbeat hb;
    for (const v1::Worker& w : c->ListWorkers(/*include_offline=*/true)) {
      if (w.id() != worker) continue;
      for (const std::string& running : w.running()) {
        std::pair<std::string, std::string> ids = absl::StrSplit(running, '/');
        int64_t job_id = 0;
        int32_t index = 0;
        ASSERT_TRUE(absl::SimpleAtoi(ids.first, &job_id) && absl::SimpleAtoi(ids.second, &index));
        auto tasks = c->GetTasks(JobId(job_id));
        ASSERT_TRUE(tasks.ok());
        hb.add_running_attempts((*tasks)[index].attempt_id());
      }
    }
    c->WorkerHeartbeat(WorkerId(worker), hb);
  }

  FakeClock clock_;
  RecordingSink sink_;
  // Mechanism tests place with a first-fit fake; SchedulerCorePlacementTest uses the real
  // policy where what is placed first, or the policy's reasons, are what is tested.
  testing::FakePlacementPolicy fake_policy_;
  GenFarmPolicy genfarm_policy_{PolicyConfig{}};
  PlacementPolicy* policy_ = &fake_policy_;
  CoreOptions options_;
  std::unique_ptr<SchedulerCore> core_;
};

class SchedulerCorePlacementTest : public SchedulerCoreTest {
 protected:
  SchedulerCorePlacementTest() {
    policy_ = &genfarm_policy_;
    core_ = NewCore();
  }
};

// --- State transitions ---

TEST_F(SchedulerCoreTest, JobWaitingOnAnotherJobStartsWhenItSucceeds) {
  const JobId first = Submit(OneStageYaml("1", 1, 0));
  const JobId second =
      Submit(OneStageYaml("1", 1, 0, "", absl::StrCat("depends_on_jobs: [", first.value(), "]\n")));
  EXPECT_EQ(JobState(second), v1::JOB_STATE_WAITING);
  EXPECT_EQ(TaskOf(second, 0).state(), v1::TASK_STATE_WAITING);

  auto w1 = Connect("w1");
  core_->Dispatch();
  ASSERT_THAT(w1->Assignments(), SizeIs(1));
  EXPECT_EQ(w1->Assignments()[0].job_id(), first.value());  // the waiting job is not placed

  Succeed("w1", w1->Assignments()[0]);
  EXPECT_EQ(JobState(first), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(JobState(second), v1::JOB_STATE_ACTIVE);
  EXPECT_EQ(TaskOf(second, 0).state(), v1::TASK_STATE_QUEUED);
  core_->Dispatch();
  ASSERT_THAT(w1->Assignments(), SizeIs(2));
  EXPECT_EQ(w1->Assignments()[1].job_id(), second.value());
}

TEST_F(SchedulerCoreTest, BlockedTaskIsQueuedWhenItsUpstreamTaskSucceeds) {
  const JobId job = Submit(TwoStageYaml("1001", 0));
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_QUEUED);
  EXPECT_EQ(TaskOf(job, 1).state(), v1::TASK_STATE_BLOCKED);

  auto w1 = Connect("w1", /*slots=*/2);
  core_->Dispatch();
  ASSERT_THAT(w1->Assignments(), SizeIs(1));  // a free slot does not run blocked work
  EXPECT_EQ(w1->Assignments()[0].task_index(), 0);

  Succeed("w1", w1->Assignments()[0]);
  EXPECT_EQ(TaskOf(job, 1).state(), v1::TASK_STATE_QUEUED);
  core_->Dispatch();
  ASSERT_THAT(w1->Assignments(), SizeIs(2));
  EXPECT_EQ(w1->Assignments()[1].task_index(), 1);
}

// Lease fencing (docs/fencing.md): every hello and heartbeat is answered with the attempts the
// core holds for the worker, echoing the message's number, so the worker knows its lease.
TEST_F(SchedulerCoreTest, HelloAndHeartbeatAreAnsweredWithALeaseRenewalOfTheWorkersAttempts) {
  auto Renewals = [](const FakeChannel& channel) {
    std::vector<v1::LeaseRenewal> out;
    for (const auto& m : channel.sent()) {
      if (m.has_lease()) out.push_back(m.lease());
    }
    return out;
  };
  Submit(OneStageYaml("1001-1002", 2, 0));
  auto w1 = Connect("w1");
  ASSERT_TRUE(w1->sent()[0].has_welcome());
  EXPECT_EQ(w1->sent()[0].welcome().lease_ms(), absl::ToInt64Milliseconds(options_.lease_ttl));
  ASSERT_THAT(Renewals(*w1), SizeIs(1));
  EXPECT_THAT(Renewals(*w1)[0].attempts(), IsEmpty());
  core_->Dispatch();
  ASSERT_THAT(w1->Assignments(), SizeIs(1));
  const int64_t attempt = w1->Assignments()[0].attempt_id();

  v1::Heartbeat hb;
  hb.set_lease_seq(42);
  hb.add_running_attempts(attempt);
  core_->WorkerHeartbeat(WorkerId("w1"), hb);
  ASSERT_THAT(Renewals(*w1), SizeIs(2));
  const v1::LeaseRenewal renewal = Renewals(*w1)[1];
  EXPECT_EQ(renewal.lease_seq(), 42);
  EXPECT_EQ(renewal.lease_ms(), absl::ToInt64Milliseconds(options_.lease_ttl));
  EXPECT_THAT(renewal.attempts(), ElementsAre(attempt));
}

TEST_F(SchedulerCoreTest, DispatchSendsAnAssignmentNamingAttemptFramesAndDevice) {
  const JobId job = Submit(OneStageYaml("1001-1005", 2, 0, "    gpus: 1\n    timeout: 60\n"));
  auto channel = std::make_shared<FakeChannel>();
  ASSERT_TRUE(core_
                  ->WorkerHello(MakeHello("gpu1", {CpuDevice(), GpuDevice(0, 24 * kGiB)},
                                          {Model("esrgan", 2 * kGiB)}),
                                channel)
                  .ok());
  ASSERT_TRUE(channel->sent()[0].has_welcome());
  core_->Dispatch();

  ASSERT_THAT(channel->Assignments(), SizeIs(1));
  const v1::Assignment a = channel->Assignments()[0];
  EXPECT_GT(a.attempt_id(), 0);
  EXPECT_EQ(a.job_id(), job.value());
  EXPECT_EQ(a.task_index(), 0);
  EXPECT_THAT(a.frames(), ElementsAre(1001, 1002));
  // The task's frames and the next stage frame (its temporal neighbour), not the whole set.
  EXPECT_THAT(a.stage_frames(), ElementsAre(1001, 1002, 1003));
  EXPECT_EQ(a.device_index(), 0);
  EXPECT_EQ(a.stage().model(), "esrgan");
  EXPECT_EQ(a.timeout_seconds(), 60);
  EXPECT_EQ(a.project(), "show");

  const v1::Task task = TaskOf(job, 0);
  EXPECT_EQ(task.state(), v1::TASK_STATE_RUNNING);
  EXPECT_EQ(task.attempt_id(), a.attempt_id());
  EXPECT_EQ(task.worker(), "gpu1");
  EXPECT_EQ(task.attempts(), 1);
  EXPECT_EQ(sink_.task(job.value(), 0).state, v1::TASK_STATE_RUNNING);
  EXPECT_GE(sink_.high_water(), a.attempt_id());
}

TEST_F(SchedulerCoreTest, SuccessfulResultsFinishTheJob) {
  const JobId job = Submit(OneStageYaml("1001-1004", 2, 0));
  auto w1 = Connect("w1");
  core_->Dispatch();
  Succeed("w1", w1->Assignments().at(0));
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(TaskOf(job, 0).frames_done(), 2);
  EXPECT_EQ(JobState(job), v1::JOB_STATE_ACTIVE);
  core_->Dispatch();
  Succeed("w1", w1->Assignments().at(1));

  absl::StatusOr<v1::Job> j = core_->GetJob(job);
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(j->stages(0).frames_done(), 4);
  EXPECT_EQ(sink_.job(job.value()).state, v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(sink_.task(job.value(), 1).state, v1::TASK_STATE_SUCCEEDED);
}

TEST_F(SchedulerCoreTest, FailedAttemptIsRetriedAfterBackoffThenFailsAndCancelsDownstream) {
  const JobId job = Submit(TwoStageYaml("1001", /*retries=*/1));
  auto w1 = Connect("w1");
  core_->Dispatch();
  Fail("w1", w1->Assignments().at(0), v1::FAILURE_REASON_MODEL_ERROR, "frame 1001: NaN in output");

  v1::Task task = TaskOf(job, 0);
  EXPECT_EQ(task.state(), v1::TASK_STATE_QUEUED);
  EXPECT_EQ(task.not_before_ms(), ToMillis(clock_.Now()) + 1000);  // retry_backoff_base
  core_->Dispatch();
  EXPECT_THAT(w1->Assignments(), SizeIs(1)) << "dispatched during its backoff";
  clock_.Advance(absl::Milliseconds(999));
  core_->Tick();
  EXPECT_THAT(w1->Assignments(), SizeIs(1)) << "dispatched during its backoff";
  clock_.Advance(absl::Milliseconds(1));
  core_->Tick();
  ASSERT_THAT(w1->Assignments(), SizeIs(2));
  EXPECT_EQ(w1->Assignments()[1].task_index(), 0);
  EXPECT_NE(w1->Assignments()[1].attempt_id(), w1->Assignments()[0].attempt_id());

  Fail("w1", w1->Assignments()[1], v1::FAILURE_REASON_INPUT_MISSING,
       "frame 1001: in/plate.1001.exr not found");
  task = TaskOf(job, 0);
  EXPECT_EQ(task.state(), v1::TASK_STATE_FAILED);
  EXPECT_EQ(task.attempts(), 2);
  EXPECT_EQ(task.failure_reason(), v1::FAILURE_REASON_INPUT_MISSING);
  EXPECT_EQ(task.message(), "frame 1001: in/plate.1001.exr not found");
  EXPECT_EQ(sink_.task(job.value(), 0).message, "frame 1001: in/plate.1001.exr not found");

  const v1::Task downstream = TaskOf(job, 1);
  EXPECT_EQ(downstream.state(), v1::TASK_STATE_CANCELED);
  EXPECT_THAT(downstream.message(), HasSubstr("upstream task 0"));
  EXPECT_THAT(downstream.message(), HasSubstr("upres"));
  EXPECT_EQ(JobState(job), v1::JOB_STATE_FAILED);
  clock_.Advance(absl::Seconds(10));
  core_->Tick();
  EXPECT_THAT(w1->Assignments(), SizeIs(2));  // nothing left to run
}

TEST_F(SchedulerCoreTest, BackoffDoublesWithEachFailure) {
  const JobId job = Submit(OneStageYaml("1001", 1, /*retries=*/3));
  auto w1 = Connect("w1");
  core_->Dispatch();
  Fail("w1", w1->Assignments().at(0), v1::FAILURE_REASON_MODEL_ERROR, "boom");
  clock_.Advance(absl::Seconds(1));
  core_->Tick();
  Fail("w1", w1->Assignments().at(1), v1::FAILURE_REASON_MODEL_ERROR, "boom");
  EXPECT_EQ(TaskOf(job, 0).not_before_ms(), ToMillis(clock_.Now()) + 2000);
  clock_.Advance(absl::Milliseconds(1999));
  core_->Tick();
  EXPECT_THAT(w1->Assignments(), SizeIs(2));
  clock_.Advance(absl::Milliseconds(1));
  core_->Tick();
  EXPECT_THAT(w1->Assignments(), SizeIs(3));
}

TEST_F(SchedulerCoreTest, CancelStopsRunningAttemptsAndEndsTheJob) {
  const JobId job = Submit(OneStageYaml("1001-1003", 1, 2));
  auto w1 = Connect("w1");
  core_->Dispatch();
  const v1::Assignment running = w1->Assignments().at(0);

  absl::StatusOr<v1::Job> canceled = core_->CancelJob(job);
  ASSERT_TRUE(canceled.ok());
  EXPECT_EQ(canceled->state(), v1::JOB_STATE_CANCELED);
  ASSERT_THAT(w1->Cancels(), SizeIs(1));
  EXPECT_EQ(w1->Cancels()[0].attempt_id(), running.attempt_id());
  EXPECT_EQ(w1->Cancels()[0].reason(), v1::FAILURE_REASON_CANCELED);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(TaskOf(job, i).state(), v1::TASK_STATE_CANCELED);
  EXPECT_EQ(sink_.job(job.value()).state, v1::JOB_STATE_CANCELED);

  // The worker acknowledges; its freed slot runs nothing of the canceled job.
  Fail("w1", running, v1::FAILURE_REASON_CANCELED, "canceled");
  core_->Dispatch();
  clock_.Advance(absl::Seconds(5));
  core_->Tick();
  EXPECT_THAT(w1->Assignments(), SizeIs(1));
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_CANCELED);
  EXPECT_EQ(JobState(job), v1::JOB_STATE_CANCELED);
}

TEST_F(SchedulerCoreTest, PausedJobStartsNothingUntilResumed) {
  const JobId job = Submit(OneStageYaml("1001-1002", 1, 0));
  auto w1 = Connect("w1");
  ASSERT_TRUE(core_->PauseJob(job).ok());
  EXPECT_EQ(JobState(job), v1::JOB_STATE_PAUSED);
  core_->Dispatch();
  clock_.Advance(absl::Seconds(5));
  core_->Tick();
  EXPECT_THAT(w1->Assignments(), IsEmpty());

  ASSERT_TRUE(core_->ResumeJob(job).ok());
  EXPECT_EQ(JobState(job), v1::JOB_STATE_ACTIVE);
  core_->Dispatch();
  ASSERT_THAT(w1->Assignments(), SizeIs(1));

  // Pausing lets the running task finish but starts no new one.
  ASSERT_TRUE(core_->PauseJob(job).ok());
  Succeed("w1", w1->Assignments()[0]);
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_SUCCEEDED);
  core_->Dispatch();
  EXPECT_THAT(w1->Assignments(), SizeIs(1));
  EXPECT_FALSE(core_->ResumeJob(JobId(999)).ok());
}

TEST_F(SchedulerCoreTest, RetryFailedBringsBackFailedAndCanceledTasksAndJobSucceeds) {
  const JobId job = Submit(TwoStageYaml("1001", /*retries=*/0));
  auto w1 = Connect("w1");
  core_->Dispatch();
  Fail("w1", w1->Assignments().at(0), v1::FAILURE_REASON_OUT_OF_MEMORY, "frame 1001: CUDA OOM");
  ASSERT_EQ(JobState(job), v1::JOB_STATE_FAILED);
  ASSERT_EQ(TaskOf(job, 1).state(), v1::TASK_STATE_CANCELED);

  absl::StatusOr<int32_t> retried = core_->RetryTasks(job, /*failed_only=*/true, {});
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(*retried, 2);
  EXPECT_EQ(JobState(job), v1::JOB_STATE_ACTIVE);
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_QUEUED);
  EXPECT_EQ(TaskOf(job, 0).message(), "");
  EXPECT_EQ(TaskOf(job, 1).state(), v1::TASK_STATE_BLOCKED);

  core_->Dispatch();
  Succeed("w1", w1->Assignments().at(1));
  core_->Dispatch();
  ASSERT_THAT(w1->Assignments(), SizeIs(3));
  EXPECT_EQ(w1->Assignments()[2].task_index(), 1);
  Succeed("w1", w1->Assignments()[2]);
  EXPECT_EQ(JobState(job), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(sink_.job(job.value()).state, v1::JOB_STATE_SUCCEEDED);
}

TEST_F(SchedulerCoreTest, RetryOfAnUnfinishedTaskIsRefused) {
  const JobId job = Submit(OneStageYaml("1001", 1, 0));
  absl::StatusOr<int32_t> retried = core_->RetryTasks(job, false, {0});
  EXPECT_EQ(retried.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(core_->RetryTasks(job, false, {7}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SchedulerCoreTest, PausedWaitingJobStartsOnResumeAfterItsDependencySucceeded) {
  const JobId first = Submit(OneStageYaml("1", 1, 0));
  const JobId second =
      Submit(OneStageYaml("1", 1, 0, "", absl::StrCat("depends_on_jobs: [", first.value(), "]\n")));
  ASSERT_TRUE(core_->PauseJob(second).ok());
  auto w1 = Connect("w1");
  core_->Dispatch();
  Succeed("w1", w1->Assignments().at(0));
  core_->Dispatch();
  EXPECT_EQ(JobState(second), v1::JOB_STATE_PAUSED);
  EXPECT_THAT(w1->Assignments(), SizeIs(1));
  ASSERT_TRUE(core_->ResumeJob(second).ok());
  core_->Dispatch();
  ASSERT_THAT(w1->Assignments(), SizeIs(2));
  EXPECT_EQ(w1->Assignments()[1].job_id(), second.value());
}

TEST_F(SchedulerCoreTest, CancelingAJobCancelsTheJobsWaitingOnIt) {
  const JobId first = Submit(OneStageYaml("1", 1, 0));
  const JobId second =
      Submit(OneStageYaml("1", 1, 0, "", absl::StrCat("depends_on_jobs: [", first.value(), "]\n")));
  ASSERT_TRUE(core_->CancelJob(first).ok());
  EXPECT_EQ(TaskOf(second, 0).state(), v1::TASK_STATE_CANCELED);
  EXPECT_THAT(TaskOf(second, 0).message(),
              HasSubstr(absl::StrCat("dependency job ", first.value())));
  absl::StatusOr<v1::Job> j = core_->GetJob(second);
  ASSERT_TRUE(j.ok());
  EXPECT_TRUE(j->state() == v1::JOB_STATE_FAILED || j->state() == v1::JOB_STATE_CANCELED);
  EXPECT_THAT(j->message(), HasSubstr(absl::StrCat("dependency job ", first.value())));
  // A new job cannot wait on a canceled one.
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(
      OneStageYaml("1", 1, 0, "", absl::StrCat("depends_on_jobs: [", first.value(), "]\n")));
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(core_->SubmitJob(*spec, "").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SchedulerCoreTest, RunningTasksKeepTheirGpuMemoryAcrossDispatches) {
  // Two slots but one 24 GiB GPU: a second 16 GiB task must wait, in this dispatch
  // and in every later one while the first runs.
  const JobId job = Submit(OneStageYaml("1001-1002", 1, 0, "    gpus: 1\n    vram: 16GiB\n"));
  auto channel = std::make_shared<FakeChannel>();
  ASSERT_TRUE(core_
                  ->WorkerHello(MakeHello("gpu1", {GpuDevice(0, 24 * kGiB)}, {Model("esrgan")},
                                          /*slots=*/2),
                                channel)
                  .ok());
  core_->Dispatch();
  EXPECT_THAT(channel->Assignments(), SizeIs(1));
  Submit(OneStageYaml("1001", 1, 0, "    gpus: 1\n    vram: 16GiB\n"));  // forces a dispatch
  core_->Dispatch();
  EXPECT_THAT(channel->Assignments(), SizeIs(1));
  Succeed("gpu1", channel->Assignments()[0]);
  core_->Dispatch();
  ASSERT_THAT(channel->Assignments(), SizeIs(2));
  EXPECT_EQ(channel->Assignments()[1].job_id(), job.value());
}

TEST_F(SchedulerCoreTest, ProgressShowsFramesDoneAndKeepsLogLines) {
  const JobId job = Submit(OneStageYaml("1001-1004", 4, 0));
  auto w1 = Connect("w1");
  core_->Dispatch();
  const v1::Assignment a = w1->Assignments().at(0);
  v1::Progress progress;
  progress.set_attempt_id(a.attempt_id());
  progress.set_frames_done(3);
  progress.add_log_lines("frame 1003 done in 0.8 s");
  core_->WorkerProgress(WorkerId("w1"), progress);
  EXPECT_EQ(TaskOf(job, 0).frames_done(), 3);
  ASSERT_THAT(sink_.logs(), SizeIs(1));
  EXPECT_EQ(sink_.logs()[0].text, "frame 1003 done in 0.8 s");
  EXPECT_EQ(sink_.logs()[0].attempt.value(), a.attempt_id());

  progress.set_attempt_id(a.attempt_id() + 100);  // unknown attempt: ignored
  progress.set_frames_done(1);
  core_->WorkerProgress(WorkerId("w1"), progress);
  EXPECT_EQ(TaskOf(job, 0).frames_done(), 3);
  EXPECT_THAT(sink_.logs(), SizeIs(1));
}

TEST_F(SchedulerCoreTest, ListJobsPagesNewestFirst) {
  std::vector<JobId> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Submit(OneStageYaml("1", 1, 0)));
  v1::ListJobsRequest request;
  request.set_page_size(2);
  std::vector<int64_t> seen;
  for (int page = 0; page < 5; ++page) {
    v1::ListJobsResponse response = core_->ListJobs(request);
    for (const v1::Job& j : response.jobs()) seen.push_back(j.id());
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  EXPECT_THAT(seen, ElementsAre(ids[4].value(), ids[3].value(), ids[2].value(), ids[1].value(),
                                ids[0].value()));
}

// --- Fencing ---

TEST_F(SchedulerCoreTest, ResultOfAnOldAttemptAfterRequeueIsIgnored) {
  const JobId job = Submit(OneStageYaml("1001", 1, 2));
  auto w1 = Connect("w1");
  core_->Dispatch();
  const v1::Assignment old_attempt = w1->Assignments().at(0);
  core_->WorkerGone(WorkerId("w1"), w1.get());
  auto w2 = Connect("w2");
  core_->Dispatch();
  ASSERT_THAT(w2->Assignments(), SizeIs(1));
  const v1::Assignment current = w2->Assignments()[0];

  // w1 comes back and reports the attempt it lost.
  auto w1_again = Connect("w1");
  const int64_t puts = sink_.puts();
  Succeed("w1", old_attempt);
  EXPECT_EQ(sink_.puts(), puts);
  v1::Task task = TaskOf(job, 0);
  EXPECT_EQ(task.state(), v1::TASK_STATE_RUNNING);
  EXPECT_EQ(task.attempt_id(), current.attempt_id());
  EXPECT_EQ(task.worker(), "w2");
  EXPECT_EQ(JobState(job), v1::JOB_STATE_ACTIVE);

  Succeed("w2", current);
  EXPECT_EQ(JobState(job), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(SchedulerCoreTest, ResultFromTheWrongWorkerIsIgnored) {
  const JobId job = Submit(OneStageYaml("1001", 1, 2));
  auto w1 = Connect("w1");
  auto w2 = Connect("w2");
  core_->Dispatch();
  std::shared_ptr<FakeChannel> holder = w1->Assignments().empty() ? w2 : w1;
  const std::string owner = holder == w1 ? "w1" : "w2";
  const std::string other = holder == w1 ? "w2" : "w1";
  ASSERT_THAT(holder->Assignments(), SizeIs(1));

  const int64_t puts = sink_.puts();
  Fail(other, holder->Assignments()[0], v1::FAILURE_REASON_MODEL_ERROR, "not mine");
  Succeed(other, holder->Assignments()[0]);
  EXPECT_EQ(sink_.puts(), puts);
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_RUNNING);
  EXPECT_EQ(TaskOf(job, 0).worker(), owner);
}

TEST_F(SchedulerCoreTest, DuplicateResultIsIgnored) {
  const JobId job = Submit(OneStageYaml("1001-1002", 1, 2));
  auto w1 = Connect("w1");
  core_->Dispatch();
  const v1::Assignment a = w1->Assignments().at(0);
  v1::Result first;
  first.set_attempt_id(a.attempt_id());
  first.set_success(true);
  EXPECT_TRUE(core_->WorkerResult(WorkerId("w1"), first));
  ASSERT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_SUCCEEDED);
  core_->Dispatch();
  ASSERT_THAT(w1->Assignments(), SizeIs(2));

  const int64_t puts = sink_.puts();
  v1::Result again;
  again.set_attempt_id(a.attempt_id());
  again.set_success(true);
  EXPECT_FALSE(core_->WorkerResult(WorkerId("w1"), again));  // fenced: the caller is told
  Fail("w1", a, v1::FAILURE_REASON_MODEL_ERROR, "late failure of a finished attempt");
  EXPECT_EQ(sink_.puts(), puts);
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(TaskOf(job, 0).message(), "");
  EXPECT_EQ(TaskOf(job, 1).state(), v1::TASK_STATE_RUNNING);  // its slot was not freed twice
  core_->Dispatch();
  EXPECT_THAT(w1->Assignments(), SizeIs(2));
}

TEST_F(SchedulerCoreTest, ResultNamingAnotherTaskIsIgnored) {
  const JobId job = Submit(OneStageYaml("1001-1002", 1, 2));
  auto w1 = Connect("w1", 2);
  core_->Dispatch();
  v1::Assignment a = w1->Assignments().at(0);
  a.set_task_index(1);  // same attempt id, but the second fence disagrees
  Succeed("w1", a);
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_RUNNING);
  EXPECT_EQ(TaskOf(job, 1).state(), v1::TASK_STATE_RUNNING);
}

// --- Leases and workers ---

TEST_F(SchedulerCoreTest, HeartbeatsKeepTheLease) {
  const JobId job = Submit(OneStageYaml("1001", 1, 0));
  auto w1 = Connect("w1");
  core_->Dispatch();
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(absl::Seconds(5));
    Heartbeat("w1");
    core_->Tick();
  }
  EXPECT_FALSE(w1->closed());
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_RUNNING);
}

TEST_F(SchedulerCoreTest, SilentWorkerLosesItsAttemptsWhichRunElsewhereWithoutChargingARetry) {
  const JobId job = Submit(OneStageYaml("1001", 1, /*retries=*/0));
  auto w1 = Connect("w1");
  core_->Dispatch();
  ASSERT_THAT(w1->Assignments(), SizeIs(1));

  clock_.Advance(options_.lease_ttl);
  core_->Tick();
  EXPECT_FALSE(w1->closed()) << "lost exactly at the lease time, not after it";
  auto w2 = Connect("w2");
  clock_.Advance(absl::Milliseconds(1));
  core_->Tick();  // w1 has been silent past lease_ttl
  EXPECT_TRUE(w1->closed());
  ASSERT_THAT(w2->Assignments(), SizeIs(1));  // requeued without backoff and placed at once
  EXPECT_EQ(w2->Assignments()[0].task_index(), 0);
  const v1::Task task = TaskOf(job, 0);
  EXPECT_EQ(task.state(), v1::TASK_STATE_RUNNING);
  EXPECT_EQ(task.worker(), "w2");
  EXPECT_EQ(task.attempts(), 1);  // the lost attempt was not charged: retries 0 still runs it

  absl::StatusOr<std::vector<v1::Worker>> workers = core_->ListWorkers(true);
  ASSERT_THAT(*workers, SizeIs(2));
  EXPECT_EQ((*workers)[0].state(), v1::WORKER_STATE_OFFLINE);
  Succeed("w2", w2->Assignments()[0]);
  EXPECT_EQ(JobState(job), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(SchedulerCoreTest, WorkerGoneRequeuesItsAttempts) {
  const JobId job = Submit(OneStageYaml("1001", 1, 0));
  auto w1 = Connect("w1");
  core_->Dispatch();
  // A stale stream's end (the worker already reconnected) changes nothing.
  FakeChannel stale;
  core_->WorkerGone(WorkerId("w1"), &stale);
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_RUNNING);

  core_->WorkerGone(WorkerId("w1"), w1.get());
  v1::Task task = TaskOf(job, 0);
  EXPECT_EQ(task.state(), v1::TASK_STATE_QUEUED);
  EXPECT_EQ(task.failure_reason(), v1::FAILURE_REASON_WORKER_LOST);
  EXPECT_EQ(task.attempts(), 0);
  auto w2 = Connect("w2");
  core_->Dispatch();
  ASSERT_THAT(w2->Assignments(), SizeIs(1));
  EXPECT_EQ(TaskOf(job, 0).worker(), "w2");
}

TEST_F(SchedulerCoreTest, ReconnectingWorkerClaimingAnUnknownAttemptIsToldToCancelIt) {
  auto w1 = Connect("w1", 1, {}, /*running=*/{424242});
  ASSERT_THAT(w1->Cancels(), SizeIs(1));
  EXPECT_EQ(w1->Cancels()[0].attempt_id(), 424242);
}

TEST_F(SchedulerCoreTest, ReconnectingWorkerClaimingAnAttemptGivenAwayIsToldToCancelIt) {
  const JobId job = Submit(OneStageYaml("1001", 1, 0));
  auto w1 = Connect("w1");
  core_->Dispatch();
  const int64_t lost = w1->Assignments().at(0).attempt_id();
  core_->WorkerGone(WorkerId("w1"), w1.get());
  auto w2 = Connect("w2");
  core_->Dispatch();
  ASSERT_THAT(w2->Assignments(), SizeIs(1));

  auto w1_again = Connect("w1", 1, {}, {lost});
  ASSERT_THAT(w1_again->Cancels(), SizeIs(1));
  EXPECT_EQ(w1_again->Cancels()[0].attempt_id(), lost);
  EXPECT_EQ(TaskOf(job, 0).worker(), "w2");
}

TEST_F(SchedulerCoreTest, ReconnectingWorkerThatNoLongerClaimsItsAttemptLosesIt) {
  const JobId job = Submit(OneStageYaml("1001", 1, 0));
  auto w1 = Connect("w1");
  core_->Dispatch();
  auto w1_restarted = Connect("w1");  // a new process: runs nothing
  EXPECT_TRUE(w1->closed());
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_QUEUED);
  core_->Dispatch();
  ASSERT_THAT(w1_restarted->Assignments(), SizeIs(1));
  // The first stream's end arrives late: it must not take the new attempt away.
  core_->WorkerGone(WorkerId("w1"), w1.get());
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_RUNNING);
}

TEST_F(SchedulerCoreTest, AttemptTimeoutCancelsTheAttemptAndRetries) {
  const JobId job = Submit(OneStageYaml("1001", 1, /*retries=*/1, "    timeout: 60\n"));
  auto w1 = Connect("w1");
  core_->Dispatch();
  const v1::Assignment a = w1->Assignments().at(0);
  clock_.Advance(absl::Seconds(59));
  Heartbeat("w1");
  core_->Tick();
  EXPECT_THAT(w1->Cancels(), IsEmpty());

  clock_.Advance(absl::Seconds(1));
  Heartbeat("w1");
  core_->Tick();
  ASSERT_THAT(w1->Cancels(), SizeIs(1));
  EXPECT_EQ(w1->Cancels()[0].attempt_id(), a.attempt_id());
  EXPECT_EQ(w1->Cancels()[0].reason(), v1::FAILURE_REASON_TIMEOUT);
  v1::Task task = TaskOf(job, 0);
  EXPECT_EQ(task.state(), v1::TASK_STATE_QUEUED);
  EXPECT_EQ(task.failure_reason(), v1::FAILURE_REASON_TIMEOUT);
  EXPECT_THAT(task.message(), HasSubstr("timed out after 60 s"));

  // The worker's late "canceled" result is stale; the retry runs after the backoff.
  Fail("w1", a, v1::FAILURE_REASON_CANCELED, "canceled");
  clock_.Advance(absl::Seconds(1));
  Heartbeat("w1");
  core_->Tick();
  ASSERT_THAT(w1->Assignments(), SizeIs(2));
  EXPECT_EQ(TaskOf(job, 0).attempts(), 2);
}

TEST_F(SchedulerCoreTest, WorkerFailingThreeTasksOfAJobIsKeptOffItUntilForgiven) {
  const JobId job = Submit(OneStageYaml("1001-1004", 1, /*retries=*/5));
  auto w1 = Connect("w1");
  auto keep_alive = [&] { Heartbeat("w1"); };
  core_->Dispatch();
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(w1->Assignments(), SizeIs(i + 1));
    Fail("w1", w1->Assignments()[i], v1::FAILURE_REASON_MODEL_ERROR, "bad driver");
    core_->Dispatch();
  }
  // Three failures: w1 gets nothing more of this job, whatever the backoff.
  for (int s = 0; s < 10; ++s) {
    clock_.Advance(absl::Seconds(1));
    keep_alive();
    core_->Tick();
  }
  EXPECT_THAT(w1->Assignments(), SizeIs(3));
  EXPECT_THAT(TaskOf(job, 0).message(), HasSubstr("kept off this job"));

  // Another worker takes the job's work.
  auto w2 = Connect("w2");
  core_->Dispatch();
  EXPECT_THAT(w2->Assignments(), SizeIs(1));

  // After the forgive time w1 is trusted again.
  clock_.Advance(options_.blocklist_forgive);
  keep_alive();
  Heartbeat("w2");
  core_->Tick();
  EXPECT_THAT(w1->Assignments(), SizeIs(4));
}

TEST_F(SchedulerCoreTest, DrainedWorkerGetsNoNewWork) {
  Submit(OneStageYaml("1001-1002", 1, 0));
  auto w1 = Connect("w1");
  ASSERT_TRUE(core_->SetDrain(WorkerId("w1"), true).ok());
  ASSERT_TRUE(w1->sent().back().has_drain());
  core_->Dispatch();
  EXPECT_THAT(w1->Assignments(), IsEmpty());
  ASSERT_TRUE(core_->SetDrain(WorkerId("w1"), false).ok());
  core_->Dispatch();
  EXPECT_THAT(w1->Assignments(), SizeIs(1));
}

// --- Submission ---

TEST_F(SchedulerCoreTest, IdempotencyKeyReturnsTheSameJob) {
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(OneStageYaml("1001", 1, 0));
  ASSERT_TRUE(spec.ok());
  absl::StatusOr<SubmitResult> first = core_->SubmitJob(*spec, "ci-812");
  absl::StatusOr<SubmitResult> again = core_->SubmitJob(*spec, "ci-812");
  absl::StatusOr<SubmitResult> other = core_->SubmitJob(*spec, "ci-813");
  ASSERT_TRUE(first.ok() && again.ok() && other.ok());
  EXPECT_TRUE(first->created);
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->id, first->id);
  EXPECT_NE(other->id, first->id);
  EXPECT_EQ(core_->ListJobs(v1::ListJobsRequest{}).jobs_size(), 2);
  EXPECT_EQ(core_->task_count(), 2);
}

TEST_F(SchedulerCoreTest, InvalidSpecAndUnknownDependencyAreRefused) {
  v1::JobSpec empty;
  EXPECT_EQ(core_->SubmitJob(empty, "").status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<v1::JobSpec> spec =
      ParseJobSpecYaml(OneStageYaml("1001", 1, 0, "", "depends_on_jobs: [77]\n"));
  ASSERT_TRUE(spec.ok());
  absl::StatusOr<SubmitResult> result = core_->SubmitJob(*spec, "");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("77"));
}

TEST_F(SchedulerCorePlacementTest, HigherPriorityJobIsPlacedFirst) {
  const JobId low = Submit(OneStageYaml("1001", 1, 0, "", "priority: 10\n"));
  const JobId high = Submit(OneStageYaml("1001", 1, 0, "", "priority: 90\n"));
  auto w1 = Connect("w1");
  core_->Dispatch();
  ASSERT_THAT(w1->Assignments(), SizeIs(1));
  EXPECT_EQ(w1->Assignments()[0].job_id(), high.value());
  ASSERT_TRUE(core_->SetPriority(low, 100).ok());
  const JobId third = Submit(OneStageYaml("1001", 1, 0, "", "priority: 95\n"));
  Succeed("w1", w1->Assignments()[0]);
  core_->Dispatch();
  EXPECT_EQ(w1->Assignments().at(1).job_id(), low.value());
  EXPECT_NE(third, low);
}

TEST_F(SchedulerCorePlacementTest, UnplaceableWorkSaysWhyInTheTaskMessage) {
  const JobId ghost = Submit(absl::StrCat(R"(name: ghost
project: show
stages:
  - name: upres
    model: ghost-model
    input: in/plate.####.exr
    output: out/upres.####.exr
    frames: "1001"
)"));
  const JobId tagged = Submit(OneStageYaml("1001", 1, 0, "    tags: [nuke]\n"));
  auto w1 = Connect("w1");
  core_->Dispatch();
  EXPECT_THAT(w1->Assignments(), IsEmpty());
  core_->Tick();
  EXPECT_THAT(TaskOf(ghost, 0).message(), HasSubstr("does not have model 'ghost-model'"));
  EXPECT_THAT(TaskOf(tagged, 0).message(), HasSubstr("lacks tag 'nuke'"));

  // A worker with the tag arrives: the task runs and the message goes away.
  auto w2 = Connect("w2", 1, {"nuke"});
  core_->Dispatch();
  ASSERT_THAT(w2->Assignments(), SizeIs(1));
  EXPECT_EQ(w2->Assignments()[0].job_id(), tagged.value());
  EXPECT_EQ(TaskOf(tagged, 0).message(), "");
}

TEST_F(SchedulerCorePlacementTest, ModelTooBigForEveryGpuIsUnplaceable) {
  const JobId job = Submit(OneStageYaml("1001", 1, 0, "    gpus: 1\n    vram: 30GiB\n"));
  auto channel = std::make_shared<FakeChannel>();
  ASSERT_TRUE(
      core_->WorkerHello(MakeHello("gpu1", {GpuDevice(0, 24 * kGiB)}, {Model("esrgan")}), channel)
          .ok());
  core_->Tick();
  EXPECT_THAT(channel->Assignments(), IsEmpty());
  EXPECT_THAT(TaskOf(job, 0).message(), HasSubstr("largest device"));
}

// --- Recovery ---

// Uses the real policy: the orphan job's priority is what puts it on w2.
TEST_F(SchedulerCorePlacementTest, RecoveryKeepsJobsTasksAndReclaimedAttempts) {
  // Job 1: three one-frame tasks: #0 succeeded, #1 running on w1, #2 queued.
  const JobId job = Submit(OneStageYaml("1001-1003", 1, 0, "    timeout: 600\n"));
  auto w1 = Connect("w1");
  core_->Dispatch();
  Succeed("w1", w1->Assignments().at(0));
  core_->Dispatch();
  const v1::Assignment running = w1->Assignments().at(1);
  // Job 2: one urgent task running on w2, which never comes back.
  const JobId orphan = Submit(OneStageYaml("2001", 1, /*retries=*/0, "", "priority: 90\n"));
  auto w2 = Connect("w2");
  core_->Dispatch();
  ASSERT_THAT(w2->Assignments(), SizeIs(1));
  ASSERT_EQ(w2->Assignments()[0].job_id(), orphan.value());
  const int64_t high_water = sink_.high_water();

  // The scheduler restarts.
  core_.reset();
  clock_.Advance(absl::Seconds(3));
  auto core = NewCore();
  ASSERT_TRUE(core->Recover(sink_.Snapshot()).ok());
  EXPECT_EQ(JobState(job, core.get()), v1::JOB_STATE_ACTIVE);
  EXPECT_EQ(TaskOf(job, 0, core.get()).state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(TaskOf(job, 1, core.get()).state(), v1::TASK_STATE_RUNNING);
  EXPECT_EQ(TaskOf(job, 2, core.get()).state(), v1::TASK_STATE_QUEUED);
  EXPECT_EQ(TaskOf(orphan, 0, core.get()).state(), v1::TASK_STATE_RUNNING);
  absl::StatusOr<v1::Job> recovered = core->GetJob(job);
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(recovered->spec().name(), "job");
  EXPECT_EQ(recovered->stages(0).frames_done(), 1);

  // w1 reconnects claiming its attempt: it keeps running, and its result counts.
  auto w1_back = Connect("w1", 1, {}, {running.attempt_id()}, core.get());
  EXPECT_THAT(w1_back->Cancels(), IsEmpty());
  core->Dispatch();
  EXPECT_THAT(w1_back->Assignments(), IsEmpty());  // its one slot is busy
  EXPECT_EQ(TaskOf(job, 1, core.get()).attempt_id(), running.attempt_id());
  Succeed("w1", running, core.get());
  EXPECT_EQ(TaskOf(job, 1, core.get()).state(), v1::TASK_STATE_SUCCEEDED);
  core->Dispatch();
  ASSERT_THAT(w1_back->Assignments(), SizeIs(1));
  EXPECT_EQ(w1_back->Assignments()[0].task_index(), 2);  // never the succeeded #0
  EXPECT_GT(w1_back->Assignments()[0].attempt_id(), high_water);
  Succeed("w1", w1_back->Assignments()[0], core.get());
  EXPECT_EQ(JobState(job, core.get()), v1::JOB_STATE_SUCCEEDED);

  // w2 never returns: after lease_ttl its attempt is requeued, uncharged.
  clock_.Advance(options_.lease_ttl - absl::Milliseconds(1));
  Heartbeat("w1", core.get());
  core->Tick();
  EXPECT_EQ(TaskOf(orphan, 0, core.get()).state(), v1::TASK_STATE_RUNNING);
  clock_.Advance(absl::Milliseconds(1));
  Heartbeat("w1", core.get());
  core->Tick();
  // Requeued and, w1 being free, placed there at once.
  const v1::Task task = TaskOf(orphan, 0, core.get());
  EXPECT_EQ(task.worker(), "w1");
  EXPECT_EQ(task.state(), v1::TASK_STATE_RUNNING);
  EXPECT_EQ(task.attempts(), 1);
  ASSERT_THAT(w1_back->Assignments(), SizeIs(2));
  EXPECT_EQ(w1_back->Assignments()[1].job_id(), orphan.value());
  for (const v1::Assignment& a : w1_back->Assignments()) {
    EXPECT_FALSE(a.job_id() == job.value() && a.task_index() == 0);
  }
}

TEST_F(SchedulerCoreTest, AttemptTheWorkerStopsReportingIsRequeuedAfterTheLease) {
  const JobId job = Submit(OneStageYaml("1001", 1, 0));
  auto w1 = Connect("w1");
  core_->Dispatch();
  ASSERT_THAT(w1->Assignments(), SizeIs(1));
  // Within the lease an omission is an assignment still in flight: nothing happens.
  clock_.Advance(options_.lease_ttl - absl::Seconds(1));
  core_->WorkerHeartbeat(WorkerId("w1"), v1::Heartbeat{});
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_RUNNING);
  // Past it, the attempt is lost: requeued without charging a retry, and re-dispatched.
  clock_.Advance(absl::Seconds(2));
  core_->WorkerHeartbeat(WorkerId("w1"), v1::Heartbeat{});
  core_->Dispatch();
  EXPECT_EQ(TaskOf(job, 0).attempts(), 1);
  ASSERT_THAT(w1->Assignments(), SizeIs(2));
  EXPECT_NE(w1->Assignments()[1].attempt_id(), w1->Assignments()[0].attempt_id());
}

TEST_F(SchedulerCorePlacementTest, QueuedTaskSaysWhenEveryWorkerIsDraining) {
  const JobId job = Submit(OneStageYaml("1001", 1, 0));
  auto w1 = Connect("w1");
  ASSERT_TRUE(core_->SetDrain(WorkerId("w1"), true).ok());
  core_->Dispatch();
  clock_.Advance(absl::Seconds(2));
  Heartbeat("w1");
  core_->Tick();
  EXPECT_THAT(w1->Assignments(), IsEmpty());
  EXPECT_THAT(TaskOf(job, 0).message(), HasSubstr("every connected worker is draining (w1)"));
  ASSERT_TRUE(core_->SetDrain(WorkerId("w1"), false).ok());
  core_->Dispatch();
  EXPECT_THAT(w1->Assignments(), SizeIs(1));
}

TEST_F(SchedulerCoreTest, AssignmentCarriesStageFirstFrameAndWindowNeighboursOnly) {
  // Chunks of 2 over 1001-1009x2 (1001, 1003, ..., 1009) with a window of one each side.
  const JobId job =
      Submit(OneStageYaml("1001-1009x2", 2, 0, "    window: {before: 1, after: 1}\n"));
  auto w1 = Connect("w1", /*slots=*/3);
  core_->Dispatch();
  ASSERT_THAT(w1->Assignments(), SizeIs(3));
  EXPECT_THAT(w1->Assignments()[0].stage_frames(), ElementsAre(1001, 1003, 1005));
  EXPECT_THAT(w1->Assignments()[1].stage_frames(), ElementsAre(1001, 1003, 1005, 1007, 1009));
  EXPECT_THAT(w1->Assignments()[2].stage_frames(), ElementsAre(1001, 1007, 1009));
  EXPECT_EQ(TaskOf(job, 2).frames_size(), 1);
}

TEST_F(SchedulerCoreTest, WorkerRefusingWorkWhileShuttingDownGetsNoMoreUntilItReconnects) {
  const JobId job = Submit(OneStageYaml("1001-1002", 1, 0));
  auto w1 = Connect("w1");
  core_->Dispatch();
  ASSERT_THAT(w1->Assignments(), SizeIs(1));
  Fail("w1", w1->Assignments()[0], v1::FAILURE_REASON_CANCELED, "worker is draining");
  core_->Dispatch();
  EXPECT_THAT(w1->Assignments(), SizeIs(1));  // not offered again in a loop
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_QUEUED);
  EXPECT_EQ(TaskOf(job, 0).attempts(), 0);  // not charged
  // A restarted worker with the same id is trusted again.
  auto w1_again = Connect("w1");
  core_->Dispatch();
  EXPECT_THAT(w1_again->Assignments(), SizeIs(1));
}

TEST_F(SchedulerCoreTest, RecoveredAttemptStillTimesOut) {
  const JobId job = Submit(OneStageYaml("1001", 1, 1, "    timeout: 60\n"));
  auto w1 = Connect("w1");
  core_->Dispatch();
  const v1::Assignment a = w1->Assignments().at(0);
  core_.reset();
  auto core = NewCore();
  ASSERT_TRUE(core->Recover(sink_.Snapshot()).ok());
  auto w1_back = Connect("w1", 1, {}, {a.attempt_id()}, core.get());
  clock_.Advance(absl::Seconds(61));
  Heartbeat("w1", core.get());
  core->Tick();
  ASSERT_THAT(w1_back->Cancels(), SizeIs(1));
  EXPECT_EQ(w1_back->Cancels()[0].reason(), v1::FAILURE_REASON_TIMEOUT);
  EXPECT_EQ(TaskOf(job, 0, core.get()).failure_reason(), v1::FAILURE_REASON_TIMEOUT);
}

TEST_F(SchedulerCoreTest, RecoveryRestoresIdempotencyAndJobIds) {
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(OneStageYaml("1001", 1, 0));
  ASSERT_TRUE(spec.ok());
  absl::StatusOr<SubmitResult> first = core_->SubmitJob(*spec, "ci-1");
  ASSERT_TRUE(first.ok());
  core_ = NewCore();
  ASSERT_TRUE(core_->Recover(sink_.Snapshot()).ok());
  absl::StatusOr<SubmitResult> again = core_->SubmitJob(*spec, "ci-1");
  absl::StatusOr<SubmitResult> fresh = core_->SubmitJob(*spec, "ci-2");
  ASSERT_TRUE(again.ok() && fresh.ok());
  EXPECT_EQ(again->id, first->id);
  EXPECT_FALSE(again->created);
  EXPECT_GT(fresh->id.value(), first->id.value());
}

// --- Watching ---

TEST_F(SchedulerCoreTest, WatchDeliversChangesAndAFinalDoneEvent) {
  const JobId job = Submit(OneStageYaml("1001", 1, 0));
  std::vector<std::pair<v1::JobEvent, bool>> events;
  absl::StatusOr<int64_t> watch =
      core_->Watch(job, [&](const v1::JobEvent& e, bool done) { events.emplace_back(e, done); });
  ASSERT_TRUE(watch.ok());
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_FALSE(events[0].second);
  EXPECT_EQ(events[0].first.job().id(), job.value());
  EXPECT_THAT(events[0].first.changed_tasks(), SizeIs(1));

  auto w1 = Connect("w1");
  core_->Dispatch();
  ASSERT_THAT(events, SizeIs(2));
  EXPECT_FALSE(events[1].second);
  ASSERT_THAT(events[1].first.changed_tasks(), SizeIs(1));
  EXPECT_EQ(events[1].first.changed_tasks(0).state(), v1::TASK_STATE_RUNNING);

  core_->Dispatch();  // nothing changed: no event
  EXPECT_THAT(events, SizeIs(2));

  Succeed("w1", w1->Assignments().at(0));
  core_->Dispatch();
  ASSERT_THAT(events, SizeIs(3));
  EXPECT_TRUE(events[2].second);
  EXPECT_EQ(events[2].first.job().state(), v1::JOB_STATE_SUCCEEDED);

  // Done means done: no further events, and a late watch gets one final event.
  ASSERT_TRUE(core_->SetPriority(job, 70).ok());
  core_->Dispatch();
  EXPECT_THAT(events, SizeIs(3));
  int late = 0;
  ASSERT_TRUE(core_->Watch(job, [&](const v1::JobEvent&, bool done) { late += done; }).ok());
  EXPECT_EQ(late, 1);
}

TEST_F(SchedulerCoreTest, UnwatchStopsEvents) {
  const JobId job = Submit(OneStageYaml("1001", 1, 0));
  int events = 0;
  absl::StatusOr<int64_t> watch = core_->Watch(job, [&](const v1::JobEvent&, bool) { ++events; });
  ASSERT_TRUE(watch.ok());
  core_->Unwatch(*watch);
  auto w1 = Connect("w1");
  core_->Dispatch();
  EXPECT_EQ(events, 1);
}

}  // namespace
}  // namespace genfarm::scheduler
