#include "worker/runtime/model_cache.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FakeRunner : public ModelRunner {
 public:
  explicit FakeRunner(std::string name) : name(std::move(name)) {}
  absl::StatusOr<std::vector<Image>> Upscale(const std::vector<Image>& batch,
                                             const RunOptions&) override {
    return batch;
  }
  absl::StatusOr<Image> Interpolate(const Image& a, const Image&, float,
                                    const RunOptions&) override {
    return a;
  }
  std::string name;
};

// Loads instantly (advancing the fake clock by `load_time`), fails for models in
// `broken`, and can be made to block until released.
class FakeLoader : public ModelLoader {
 public:
  explicit FakeLoader(FakeClock& clock) : clock_(clock) {}

  absl::StatusOr<std::unique_ptr<ModelRunner>> Load(const Manifest& m,
                                                    const DeviceSpec& device) override {
    {
      absl::MutexLock lock(&mu_);
      ++calls_[m.name];
    }
    if (entered_ != nullptr && !entered_->HasBeenNotified()) entered_->Notify();
    if (release_ != nullptr) release_->WaitForNotification();
    clock_.Advance(load_time);
    if (broken.count(m.name)) {
      return absl::InternalError("model " + m.name + ": cannot load model.pt: bad archive");
    }
    return std::make_unique<FakeRunner>(m.name + "@" + device.Key());
  }

  int calls(const std::string& name) {
    absl::MutexLock lock(&mu_);
    return calls_[name];
  }
  void BlockUntil(absl::Notification* entered, absl::Notification* release) {
    entered_ = entered;
    release_ = release;
  }

  absl::Duration load_time = absl::Seconds(2);
  std::set<std::string> broken;

 private:
  FakeClock& clock_;
  absl::Mutex mu_;
  std::map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
  absl::Notification* entered_ = nullptr;
  absl::Notification* release_ = nullptr;
};

Manifest Model(const std::string& name, int64_t bytes) {
  Manifest m;
  m.name = name;
  m.version = "1.0.0";
  m.sha256 = std::string(64, 'a');
  m.memory_bytes = bytes;
  return m;
}

const DeviceSpec kCpu{"cpu", 0, "cpu", 0};
const DeviceSpec kGpu{"cuda", 0, "fake gpu", 1000};

std::vector<std::string> Resident(const ModelCache& cache) {
  std::vector<std::string> out;
  for (const LoadedModel& m : cache.loaded()) out.push_back(m.model + "@" + m.device);
  return out;
}

class ModelCacheTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  FakeLoader loader_{clock_};
  ModelCache cache_{loader_, clock_};
};

TEST_F(ModelCacheTest, HitReusesTheLoadedModel) {
  std::vector<CacheEvent> events;
  cache_.SetObserver([&](const CacheEvent& e) { events.push_back(e); });
  auto first = cache_.Get(Model("a", 100), kCpu);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = cache_.Get(Model("a", 100), kCpu);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->get(), second->get());
  EXPECT_EQ(loader_.calls("a"), 1);

  CacheStats stats = cache_.stats();
  EXPECT_EQ(stats.loads, 1);
  EXPECT_EQ(stats.hits, 1);
  EXPECT_EQ(stats.evictions, 0);
  EXPECT_DOUBLE_EQ(stats.load_seconds["a"], 2.0);  // measured on the injected clock
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, CacheEvent::Type::kLoad);
  EXPECT_DOUBLE_EQ(events[0].load_seconds, 2.0);
  EXPECT_EQ(events[0].device, "cpu:0");
  EXPECT_EQ(events[1].type, CacheEvent::Type::kHit);
}

TEST_F(ModelCacheTest, EvictsLeastRecentlyUsedToFitTheBudget) {
  cache_.SetBudget(kCpu, 300);
  ASSERT_TRUE(cache_.Get(Model("a", 100), kCpu).ok());
  ASSERT_TRUE(cache_.Get(Model("b", 100), kCpu).ok());
  ASSERT_TRUE(cache_.Get(Model("a", 100), kCpu).ok());  // a is now the most recent
  EXPECT_EQ(cache_.used_bytes(kCpu), 200);

  ASSERT_TRUE(cache_.Get(Model("c", 150), kCpu).ok());  // 350 > 300: b goes
  EXPECT_THAT(Resident(cache_), ElementsAre("c@cpu:0", "a@cpu:0"));
  EXPECT_EQ(cache_.used_bytes(kCpu), 250);
  EXPECT_EQ(cache_.stats().evictions, 1);

  ASSERT_TRUE(cache_.Get(Model("b", 100), kCpu).ok());  // reloaded, evicting a
  EXPECT_EQ(loader_.calls("b"), 2);
  EXPECT_THAT(Resident(cache_), ElementsAre("b@cpu:0", "c@cpu:0"));
}

TEST_F(ModelCacheTest, NeverEvictsAModelInUse) {
  cache_.SetBudget(kCpu, 200);
  auto a = cache_.Get(Model("a", 100), kCpu);  // held by this test
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(cache_.Get(Model("b", 100), kCpu).ok());  // released at once
  auto c = cache_.Get(Model("c", 100), kCpu);           // evicts b, not the older a
  ASSERT_TRUE(c.ok());
  EXPECT_THAT(Resident(cache_), ElementsAre("c@cpu:0", "a@cpu:0"));
  EXPECT_TRUE(cache_.loaded()[1].in_use);

  absl::StatusOr<std::shared_ptr<ModelRunner>> d = cache_.Get(Model("d", 100), kCpu);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(d.status().message(), HasSubstr("model d needs 100 bytes on cpu:0"));
  EXPECT_THAT(d.status().message(), HasSubstr("a (100 bytes)"));

  a->reset();  // a is free now: d fits by evicting it
  ASSERT_TRUE(cache_.Get(Model("d", 100), kCpu).ok());
  EXPECT_THAT(Resident(cache_), ElementsAre("d@cpu:0", "c@cpu:0"));
}

TEST_F(ModelCacheTest, ModelLargerThanTheBudgetIsRejected) {
  cache_.SetBudget(kCpu, 50);
  auto got = cache_.Get(Model("huge", 100), kCpu);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(got.status().message(), HasSubstr("model huge needs 100 bytes"));
  EXPECT_EQ(loader_.calls("huge"), 0);
}

TEST_F(ModelCacheTest, DefaultBudgetIsAFractionOfDeviceMemory) {
  // kGpu has 1000 bytes: 800 usable by default.
  ASSERT_TRUE(cache_.Get(Model("a", 500), kGpu).ok());
  ASSERT_TRUE(cache_.Get(Model("b", 300), kGpu).ok());
  ASSERT_TRUE(cache_.Get(Model("c", 100), kGpu).ok());  // 900 > 800: evicts a
  EXPECT_THAT(Resident(cache_), ElementsAre("c@cuda:0", "b@cuda:0"));
}

TEST_F(ModelCacheTest, DevicesAreCachedAndBudgetedSeparately) {
  cache_.SetBudget(kCpu, 100);
  auto on_cpu = cache_.Get(Model("a", 100), kCpu);
  auto on_gpu = cache_.Get(Model("a", 100), kGpu);
  ASSERT_TRUE(on_cpu.ok() && on_gpu.ok());
  EXPECT_NE(on_cpu->get(), on_gpu->get());
  EXPECT_EQ(static_cast<FakeRunner*>(on_gpu->get())->name, "a@cuda:0");
  EXPECT_EQ(loader_.calls("a"), 2);
  EXPECT_EQ(cache_.stats().evictions, 0);
}

TEST_F(ModelCacheTest, FailedLoadIsReportedAndRetriedNextTime) {
  loader_.broken.insert("broken");
  std::vector<CacheEvent> events;
  cache_.SetObserver([&](const CacheEvent& e) { events.push_back(e); });
  auto got = cache_.Get(Model("broken", 100), kCpu);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(got.status().message(), HasSubstr("model broken"));
  EXPECT_EQ(cache_.used_bytes(kCpu), 0);  // its reservation is released
  EXPECT_TRUE(cache_.Get(Model("good", 100), kCpu).ok());
  EXPECT_FALSE(cache_.Get(Model("broken", 100), kCpu).ok());
  EXPECT_EQ(loader_.calls("broken"), 2);
  EXPECT_EQ(cache_.stats().load_failures, 2);
  EXPECT_EQ(cache_.stats().loads, 1);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].type, CacheEvent::Type::kLoadFailure);
}

TEST_F(ModelCacheTest, NewWeightsUnderTheSameNameAreReloaded) {
  Manifest v1 = Model("a", 100);
  Manifest v2 = v1;
  v2.sha256 = std::string(64, 'b');
  auto old_runner = cache_.Get(v1, kCpu);
  auto new_runner = cache_.Get(v2, kCpu);
  ASSERT_TRUE(old_runner.ok() && new_runner.ok());
  EXPECT_NE(old_runner->get(), new_runner->get());
  EXPECT_EQ(loader_.calls("a"), 2);
  EXPECT_EQ(cache_.used_bytes(kCpu), 100);  // the old one left the cache
}

TEST_F(ModelCacheTest, EvictUnusedKeepsModelsInUse) {
  auto held = cache_.Get(Model("a", 100), kCpu);
  ASSERT_TRUE(cache_.Get(Model("b", 100), kCpu).ok());
  cache_.EvictUnused();
  EXPECT_THAT(Resident(cache_), ElementsAre("a@cpu:0"));
}

TEST_F(ModelCacheTest, ConcurrentGetsOfOneModelLoadItOnce) {
  absl::Notification entered, release;
  loader_.BlockUntil(&entered, &release);
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::vector<ModelRunner*> got(kThreads, nullptr);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto r = cache_.Get(Model("a", 100), kCpu);
      if (r.ok()) got[i] = r->get();
    });
  }
  // The first load is in progress; the other threads either wait for it or arrive after
  // it finished. Either way there is exactly one load.
  entered.WaitForNotification();
  release.Notify();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(loader_.calls("a"), 1);
  for (ModelRunner* r : got) EXPECT_EQ(r, got[0]);
  EXPECT_NE(got[0], nullptr);
  CacheStats stats = cache_.stats();
  EXPECT_EQ(stats.loads, 1);
  EXPECT_EQ(stats.hits, kThreads - 1);
}

}  // namespace
}  // namespace genfarm::worker
