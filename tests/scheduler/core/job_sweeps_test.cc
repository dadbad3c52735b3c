// Changes to every task of a big job run a slice per core turn (JobTable sweeps), and a
// spec is planned the same way before and after a worker advertises its model.
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/core/scheduler_core.h"
#include "tests/scheduler/core/fakes.h"

namespace genfarm::scheduler {
namespace {

using testing::FakeChannel;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string Yaml(const std::string& model, const std::string& frames) {
  return absl::StrCat("name: big\nproject: show\nstages:\n  - name: s\n    model: ", model,
                      "\n    input: in/p.####.exr\n    output: out/s.####.exr\n    frames: \"",
                      frames, "\"\n");
}

v1::ModelInfo Interpolator() {
  v1::ModelInfo rife = testing::Model("rife", testing::kGiB, 0, 1);
  rife.set_kind("interpolate");
  return rife;
}

class JobSweepsTest : public ::testing::Test {
 protected:
  JobSweepsTest() {
    options_.sweep_slice_tasks = 10;
    core_ = std::make_unique<SchedulerCore>(clock_, sink_, policy_, options_);
  }

  JobId Submit(const std::string& yaml) {
    absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(yaml);
    EXPECT_TRUE(spec.ok()) << spec.status();
    absl::StatusOr<SubmitResult> result = core_->SubmitJob(*spec, "");
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->id : JobId(0);
  }

  int64_t Count(JobId id, const std::string& state) {
    absl::StatusOr<v1::Job> job = core_->GetJob(id);
    EXPECT_TRUE(job.ok()) << job.status();
    int64_t n = 0;
    for (const v1::StageStatus& s : job->stages()) {
      auto it = s.tasks_by_state().find(state);
      if (it != s.tasks_by_state().end()) n += it->second;
    }
    return n;
  }

  // Runs background slices until none is left; returns how many ran.
  int Settle() {
    int slices = 0;
    while (core_->HasBackgroundWork()) {
      core_->RunBackgroundWork();
      ++slices;
    }
    return slices;
  }

  FakeClock clock_;
  testing::RecordingSink sink_;
  testing::FakePlacementPolicy policy_;
  CoreOptions options_;
  std::unique_ptr<SchedulerCore> core_;
};

TEST_F(JobSweepsTest, ABigJobIsActivatedASliceATurn) {
  core_->LearnModels({testing::Model("esrgan")});
  const JobId id = Submit(Yaml("esrgan", "1-35"));
  EXPECT_EQ(Count(id, "queued"), 10);  // the first slice ran with the submit
  EXPECT_EQ(Count(id, "waiting"), 25);
  EXPECT_EQ(Settle(), 3);
  EXPECT_EQ(Count(id, "queued"), 35);
  EXPECT_FALSE(core_->HasBackgroundWork());
}

TEST_F(JobSweepsTest, PausingStopsTheActivationAndResumingFinishesIt) {
  core_->LearnModels({testing::Model("esrgan")});
  const JobId id = Submit(Yaml("esrgan", "1-35"));
  ASSERT_TRUE(core_->PauseJob(id).ok());
  Settle();
  EXPECT_EQ(Count(id, "queued"), 10);
  ASSERT_TRUE(core_->ResumeJob(id).ok());
  Settle();
  EXPECT_EQ(Count(id, "queued"), 35);
}

TEST_F(JobSweepsTest, CancelEndsTheJobAtOnceAndItsTasksASliceATurn) {
  core_->LearnModels({testing::Model("esrgan")});
  const JobId id = Submit(Yaml("esrgan", "1-35"));
  Settle();
  auto channel = std::make_shared<FakeChannel>();
  ASSERT_TRUE(
      core_
          ->WorkerHello(
              testing::MakeHello("w1", {testing::CpuDevice()}, {testing::Model("esrgan")}), channel)
          .ok());
  core_->Dispatch();
  ASSERT_EQ(channel->Assignments().size(), 1u);

  absl::StatusOr<v1::Job> canceled = core_->CancelJob(id);
  ASSERT_TRUE(canceled.ok()) << canceled.status();
  EXPECT_EQ(canceled->state(), v1::JOB_STATE_CANCELED);
  EXPECT_EQ(channel->Cancels().size(), 1u);  // the running attempt is stopped at once
  EXPECT_LT(Count(id, "canceled"), 35);
  // A retry while the cancel is still sweeping is refused, and says why.
  absl::StatusOr<int32_t> early = core_->RetryTasks(id, true, {});
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(early.status().message(), HasSubstr("still being canceled"));
  Settle();
  EXPECT_EQ(Count(id, "canceled"), 35);
  EXPECT_EQ(sink_.task(id.value(), 34).state, v1::TASK_STATE_CANCELED);  // stored

  absl::StatusOr<int32_t> retried = core_->RetryTasks(id, true, {});
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(*retried, 35);
  Settle();
  EXPECT_EQ(Count(id, "queued") + Count(id, "running"), 35);
  EXPECT_EQ(core_->GetJob(id)->state(), v1::JOB_STATE_ACTIVE);
}

TEST_F(JobSweepsTest, TooManyRetryIndexesAreRefusedNamingTheField) {
  core_->LearnModels({testing::Model("esrgan")});
  const JobId id = Submit(Yaml("esrgan", "1-3"));
  std::vector<int32_t> many(kMaxRetryIndexes + 1, 0);
  absl::StatusOr<int32_t> retried = core_->RetryTasks(id, false, many);
  EXPECT_EQ(retried.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(retried.status().message(), HasSubstr("task_indexes"));
}

// The acceptance of "planning does not depend on what is connected".
TEST_F(JobSweepsTest, ASpecPlansTheSameBeforeAndAfterAWorkerAdvertisesItsModel) {
  const JobId early = Submit(Yaml("rife", "1-6"));
  absl::StatusOr<v1::Job> waiting = core_->GetJob(early);
  ASSERT_TRUE(waiting.ok());
  EXPECT_EQ(waiting->state(), v1::JOB_STATE_WAITING);
  EXPECT_THAT(waiting->message(), HasSubstr("waiting for model rife"));
  EXPECT_THAT(*core_->GetTasks(early), IsEmpty());

  auto channel = std::make_shared<FakeChannel>();
  ASSERT_TRUE(
      core_
          ->WorkerHello(testing::MakeHello("w1", {testing::CpuDevice()}, {Interpolator()}), channel)
          .ok());
  EXPECT_EQ(core_->GetJob(early)->state(), v1::JOB_STATE_ACTIVE);
  const JobId late = Submit(Yaml("rife", "1-6"));
  absl::StatusOr<std::vector<v1::Task>> a = core_->GetTasks(early);
  absl::StatusOr<std::vector<v1::Task>> b = core_->GetTasks(late);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), 6u);
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) {
    EXPECT_THAT((*a)[i].frames(), ::testing::ElementsAreArray((*b)[i].frames()));
  }
  // The factor and window the plan used are in both specs.
  for (JobId id : {early, late}) {
    absl::StatusOr<v1::Job> job = core_->GetJob(id);
    ASSERT_TRUE(job.ok());
    const v1::StageSpec& stage = job->spec().stages(0);
    EXPECT_EQ(stage.params().at("factor"), "2");
    EXPECT_EQ(stage.window_after(), 1);
  }
}

// The server prepares a submission on its planner thread and admits it on the core's: a
// hello that brings the model in between must not leave the job waiting for a hello.
TEST_F(JobSweepsTest, AJobPreparedBeforeTheHelloThatBringsItsModelIsPlannedWhenAdmitted) {
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(Yaml("rife", "1-6"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<PreparedJob> prepared = core_->PrepareJob(*spec);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  ASSERT_FALSE(prepared->planned());  // nobody has advertised rife yet
  auto channel = std::make_shared<FakeChannel>();
  ASSERT_TRUE(
      core_
          ->WorkerHello(testing::MakeHello("w1", {testing::CpuDevice()}, {Interpolator()}), channel)
          .ok());
  absl::StatusOr<SubmitResult> admitted = core_->AdmitJob(*std::move(prepared), "");
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  absl::StatusOr<v1::Job> job = core_->GetJob(admitted->id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), v1::JOB_STATE_ACTIVE) << job->message();
  EXPECT_THAT(*core_->GetTasks(admitted->id), ::testing::SizeIs(6));
}

TEST_F(JobSweepsTest, AJobWaitingForAModelIsCanceledWhenItsDependencyFails) {
  core_->LearnModels({testing::Model("esrgan")});
  const JobId upstream = Submit(Yaml("esrgan", "1"));
  const JobId dependent =
      Submit(Yaml("rife", "1-2") + absl::StrCat("depends_on_jobs: [", upstream.value(), "]\n"));
  ASSERT_TRUE(core_->CancelJob(upstream).ok());
  absl::StatusOr<v1::Job> job = core_->GetJob(dependent);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), v1::JOB_STATE_FAILED);
  EXPECT_THAT(job->message(), HasSubstr("did not succeed"));
}

}  // namespace
}  // namespace genfarm::scheduler
