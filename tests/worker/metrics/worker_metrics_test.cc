#include "worker/metrics/worker_metrics.h"

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "tests/lib/metrics_test_util.h"
#include "worker/runtime/model_cache.h"

namespace genfarm::worker {
namespace {

using ::genfarm::testing::BucketCount;
using ::genfarm::testing::CounterValue;
using ::genfarm::testing::GaugeValue;
using ::genfarm::testing::HistogramCount;
using ::genfarm::testing::HistogramSum;
using ::genfarm::testing::LabelNames;
using ::testing::Contains;
using ::testing::Not;

class FakeRunner : public ModelRunner {
 public:
  absl::StatusOr<std::vector<Image>> Upscale(const std::vector<Image>& batch,
                                             const RunOptions&) override {
    return batch;
  }
  absl::StatusOr<Image> Interpolate(const Image& a, const Image&, float,
                                    const RunOptions&) override {
    return a;
  }
};

// Loads take `load_time` of fake time; models named "broken" fail.
class FakeLoader : public ModelLoader {
 public:
  explicit FakeLoader(FakeClock& clock) : clock_(clock) {}
  absl::StatusOr<std::unique_ptr<ModelRunner>> Load(const Manifest& m, const DeviceSpec&) override {
    clock_.Advance(load_time);
    if (m.name == "broken") return absl::InternalError("model broken: bad archive");
    return std::make_unique<FakeRunner>();
  }
  absl::Duration load_time = absl::Seconds(2);

 private:
  FakeClock& clock_;
};

Manifest Model(const std::string& name, int64_t bytes) {
  Manifest m;
  m.name = name;
  m.version = "1.0.0";
  m.sha256 = std::string(64, 'a');
  m.memory_bytes = bytes;
  return m;
}

const DeviceSpec kGpu{"cuda", 0, "fake gpu", 1000};  // budget 800 bytes (default 0.8)

class WorkerMetricsTest : public ::testing::Test {
 protected:
  WorkerMetricsTest() : metrics_(registry_), loader_(clock_), cache_(loader_, clock_) {
    cache_.SetObserver([this](const CacheEvent& e) { metrics_.OnCacheEvent(e); });
  }

  prometheus::Registry registry_;
  WorkerMetrics metrics_;
  FakeClock clock_;
  FakeLoader loader_;
  ModelCache cache_;
};

TEST_F(WorkerMetricsTest, CacheLoadsHitsEvictionsAndFailuresAreCountedByModelAndDevice) {
  ASSERT_TRUE(cache_.Get(Model("esrgan", 500), kGpu).ok());  // load
  ASSERT_TRUE(cache_.Get(Model("esrgan", 500), kGpu).ok());  // hit
  ASSERT_TRUE(cache_.Get(Model("esrgan", 500), kGpu).ok());  // hit
  loader_.load_time = absl::Seconds(5);
  ASSERT_TRUE(cache_.Get(Model("rife", 500), kGpu).ok());  // evicts esrgan to fit
  EXPECT_FALSE(cache_.Get(Model("broken", 100), kGpu).ok());

  const testing::LabelMap esrgan{{"model", "esrgan"}, {"device", "cuda:0"}};
  EXPECT_EQ(CounterValue(registry_, kModelLoadsMetric, esrgan), 1);
  EXPECT_EQ(CounterValue(registry_, kCacheHitsMetric, esrgan), 2);
  EXPECT_EQ(CounterValue(registry_, kEvictionsMetric, esrgan), 1);
  EXPECT_EQ(CounterValue(registry_, kModelLoadsMetric, {{"model", "rife"}, {"device", "cuda:0"}}),
            1);
  EXPECT_EQ(CounterValue(registry_, kModelLoadFailuresMetric,
                         {{"model", "broken"}, {"device", "cuda:0"}}),
            1);
  EXPECT_EQ(CounterValue(registry_, kModelLoadsMetric, {{"model", "broken"}, {"device", "cuda:0"}}),
            -1);
  EXPECT_EQ(HistogramCount(registry_, kModelLoadSecondsMetric, {{"model", "esrgan"}}), 1);
  EXPECT_DOUBLE_EQ(HistogramSum(registry_, kModelLoadSecondsMetric, {{"model", "esrgan"}}), 2.0);
  EXPECT_DOUBLE_EQ(HistogramSum(registry_, kModelLoadSecondsMetric, {{"model", "rife"}}), 5.0);
}

TEST_F(WorkerMetricsTest, TaskTimingsCountFramesAndSpreadStageTimesOverThem) {
  metrics_.OnTaskTimings(TaskTimings{"esrgan", 4, /*read=*/0.04, /*compute=*/2.0, /*write=*/0.4});
  metrics_.OnTaskTimings(TaskTimings{"esrgan", 2, 0.02, 8.0, 0.2});

  EXPECT_EQ(CounterValue(registry_, kFramesProcessedMetric, {{"model", "esrgan"}}), 6);
  EXPECT_EQ(CounterValue(registry_, kTasksProcessedMetric, {{"model", "esrgan"}}), 2);
  // Inference: 4 frames at 0.5 s and 2 frames at 4 s each.
  EXPECT_EQ(HistogramCount(registry_, kInferenceMetric, {{"model", "esrgan"}}), 6);
  EXPECT_DOUBLE_EQ(HistogramSum(registry_, kInferenceMetric, {{"model", "esrgan"}}), 10.0);
  EXPECT_EQ(BucketCount(registry_, kInferenceMetric, {{"model", "esrgan"}}, 0.25), 0);
  EXPECT_EQ(BucketCount(registry_, kInferenceMetric, {{"model", "esrgan"}}, 0.5), 4);
  EXPECT_EQ(BucketCount(registry_, kInferenceMetric, {{"model", "esrgan"}}, 2.5), 4);
  EXPECT_EQ(BucketCount(registry_, kInferenceMetric, {{"model", "esrgan"}}, 5), 6);
  EXPECT_DOUBLE_EQ(HistogramSum(registry_, kReadMetric, {{"model", "esrgan"}}), 0.06);
  EXPECT_EQ(HistogramCount(registry_, kWriteMetric, {{"model", "esrgan"}}), 6);
  EXPECT_DOUBLE_EQ(HistogramSum(registry_, kWriteMetric, {{"model", "esrgan"}}), 0.6);
}

TEST_F(WorkerMetricsTest, FencingLogDropsAndFailuresAreCounted) {
  metrics_.OnLeaseLost();
  metrics_.OnRenameRefused();
  metrics_.OnRenameRefused();
  metrics_.OnLogLinesDropped(7);
  metrics_.OnTaskFailed("disk_full");
  metrics_.OnTaskFailed("disk_full");
  metrics_.OnTaskFailed("out_of_memory");
  EXPECT_EQ(CounterValue(registry_, kLeasesLostMetric, {}), 1);
  EXPECT_EQ(CounterValue(registry_, kRenamesRefusedMetric, {}), 2);
  EXPECT_EQ(CounterValue(registry_, kLogLinesDroppedMetric, {}), 7);
  EXPECT_EQ(CounterValue(registry_, kTasksFailedMetric, {{"reason", "disk_full"}}), 2);
  EXPECT_EQ(CounterValue(registry_, kTasksFailedMetric, {{"reason", "out_of_memory"}}), 1);
}

TEST_F(WorkerMetricsTest, RefreshSetsSlotsAndDeviceMemoryGauges) {
  ASSERT_TRUE(cache_.Get(Model("esrgan", 500), kGpu).ok());
  WorkerSnapshot snapshot;
  snapshot.slots = 2;
  snapshot.busy_slots = 1;
  snapshot.connected = true;
  snapshot.devices.push_back({kGpu.Key(), cache_.used_bytes(kGpu), kGpu.memory_total_bytes, 1});
  metrics_.Refresh(snapshot);

  EXPECT_EQ(GaugeValue(registry_, kSlotsMetric), 2);
  EXPECT_EQ(GaugeValue(registry_, kBusySlotsMetric), 1);
  EXPECT_EQ(GaugeValue(registry_, kDrainingMetric), 0);
  EXPECT_EQ(GaugeValue(registry_, kConnectedMetric), 1);
  EXPECT_EQ(GaugeValue(registry_, kDeviceMemoryUsedMetric, {{"device", "cuda:0"}}), 500);
  EXPECT_EQ(GaugeValue(registry_, kDeviceMemoryTotalMetric, {{"device", "cuda:0"}}), 1000);
  EXPECT_EQ(GaugeValue(registry_, kModelsLoadedMetric, {{"device", "cuda:0"}}), 1);

  snapshot.busy_slots = 0;
  snapshot.draining = true;
  snapshot.devices[0].used_bytes = 0;
  metrics_.Refresh(snapshot);
  EXPECT_EQ(GaugeValue(registry_, kBusySlotsMetric), 0);
  EXPECT_EQ(GaugeValue(registry_, kDrainingMetric), 1);
  EXPECT_EQ(GaugeValue(registry_, kDeviceMemoryUsedMetric, {{"device", "cuda:0"}}), 0);
}

TEST_F(WorkerMetricsTest, NamesFollowConventionsAndLabelsAreBounded) {
  ASSERT_TRUE(cache_.Get(Model("esrgan", 500), kGpu).ok());
  metrics_.OnTaskTimings(TaskTimings{"esrgan", 1, 0.1, 0.1, 0.1});
  WorkerSnapshot snapshot;
  snapshot.devices.push_back({"cuda:0", 1, 2, 1});
  metrics_.Refresh(snapshot);

  const std::regex name(R"(genfarm_worker_[a-z_]+)");
  for (const prometheus::MetricFamily& family : registry_.Collect()) {
    EXPECT_TRUE(std::regex_match(family.name, name)) << family.name;
    const bool total =
        family.name.size() > 6 && family.name.substr(family.name.size() - 6) == "_total";
    EXPECT_EQ(family.type == prometheus::MetricType::Counter, total) << family.name;
    EXPECT_FALSE(family.help.empty()) << family.name;
  }
  for (const char* forbidden : {"job", "task", "frame", "attempt", "job_id", "attempt_id"}) {
    EXPECT_THAT(LabelNames(registry_), Not(Contains(forbidden)));
  }
}

}  // namespace
}  // namespace genfarm::worker
