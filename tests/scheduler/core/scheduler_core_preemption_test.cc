// Acceptance 4: a dailies job submitted behind a full batch queue starts within the
// preemption limit, through the real SchedulerCore on a FakeClock; the preempted batch
// task is requeued without being charged and keeps the frames it finished.
#include <algorithm>
#include <memory>
#include <vector>

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/policy/genfarm_policy.h"
#include "tests/scheduler/core/fakes.h"

namespace genfarm::scheduler {
namespace {

using ::testing::ElementsAre;
using testing::FakeChannel;
using testing::GpuDevice;
using ::testing::IsEmpty;
using testing::kGiB;
using testing::MakeHello;
using testing::Model;
using testing::RecordingSink;
using ::testing::SizeIs;

constexpr int64_t kLimitMs = 120'000;

v1::JobSpec Job(const std::string& name, v1::Tier tier, const std::string& frames, int chunk) {
  v1::JobSpec spec;
  spec.set_name(name);
  spec.set_project(name == "dailies" ? "review" : "show");
  spec.set_tier(tier);
  spec.set_priority(50);
  v1::StageSpec* stage = spec.add_stages();
  stage->set_name("upres");
  stage->set_kind(v1::STAGE_KIND_MODEL);
  stage->set_model("esrgan");
  stage->set_input("in/plate.####.exr");
  stage->set_output("out/" + name + ".####.exr");
  stage->set_frames(frames);
  stage->set_chunk(chunk);
  stage->set_retries(0);  // a charged retry would fail the task: preemption must not charge
  stage->set_gpus(1);
  return spec;
}

class PreemptionTest : public ::testing::Test {
 protected:
  PreemptionTest() {
    config_.preempt_after_ms = kLimitMs;
    policy_ = std::make_unique<GenFarmPolicy>(config_);
    CoreOptions options;
    options.lease_ttl = absl::Hours(1);  // the fake workers' heartbeats list no attempts
    core_ = std::make_unique<SchedulerCore>(clock_, sink_, *policy_, options);
    core_->LearnModels({testing::Model("esrgan", 20 * kGiB)});  // as if a worker had advertised it
    for (const char* id : {"w0", "w1"}) {
      auto channel = std::make_shared<FakeChannel>();
      EXPECT_TRUE(
          core_
              ->WorkerHello(MakeHello(id, {GpuDevice(0, 24 * kGiB)}, {Model("esrgan", 20 * kGiB)}),
                            channel)
              .ok());
      channels_.push_back(channel);
    }
  }

  // One second passes: workers heartbeat (so they keep their leases), the core ticks.
  void Second() {
    clock_.Advance(absl::Seconds(1));
    for (const char* id : {"w0", "w1"}) core_->WorkerHeartbeat(WorkerId(id), v1::Heartbeat{});
    core_->Tick();
  }

  void Progress(const std::string& worker, const v1::Assignment& a, int64_t frames_done) {
    v1::Progress p;
    p.set_attempt_id(a.attempt_id());
    p.set_frames_done(frames_done);
    core_->WorkerProgress(WorkerId(worker), p);
  }

  PolicyConfig config_;
  FakeClock clock_;
  RecordingSink sink_;
  std::unique_ptr<GenFarmPolicy> policy_;
  std::unique_ptr<SchedulerCore> core_;
  std::vector<std::shared_ptr<FakeChannel>> channels_;
};

TEST_F(PreemptionTest, DailiesBehindAFullBatchQueueStartsWithinTheLimit) {
  // Batch fills both single-slot GPUs with long tasks, and more are queued behind them.
  auto batch = core_->SubmitJob(Job("batch", v1::TIER_BATCH, "1001-1080", 10), "");
  ASSERT_TRUE(batch.ok()) << batch.status();
  core_->Dispatch();
  ASSERT_THAT(channels_[0]->Assignments(), SizeIs(1));
  // Both started at once; the later attempt (w1's) counts as the younger.
  ASSERT_THAT(channels_[1]->Assignments(), SizeIs(1));
  const v1::Assignment victim_before = channels_[1]->Assignments()[0];
  Progress("w1", victim_before, 3);  // frames 1..3 of its chunk are written

  auto dailies = core_->SubmitJob(Job("dailies", v1::TIER_DAILIES, "1-4", 4), "");
  ASSERT_TRUE(dailies.ok()) << dailies.status();
  int64_t waited_ms = 0;
  auto started = [&] {
    for (const auto& channel : channels_) {
      for (const v1::Assignment& a : channel->Assignments()) {
        if (a.job_id() == dailies->id.value()) return true;
      }
    }
    return false;
  };
  while (!started() && waited_ms <= 10 * kLimitMs) {
    Second();
    waited_ms += 1000;
  }
  ASSERT_TRUE(started()) << "dailies never started";
  EXPECT_LE(waited_ms, kLimitMs + 1000);  // the core asks the policy once a second
  EXPECT_GE(waited_ms, kLimitMs);         // and batch is not preempted before the limit

  // The youngest batch attempt (w1's) was preempted; w0's keeps running.
  EXPECT_THAT(channels_[0]->Cancels(), IsEmpty());
  ASSERT_THAT(channels_[1]->Cancels(), SizeIs(1));
  EXPECT_EQ(channels_[1]->Cancels()[0].attempt_id(), victim_before.attempt_id());
  EXPECT_EQ(channels_[1]->Cancels()[0].reason(), v1::FAILURE_REASON_PREEMPTED);
  EXPECT_EQ(channels_[1]->Assignments().back().job_id(), dailies->id.value());

  // Requeued, not charged, finished frames kept.
  auto tasks = core_->GetTasks(batch->id);
  ASSERT_TRUE(tasks.ok());
  const v1::Task& task = (*tasks)[victim_before.task_index()];
  EXPECT_EQ(task.state(), v1::TASK_STATE_QUEUED);
  EXPECT_EQ(task.attempts(), 0);
  EXPECT_EQ(task.failure_reason(), v1::FAILURE_REASON_PREEMPTED);
  EXPECT_EQ(task.frames_done(), 3);

  // Run everything to the end; every batch frame is assigned exactly once after
  // subtracting what the preempted attempt had finished.
  std::vector<int64_t> written(victim_before.frames().begin(), victim_before.frames().begin() + 3);
  std::vector<int64_t> seen_attempts;
  for (int round = 0; round < 100; ++round) {
    bool any = false;
    for (size_t w = 0; w < channels_.size(); ++w) {
      for (const v1::Assignment& a : channels_[w]->Assignments()) {
        if (std::find(seen_attempts.begin(), seen_attempts.end(), a.attempt_id()) !=
            seen_attempts.end())
          continue;
        seen_attempts.push_back(a.attempt_id());
        if (a.attempt_id() == victim_before.attempt_id()) continue;  // preempted, results ignored
        any = true;
        if (a.job_id() == batch->id.value())
          written.insert(written.end(), a.frames().begin(), a.frames().end());
        v1::Result r;
        r.set_attempt_id(a.attempt_id());
        r.set_success(true);
        r.set_job_id(a.job_id());
        r.set_task_index(a.task_index());
        core_->WorkerResult(WorkerId(w == 0 ? "w0" : "w1"), r);
      }
    }
    core_->Dispatch();
    if (!any) break;
  }
  std::sort(written.begin(), written.end());
  std::vector<int64_t> all;
  for (int64_t f = 1001; f <= 1080; ++f) all.push_back(f);
  EXPECT_EQ(written, all);  // none lost, none twice
  EXPECT_EQ(core_->GetJob(batch->id)->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(core_->GetJob(dailies->id)->state(), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(PreemptionTest, BatchIsNeverPreemptedForBatch) {
  ASSERT_TRUE(core_->SubmitJob(Job("batch", v1::TIER_BATCH, "1001-1040", 10), "").ok());
  core_->Dispatch();
  auto urgent = Job("urgent-batch", v1::TIER_BATCH, "1-4", 4);
  urgent.set_priority(100);
  ASSERT_TRUE(core_->SubmitJob(urgent, "").ok());
  for (int i = 0; i < 5 * kLimitMs / 1000; ++i) Second();
  ASSERT_THAT(channels_[0]->Assignments(), SizeIs(1));  // still running, never lost
  EXPECT_THAT(channels_[0]->Cancels(), IsEmpty());
  EXPECT_THAT(channels_[1]->Cancels(), IsEmpty());
}

}  // namespace
}  // namespace genfarm::scheduler
