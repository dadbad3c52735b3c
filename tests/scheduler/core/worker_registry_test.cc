#include "scheduler/core/worker_registry.h"

#include "gtest/gtest.h"
#include "tests/scheduler/core/fakes.h"

namespace genfarm::scheduler {
namespace {

using testing::GpuDevice;
using testing::kGiB;
using testing::MakeHello;
using testing::Model;

TEST(WorkerRegistryTest, LiveViewSubtractsWhatRunningAttemptsHold) {
  testing::RecordingSink sink;
  AttemptTable attempts(sink);
  WorkerRegistry workers;
  const WorkerId id("gpu1");
  LiveWorker& worker = workers.Upsert(id);
  workers.Learn(MakeHello("gpu1", {GpuDevice(0, 24 * kGiB), GpuDevice(1, 24 * kGiB)},
                          {Model("esrgan", 2 * kGiB, 1, 1)}, /*slots=*/3),
                worker);
  LiveAttempt a;
  a.worker = id;
  a.device = 1;
  a.reserved_bytes = 10 * kGiB;
  attempts.Grant(a);

  const WorkerView still = workers.StaticView(id, worker);
  EXPECT_EQ(still.free_slots, 3);
  EXPECT_EQ(still.devices[1].memory_free_bytes, 24 * kGiB);
  const WorkerView live = workers.LiveView(id, worker, attempts);
  EXPECT_EQ(live.free_slots, 2);
  EXPECT_EQ(live.devices[0].memory_free_bytes, 24 * kGiB);
  EXPECT_EQ(live.devices[1].memory_free_bytes, 14 * kGiB);
}

TEST(WorkerRegistryTest, ModelCatalogKeepsWhatWorkersAdvertised) {
  WorkerRegistry workers;
  LiveWorker& worker = workers.Upsert(WorkerId("w1"));
  workers.Learn(MakeHello("w1", {}, {Model("rife", kGiB, 1, 2)}), worker);
  ASSERT_NE(workers.FindModel("rife"), nullptr);
  EXPECT_EQ(workers.ModelWindow("rife").before, 1);
  EXPECT_EQ(workers.ModelWindow("rife").after, 2);
  EXPECT_EQ(workers.FindModel("ghost"), nullptr);
  EXPECT_EQ(workers.ModelWindow("ghost").after, 0);
}

TEST(WorkerRegistryTest, DrainingOrShuttingDownWorkersAcceptNothing) {
  WorkerRegistry workers;
  LiveWorker& worker = workers.Upsert(WorkerId("w1"));
  EXPECT_FALSE(worker.accepting());  // offline
  worker.channel = std::make_shared<testing::FakeChannel>();
  EXPECT_TRUE(worker.accepting());
  worker.draining = true;
  EXPECT_FALSE(worker.accepting());
  worker.draining = false;
  worker.shutting_down = true;
  EXPECT_FALSE(worker.accepting());
  EXPECT_TRUE(worker.online());
}

}  // namespace
}  // namespace genfarm::scheduler
