#include "scheduler/policy/genfarm_policy.h"

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/policy/eligibility.h"
#include "scheduler/policy/placement_policy.h"

namespace genfarm::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr int64_t kGiB = int64_t{1} << 30;

WorkGroup Group(int64_t job_id, const std::string& project = "show", int64_t queued = 1) {
  WorkGroup g;
  g.job_id = job_id;
  g.project = project;
  g.model = "esrgan";
  g.queued = queued;
  g.memory_bytes = kGiB;
  g.submit_ms = job_id * 1000;
  g.oldest_queued_ms = job_id * 1000;
  return g;
}

DeviceView Gpu(int32_t index, int64_t total, int64_t free = -1) {
  DeviceView d;
  d.index = index;
  d.kind = "cuda";
  d.memory_total_bytes = total;
  d.memory_free_bytes = free < 0 ? total : free;
  return d;
}

DeviceView Cpu(int64_t total = 64 * kGiB) {
  DeviceView d;
  d.index = -1;
  d.kind = "cpu";
  d.memory_total_bytes = total;
  d.memory_free_bytes = total;
  return d;
}

WorkerView Worker(const std::string& id, int32_t free_slots = 1,
                  std::vector<DeviceView> devices = {Cpu()}) {
  WorkerView w;
  w.id = id;
  w.free_slots = free_slots;
  w.models = {"esrgan"};
  w.devices = std::move(devices);
  return w;
}

// Placements as (job id -> count) and the ordered list of job ids placed.
std::vector<int64_t> JobsPlaced(const FarmView& view, const std::vector<Placement>& placements) {
  std::vector<int64_t> out;
  for (const Placement& p : placements) out.push_back(view.groups[p.group].job_id);
  return out;
}

std::vector<std::string> WorkersUsed(const FarmView& view,
                                     const std::vector<Placement>& placements) {
  std::vector<std::string> out;
  for (const Placement& p : placements) out.push_back(view.workers[p.worker].id);
  return out;
}

std::map<std::string, int> PerProject(const FarmView& view,
                                      const std::vector<Placement>& placements) {
  std::map<std::string, int> out;
  for (const Placement& p : placements) out[view.groups[p.group].project]++;
  return out;
}

class GenFarmPolicyTest : public ::testing::Test {
 protected:
  std::vector<Placement> Place(const FarmView& view) { return policy_.Place(view); }
  GenFarmPolicy policy_{PolicyConfig{}};
};

// --- Eligibility ---

TEST_F(GenFarmPolicyTest, TaskGoesOnlyToAWorkerCarryingEveryTag) {
  FarmView view;
  WorkGroup g = Group(1);
  g.tags = {"nuke", "linux"};
  view.groups = {g};
  WorkerView one_tag = Worker("one-tag");
  one_tag.tags = {"nuke"};
  WorkerView both = Worker("both");
  both.tags = {"nuke", "linux", "extra"};
  view.workers = {one_tag, Worker("none"), both};
  EXPECT_THAT(WorkersUsed(view, Place(view)), ElementsAre("both"));
}

TEST_F(GenFarmPolicyTest, PlacesNoMoreTasksThanFreeSlots) {
  FarmView view;
  view.groups = {Group(1, "show", /*queued=*/5)};
  view.workers = {Worker("w0", 0), Worker("w1", 2)};
  std::vector<Placement> placements = Place(view);
  EXPECT_THAT(WorkersUsed(view, placements), ElementsAre("w1", "w1"));
}

TEST_F(GenFarmPolicyTest, TaskGoesOnlyToAWorkerWithTheModel) {
  FarmView view;
  view.groups = {Group(1)};
  WorkerView without = Worker("without");
  without.models = {"rife"};
  view.workers = {without, Worker("with")};
  EXPECT_THAT(WorkersUsed(view, Place(view)), ElementsAre("with"));
  view.workers = {without};
  EXPECT_THAT(Place(view), IsEmpty());
}

TEST_F(GenFarmPolicyTest, ThirtyGigabyteModelDoesNotGoToA24GigabyteGpu) {
  FarmView view;
  WorkGroup g = Group(1);
  g.gpus = 1;
  g.memory_bytes = 30 * kGiB;
  view.groups = {g};
  view.workers = {Worker("rtx4090", 1, {Gpu(0, 24 * kGiB), Cpu()})};
  EXPECT_THAT(Place(view), IsEmpty());
  EXPECT_THAT(policy_.WhyUnplaceable(g, view.workers), HasSubstr("largest device"));

  view.workers.push_back(Worker("a6000", 1, {Gpu(0, 24 * kGiB), Gpu(1, 48 * kGiB)}));
  std::vector<Placement> placements = Place(view);
  ASSERT_THAT(placements, SizeIs(1));
  EXPECT_EQ(view.workers[placements[0].worker].id, "a6000");
  EXPECT_EQ(placements[0].device, 1);
}

TEST_F(GenFarmPolicyTest, MemoryInUseCountsAndEachPlacementReservesItsShare) {
  FarmView view;
  WorkGroup g = Group(1, "show", /*queued=*/3);
  g.gpus = 1;
  g.memory_bytes = 10 * kGiB;
  view.groups = {g};
  // 24 GiB card with 12 GiB in use by a running task: one more 10 GiB task fits, not two.
  view.workers = {Worker("w0", 3, {Gpu(0, 24 * kGiB, 12 * kGiB)})};
  EXPECT_THAT(Place(view), SizeIs(1));
}

TEST_F(GenFarmPolicyTest, BlockedWorkerIsSkipped) {
  FarmView view;
  WorkGroup g = Group(1);
  g.blocked_workers = {"w0"};
  view.groups = {g};
  view.workers = {Worker("w0"), Worker("w1")};
  EXPECT_THAT(WorkersUsed(view, Place(view)), ElementsAre("w1"));
}

// --- Order ---

TEST_F(GenFarmPolicyTest, HigherTierGoesFirst) {
  FarmView view;
  WorkGroup batch = Group(1);
  batch.priority = 100;
  WorkGroup dailies = Group(2);
  dailies.tier = v1::TIER_DAILIES;
  WorkGroup interactive = Group(3);
  interactive.tier = v1::TIER_INTERACTIVE;
  interactive.priority = 0;
  view.groups = {batch, dailies, interactive};
  view.workers = {Worker("w0", 3)};
  EXPECT_THAT(JobsPlaced(view, Place(view)), ElementsAre(3, 2, 1));
  view.workers = {Worker("w0", 1)};
  EXPECT_THAT(JobsPlaced(view, Place(view)), ElementsAre(3));
}

TEST_F(GenFarmPolicyTest, HigherPriorityGoesFirstWithinATier) {
  FarmView view;
  WorkGroup old_low = Group(1);
  old_low.priority = 20;
  WorkGroup new_high = Group(2);
  new_high.priority = 80;
  view.groups = {old_low, new_high};
  view.workers = {Worker("w0", 1)};
  EXPECT_THAT(JobsPlaced(view, Place(view)), ElementsAre(2));
}

TEST_F(GenFarmPolicyTest, EqualWeightProjectsSplitSlotsEvenlyAndAlternate) {
  FarmView view;
  view.groups = {Group(1, "alpha", 10), Group(2, "beta", 10)};
  view.workers = {Worker("w0", 4), Worker("w1", 2)};
  std::vector<Placement> placements = Place(view);
  EXPECT_THAT(JobsPlaced(view, placements), ElementsAre(1, 2, 1, 2, 1, 2));
}

TEST_F(GenFarmPolicyTest, ProjectAlreadyUsingTheFarmWaitsForTheOther) {
  FarmView view;
  view.groups = {Group(1, "alpha", 10), Group(2, "beta", 10)};
  view.projects["alpha"].running_slots = 4;
  view.workers = {Worker("w0", 4)};
  // 8 slots in all, 4 each: alpha already holds its half.
  EXPECT_THAT(PerProject(view, Place(view)),
              ElementsAre(std::pair<const std::string, int>("beta", 4)));
}

TEST_F(GenFarmPolicyTest, WeightsTwoToOneSplitSlotsTwoToOne) {
  PolicyConfig config;
  config.project_weights["alpha"] = 2;
  config.project_weights["beta"] = 1;
  GenFarmPolicy policy(config);
  FarmView view;
  view.groups = {Group(2, "beta", 10), Group(1, "alpha", 10)};
  view.workers = {Worker("w0", 9)};
  std::map<std::string, int> per = PerProject(view, policy.Place(view));
  EXPECT_EQ(per["alpha"], 6);
  EXPECT_EQ(per["beta"], 3);
}

TEST_F(GenFarmPolicyTest, WithoutFairShareOlderWorkGoesFirst) {
  PolicyConfig config;
  config.fair_share = false;
  GenFarmPolicy policy(config);
  FarmView view;
  view.groups = {Group(1, "alpha", 10), Group(2, "beta", 10)};
  view.workers = {Worker("w0", 4)};
  EXPECT_THAT(JobsPlaced(view, policy.Place(view)), ElementsAre(1, 1, 1, 1));
}

TEST_F(GenFarmPolicyTest, LongestWaitingWorkGoesFirstThenLowerJobId) {
  FarmView view;
  WorkGroup newer_job_waiting_longer = Group(5);
  newer_job_waiting_longer.oldest_queued_ms = 100;
  WorkGroup older_job = Group(3);
  older_job.oldest_queued_ms = 200;
  WorkGroup tie = Group(4);
  tie.oldest_queued_ms = 200;
  view.groups = {older_job, tie, newer_job_waiting_longer};
  view.workers = {Worker("w0", 3)};
  EXPECT_THAT(JobsPlaced(view, Place(view)), ElementsAre(5, 3, 4));
}

// --- Preference ---

TEST_F(GenFarmPolicyTest, WorkerWithTheModelWarmWins) {
  FarmView view;
  WorkGroup g = Group(1);
  g.gpus = 1;
  g.memory_bytes = 8 * kGiB;
  view.groups = {g};
  WorkerView cold_tight = Worker("cold", 1, {Gpu(0, 10 * kGiB)});
  WorkerView warm_loose = Worker("warm", 1, {Gpu(0, 48 * kGiB)});
  warm_loose.loaded_models = {"esrgan"};
  view.workers = {cold_tight, warm_loose};
  EXPECT_THAT(WorkersUsed(view, Place(view)), ElementsAre("warm"));

  PolicyConfig no_affinity;
  no_affinity.model_affinity = false;
  GenFarmPolicy packing(no_affinity);
  EXPECT_THAT(WorkersUsed(view, packing.Place(view)), ElementsAre("cold"));
}

TEST_F(GenFarmPolicyTest, TightestMemoryFitWinsAcrossWorkersAndDevices) {
  FarmView view;
  WorkGroup g = Group(1);
  g.gpus = 1;
  g.memory_bytes = 10 * kGiB;
  view.groups = {g};
  view.workers = {Worker("big", 1, {Gpu(0, 80 * kGiB)}),
                  Worker("two-cards", 1, {Gpu(0, 48 * kGiB), Gpu(1, 12 * kGiB), Gpu(2, 8 * kGiB)})};
  std::vector<Placement> placements = Place(view);
  ASSERT_THAT(placements, SizeIs(1));
  EXPECT_EQ(view.workers[placements[0].worker].id, "two-cards");
  EXPECT_EQ(placements[0].device, 1);  // 12 GiB: 2 GiB left; 8 GiB is too small
}

TEST_F(GenFarmPolicyTest, FillsOneMachineBeforeSpreading) {
  FarmView view;
  view.groups = {Group(1)};
  view.workers = {Worker("roomy", 4), Worker("nearly-full", 1)};
  EXPECT_THAT(WorkersUsed(view, Place(view)), ElementsAre("nearly-full"));
}

TEST_F(GenFarmPolicyTest, CpuRunsWorkThatNeedsNoGpu) {
  FarmView view;
  WorkGroup cpu_ok = Group(1);
  cpu_ok.gpus = 0;
  view.groups = {cpu_ok};
  view.workers = {Worker("cpu-only", 1, {Cpu()})};
  std::vector<Placement> placements = Place(view);
  ASSERT_THAT(placements, SizeIs(1));
  EXPECT_EQ(placements[0].device, -1);

  // A full GPU does not stop gpus=0 work: it falls back to the CPU.
  view.workers = {Worker("busy-gpu", 1, {Gpu(0, 24 * kGiB, 0), Cpu()})};
  placements = Place(view);
  ASSERT_THAT(placements, SizeIs(1));
  EXPECT_EQ(placements[0].device, -1);

  WorkGroup needs_gpu = cpu_ok;
  needs_gpu.gpus = 1;
  view.groups = {needs_gpu};
  view.workers = {Worker("cpu-only", 1, {Cpu()})};
  EXPECT_THAT(Place(view), IsEmpty());
  EXPECT_THAT(policy_.WhyUnplaceable(needs_gpu, view.workers), HasSubstr("has 0 GPUs"));
}

TEST_F(GenFarmPolicyTest, OneStuckGroupDoesNotStopOthers) {
  FarmView view;
  WorkGroup huge = Group(1);
  huge.priority = 100;
  huge.gpus = 1;
  huge.memory_bytes = 100 * kGiB;
  view.groups = {huge, Group(2)};
  view.workers = {Worker("w0", 1, {Gpu(0, 24 * kGiB), Cpu()})};
  EXPECT_THAT(JobsPlaced(view, Place(view)), ElementsAre(2));
}

// --- WhyUnplaceable ---

TEST_F(GenFarmPolicyTest, WhyUnplaceableNamesTheReason) {
  WorkGroup g = Group(1);
  EXPECT_EQ(policy_.WhyUnplaceable(g, {}), "no worker is connected");

  WorkGroup tagged = g;
  tagged.tags = {"nuke"};
  EXPECT_THAT(policy_.WhyUnplaceable(tagged, {Worker("w0")}), HasSubstr("w0 lacks tag 'nuke'"));

  WorkGroup ghost = g;
  ghost.model = "ghost";
  EXPECT_THAT(policy_.WhyUnplaceable(ghost, {Worker("w0"), Worker("w1")}),
              HasSubstr("does not have model 'ghost'"));

  WorkGroup blocked = g;
  blocked.blocked_workers = {"w0"};
  EXPECT_THAT(policy_.WhyUnplaceable(blocked, {Worker("w0")}), HasSubstr("kept off this job"));

  // A busy worker that could run it is no reason: the work just waits its turn.
  EXPECT_EQ(policy_.WhyUnplaceable(g, {Worker("w0", /*free_slots=*/0)}), "");
}

// --- FifoPolicy ---

TEST(FifoPolicyTest, IgnoresWarmModelsAndPriority) {
  FifoPolicy fifo;
  FarmView view;
  WorkGroup old_low = Group(1);
  old_low.priority = 0;
  WorkGroup new_high = Group(2);
  new_high.priority = 100;
  new_high.tier = v1::TIER_INTERACTIVE;
  view.groups = {new_high, old_low};
  WorkerView cold = Worker("cold");
  WorkerView warm = Worker("warm");
  warm.loaded_models = {"esrgan"};
  view.workers = {cold, warm};
  std::vector<Placement> placements = fifo.Place(view);
  ASSERT_THAT(placements, SizeIs(2));
  EXPECT_EQ(view.groups[placements[0].group].job_id, 1);     // oldest first
  EXPECT_EQ(view.workers[placements[0].worker].id, "cold");  // first worker, not the warm one

  GenFarmPolicy genfarm{PolicyConfig{}};
  view.groups = {old_low};
  EXPECT_EQ(view.workers[genfarm.Place(view).at(0).worker].id, "warm");
}

TEST(FifoPolicyTest, StillRespectsEligibility) {
  FifoPolicy fifo;
  FarmView view;
  WorkGroup g = Group(1, "show", 3);
  g.tags = {"nuke"};
  view.groups = {g};
  WorkerView tagged = Worker("tagged", 2);
  tagged.tags = {"nuke"};
  view.workers = {Worker("plain", 5), tagged};
  EXPECT_THAT(WorkersUsed(view, fifo.Place(view)), ElementsAre("tagged", "tagged"));
}

}  // namespace
}  // namespace genfarm::scheduler
