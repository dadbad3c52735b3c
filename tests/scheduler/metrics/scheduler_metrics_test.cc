#include "scheduler/metrics/scheduler_metrics.h"

#include <memory>
#include <regex>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/policy/genfarm_policy.h"
#include "tests/lib/metrics_test_util.h"
#include "tests/scheduler/core/fakes.h"

namespace genfarm::scheduler {
namespace {

using ::genfarm::testing::BucketCount;
using ::genfarm::testing::CounterValue;
using ::genfarm::testing::GaugeValue;
using ::genfarm::testing::HistogramCount;
using ::genfarm::testing::HistogramSum;
using ::genfarm::testing::LabelNames;
using ::testing::Contains;
using testing::CpuDevice;
using testing::FakeChannel;
using testing::MakeHello;
using testing::Model;
using ::testing::Not;
using testing::RecordingSink;

CommitStats Commit(size_t records, double seconds, bool ok) {
  CommitStats stats;
  stats.records = records;
  stats.seconds = seconds;
  stats.ok = ok;
  return stats;
}

std::string JobYaml(const std::string& project, const std::string& frames, int chunk, int retries,
                    const std::string& tier = "batch") {
  return absl::StrCat("name: job\nproject: ", project, "\ntier: ", tier, R"(
stages:
  - name: upres
    model: esrgan
    input: in/plate.####.exr
    output: out/upres.####.exr
    frames: ")",
                      frames, "\"\n    chunk: ", chunk, "\n    retries: ", retries, "\n");
}

// A real SchedulerCore on a fake clock reporting into SchedulerMetrics on a fresh registry.
class SchedulerMetricsTest : public ::testing::Test {
 protected:
  SchedulerMetricsTest()
      : metrics_(registry_), core_(clock_, sink_, policy_, CoreOptions{}, &metrics_) {
    core_.LearnModels({Model("esrgan")});  // as if a worker had advertised it before
  }

  JobId Submit(const std::string& yaml) {
    absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(yaml);
    EXPECT_TRUE(spec.ok()) << spec.status();
    absl::StatusOr<SubmitResult> result = core_.SubmitJob(*spec, "");
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->id : JobId(0);
  }

  std::shared_ptr<FakeChannel> Connect(const std::string& id, int slots = 1) {
    auto channel = std::make_shared<FakeChannel>();
    EXPECT_TRUE(
        core_.WorkerHello(MakeHello(id, {CpuDevice()}, {Model("esrgan")}, slots), channel).ok());
    return channel;
  }

  void Report(const std::string& worker, const v1::Assignment& a, bool success,
              v1::FailureReason reason = v1::FAILURE_REASON_UNSPECIFIED) {
    v1::Result r;
    r.set_attempt_id(a.attempt_id());
    r.set_success(success);
    r.set_failure_reason(reason);
    r.set_message(success ? "" : "frame 1: failed");
    r.set_job_id(a.job_id());
    r.set_task_index(a.task_index());
    core_.WorkerResult(WorkerId(worker), r);
  }

  void Refresh() { metrics_.Refresh(TakeFarmSnapshot(core_)); }

  FakeClock clock_;
  RecordingSink sink_;
  GenFarmPolicy policy_{PolicyConfig{}};
  prometheus::Registry registry_;
  SchedulerMetrics metrics_;
  SchedulerCore core_;
};

TEST_F(SchedulerMetricsTest, CompletedFramesAreCountedByProjectAndModel) {
  Submit(JobYaml("feature", "1-8", 4, 0));
  auto w1 = Connect("w1");
  core_.Dispatch();
  clock_.Advance(absl::Seconds(2));
  Report("w1", w1->Assignments().at(0), true);
  core_.Dispatch();
  clock_.Advance(absl::Seconds(3));
  Report("w1", w1->Assignments().at(1), true);

  EXPECT_EQ(CounterValue(registry_, kFramesCompletedMetric,
                         {{"project", "feature"}, {"model", "esrgan"}}),
            8);
  EXPECT_EQ(CounterValue(registry_, kAttemptsMetric,
                         {{"project", "feature"}, {"model", "esrgan"}, {"state", "succeeded"}}),
            2);
  EXPECT_EQ(
      HistogramCount(registry_, kTaskRunMetric, {{"model", "esrgan"}, {"state", "succeeded"}}), 2);
  EXPECT_DOUBLE_EQ(
      HistogramSum(registry_, kTaskRunMetric, {{"model", "esrgan"}, {"state", "succeeded"}}), 5.0);
  EXPECT_EQ(
      CounterValue(registry_, kFramesFailedMetric, {{"project", "feature"}, {"model", "esrgan"}}),
      -1)
      << "no task failed";
  // Scraped only after the job ended: its project still shows an empty queue, not no data.
  Refresh();
  EXPECT_EQ(GaugeValue(registry_, kQueueDepthMetric, {{"project", "feature"}, {"tier", "batch"}}),
            0);
}

TEST_F(SchedulerMetricsTest, DispatchLatencyIsTimeFromRunnableToAssigned) {
  Submit(JobYaml("feature", "1", 1, 0));
  clock_.Advance(absl::Seconds(3));  // nobody to run it yet
  auto w1 = Connect("w1");
  core_.Dispatch();
  ASSERT_EQ(w1->Assignments().size(), 1u);
  EXPECT_EQ(HistogramCount(registry_, kDispatchLatencyMetric, {{"project", "feature"}}), 1);
  EXPECT_DOUBLE_EQ(HistogramSum(registry_, kDispatchLatencyMetric, {{"project", "feature"}}), 3.0);
  EXPECT_EQ(BucketCount(registry_, kDispatchLatencyMetric, {{"project", "feature"}}, 2.5), 0);
  EXPECT_EQ(BucketCount(registry_, kDispatchLatencyMetric, {{"project", "feature"}}, 5), 1);
}

TEST_F(SchedulerMetricsTest, FailuresCountRequeuesRetriesAndFailedFrames) {
  Submit(JobYaml("commercial", "1-2", 2, /*retries=*/1));
  auto w1 = Connect("w1");
  core_.Dispatch();
  Report("w1", w1->Assignments().at(0), false, v1::FAILURE_REASON_MODEL_ERROR);
  EXPECT_EQ(CounterValue(registry_, kRequeuesMetric, {{"reason", "model_error"}}), 1);
  EXPECT_EQ(CounterValue(registry_, kRetriesMetric, {{"reason", "model_error"}}), 1);

  clock_.Advance(absl::Seconds(2));  // past the retry backoff
  core_.Tick();
  ASSERT_EQ(w1->Assignments().size(), 2u);
  Report("w1", w1->Assignments().at(1), false, v1::FAILURE_REASON_INPUT_MISSING);

  EXPECT_EQ(CounterValue(registry_, kAttemptsMetric,
                         {{"project", "commercial"}, {"model", "esrgan"}, {"state", "failed"}}),
            2);
  EXPECT_EQ(CounterValue(registry_, kFramesFailedMetric,
                         {{"project", "commercial"}, {"model", "esrgan"}}),
            2);
  EXPECT_EQ(CounterValue(registry_, kRequeuesMetric, {{"reason", "input_missing"}}), -1)
      << "retries used up";
  EXPECT_EQ(CounterValue(registry_, kFramesCompletedMetric,
                         {{"project", "commercial"}, {"model", "esrgan"}}),
            -1);
}

TEST_F(SchedulerMetricsTest, LostWorkerIsCountedAndItsWorkRequeuedWithoutARetry) {
  Submit(JobYaml("feature", "1", 1, 0));
  auto w1 = Connect("w1");
  core_.Dispatch();
  ASSERT_EQ(w1->Assignments().size(), 1u);
  clock_.Advance(absl::Seconds(30));  // > lease_ttl without a heartbeat
  core_.Tick();

  EXPECT_EQ(CounterValue(registry_, kWorkersLostMetric, {{"reason", "missed_heartbeats"}}), 1);
  EXPECT_EQ(CounterValue(registry_, kRequeuesMetric, {{"reason", "worker_lost"}}), 1);
  EXPECT_EQ(CounterValue(registry_, kRetriesMetric, {{"reason", "worker_lost"}}), -1);
  Refresh();
  EXPECT_EQ(GaugeValue(registry_, kConnectedWorkersMetric), 0);
  EXPECT_EQ(GaugeValue(registry_, kQueueDepthMetric, {{"project", "feature"}, {"tier", "batch"}}),
            1);
}

TEST_F(SchedulerMetricsTest, GaugesShowJobsTasksQueueWorkersAndSlots) {
  Refresh();
  EXPECT_EQ(GaugeValue(registry_, kJobsMetric, {{"state", "active"}}), 0)
      << "states exist before any job";
  EXPECT_EQ(GaugeValue(registry_, kTasksMetric, {{"state", "queued"}}), 0);

  Submit(JobYaml("feature", "1-6", 1, 0));                 // 6 tasks
  Submit(JobYaml("dailies", "1-2", 1, 0, "interactive"));  // 2 tasks
  Refresh();
  EXPECT_EQ(GaugeValue(registry_, kJobsMetric, {{"state", "active"}}), 2);
  EXPECT_EQ(GaugeValue(registry_, kTasksMetric, {{"state", "queued"}}), 8);
  EXPECT_EQ(GaugeValue(registry_, kQueueDepthMetric, {{"project", "feature"}, {"tier", "batch"}}),
            6);
  EXPECT_EQ(
      GaugeValue(registry_, kQueueDepthMetric, {{"project", "dailies"}, {"tier", "interactive"}}),
      2);
  EXPECT_EQ(GaugeValue(registry_, kConnectedWorkersMetric), 0);

  auto w1 = Connect("w1", /*slots=*/4);
  auto w2 = Connect("w2", /*slots=*/2);
  ASSERT_TRUE(core_.SetDrain(WorkerId("w2"), true).ok());
  core_.Dispatch();
  Refresh();
  EXPECT_EQ(GaugeValue(registry_, kConnectedWorkersMetric), 2);
  EXPECT_EQ(GaugeValue(registry_, kDrainingWorkersMetric), 1);
  EXPECT_EQ(GaugeValue(registry_, kSlotsMetric), 6);
  EXPECT_EQ(GaugeValue(registry_, kBusySlotsMetric), 4);
  EXPECT_EQ(GaugeValue(registry_, kFreeSlotsMetric), 0) << "a draining worker's slots are not free";
  EXPECT_EQ(GaugeValue(registry_, kTasksMetric, {{"state", "running"}}), 4);
  EXPECT_EQ(GaugeValue(registry_, kTasksMetric, {{"state", "queued"}}), 4);
  // Interactive is placed first: its queue drained to 0 but the series stays.
  EXPECT_EQ(
      GaugeValue(registry_, kQueueDepthMetric, {{"project", "dailies"}, {"tier", "interactive"}}),
      0);
  EXPECT_EQ(GaugeValue(registry_, kQueueDepthMetric, {{"project", "feature"}, {"tier", "batch"}}),
            4);

  for (const v1::Assignment& a : w1->Assignments()) Report("w1", a, true);
  Refresh();
  EXPECT_EQ(GaugeValue(registry_, kJobsMetric, {{"state", "succeeded"}}), 1);
  EXPECT_EQ(GaugeValue(registry_, kTasksMetric, {{"state", "succeeded"}}), 4);
}

TEST_F(SchedulerMetricsTest, StoreCommitsAreTimedAndFailuresCounted) {
  metrics_.OnCommit(Commit(10, 0.002, true));
  metrics_.OnCommit(Commit(3, 0.5, false));
  EXPECT_EQ(HistogramCount(registry_, kStoreCommitMetric), 2);
  EXPECT_DOUBLE_EQ(HistogramSum(registry_, kStoreCommitMetric), 0.502);
  EXPECT_EQ(BucketCount(registry_, kStoreCommitMetric, {}, 0.0025), 1);
  EXPECT_EQ(CounterValue(registry_, kStoreCommitFailuresMetric), 1);
  EXPECT_EQ(CounterValue(registry_, kStoreCommitRecordsMetric), 10);
}

TEST_F(SchedulerMetricsTest, NamesFollowConventionsAndLabelsAreBounded) {
  // Exercise every event so every family has series.
  Submit(JobYaml("feature", "1-2", 1, 1));
  auto w1 = Connect("w1");
  core_.Dispatch();
  Report("w1", w1->Assignments().at(0), false, v1::FAILURE_REASON_MODEL_ERROR);
  core_.Dispatch();
  Report("w1", w1->Assignments().at(1), true);
  metrics_.OnCommit(Commit(1, 0.001, true));
  Refresh();

  const std::regex name(R"(genfarm_scheduler_[a-z_]+)");
  for (const prometheus::MetricFamily& family : registry_.Collect()) {
    EXPECT_TRUE(std::regex_match(family.name, name)) << family.name;
    const bool total =
        family.name.size() > 6 && family.name.substr(family.name.size() - 6) == "_total";
    EXPECT_EQ(family.type == prometheus::MetricType::Counter, total) << family.name;
    EXPECT_FALSE(family.help.empty()) << family.name;
  }
  for (const char* forbidden :
       {"job", "task", "frame", "attempt", "worker", "job_id", "attempt_id"}) {
    EXPECT_THAT(LabelNames(registry_), Not(Contains(forbidden)));
  }
}

}  // namespace
}  // namespace genfarm::scheduler
