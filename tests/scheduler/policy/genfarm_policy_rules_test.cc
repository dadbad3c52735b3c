// Rules added to GenFarmPolicy for issue 6: waiting for a warm worker (delay
// scheduling), fair share that remembers recent usage, several tasks per device by
// memory, and preemption of batch work. One small explicit scenario per rule.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/policy/genfarm_policy.h"

namespace genfarm::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr int64_t kGiB = int64_t{1} << 30;

WorkGroup Group(int64_t job, const std::string& project, const std::string& model,
                int64_t queued = 1) {
  WorkGroup g;
  g.job_id = job;
  g.project = project;
  g.model = model;
  g.queued = queued;
  g.gpus = 1;
  g.memory_bytes = 10 * kGiB;
  g.submit_ms = job;
  g.oldest_queued_ms = job;
  return g;
}

WorkerView Gpu(const std::string& id, int64_t memory, int32_t slots = 1,
               std::vector<std::string> warm = {}) {
  WorkerView w;
  w.id = id;
  w.free_slots = slots;
  w.models = {"a", "b"};
  w.loaded_models.insert(warm.begin(), warm.end());
  DeviceView d;
  d.index = 0;
  d.kind = "cuda";
  d.memory_total_bytes = memory;
  d.memory_free_bytes = memory;
  w.devices = {d};
  return w;
}

PolicyConfig WithWait(int64_t wait_ms) {
  PolicyConfig config;
  config.affinity_wait_ms = wait_ms;
  return config;
}

TEST(AffinityWaitTest, ColdWorkWaitsWhileAWarmWorkerIsBusyAndLetsWarmWorkGo) {
  GenFarmPolicy policy(WithWait(60'000));
  FarmView view;
  view.now_ms = 10'000;
  WorkGroup cold = Group(1, "p", "a");  // older: first in order
  WorkGroup warm = Group(2, "p", "b");
  view.groups = {cold, warm};
  view.workers = {Gpu("w0", 24 * kGiB, 1, {"b"})};
  view.warm_workers = {{"a", 3}, {"b", 1}};  // "a" is warm on busy workers
  std::vector<Placement> placed = policy.Place(view);
  ASSERT_THAT(placed, SizeIs(1));
  EXPECT_EQ(view.groups[placed[0].group].job_id, 2);
}

TEST(AffinityWaitTest, ColdWorkTakesTheWorkerAfterTheWait) {
  GenFarmPolicy policy(WithWait(60'000));
  FarmView view;
  view.groups = {Group(1, "p", "a")};
  view.workers = {Gpu("w0", 24 * kGiB, 1, {"b"})};
  view.warm_workers = {{"a", 3}};
  view.now_ms = 1 + 59'999;
  EXPECT_THAT(policy.Place(view), IsEmpty());
  view.now_ms = 1 + 60'000;
  EXPECT_THAT(policy.Place(view), SizeIs(1));
}

TEST(AffinityWaitTest, NoWaitWhenNobodyHasTheModelWarmOrForDailies) {
  GenFarmPolicy policy(WithWait(60'000));
  FarmView view;
  view.now_ms = 10;
  view.groups = {Group(1, "p", "a")};
  view.workers = {Gpu("w0", 24 * kGiB)};
  EXPECT_THAT(policy.Place(view), SizeIs(1));  // waiting would not help
  view.warm_workers = {{"a", 1}};
  view.groups[0].tier = v1::TIER_DAILIES;
  EXPECT_THAT(policy.Place(view), SizeIs(1));  // dailies never wait
}

TEST(AffinityWaitTest, ProjectAboveItsShareDoesNotTakeAWorkerPassedOverByOneBelow) {
  GenFarmPolicy policy(WithWait(60'000));
  FarmView view;
  view.now_ms = 10'000;
  WorkGroup starved = Group(1, "starved", "a");
  WorkGroup greedy = Group(2, "greedy", "b");
  view.groups = {starved, greedy};
  view.projects["greedy"].running_slots = 3;  // 4 slots in all: greedy holds 3, starved 0
  view.workers = {Gpu("w0", 24 * kGiB, 1, {"b"})};
  view.warm_workers = {{"a", 2}, {"b", 4}};
  std::vector<Placement> placed = policy.Place(view);
  ASSERT_THAT(placed, SizeIs(1));
  EXPECT_EQ(view.groups[placed[0].group].project, "starved");  // cold, but owed the slot
}

TEST(AffinityWaitTest, StarvedProjectTakesAColdWorkerInsteadOfWaiting) {
  GenFarmPolicy policy(WithWait(60'000));
  FarmView view;
  view.now_ms = 10'000;
  view.groups = {Group(1, "starved", "a")};
  view.workers = {Gpu("w0", 24 * kGiB, 1, {"b"})};
  view.warm_workers = {{"a", 2}};
  // 4 slots, 2 projects: a share of 2 each. Holding 2, "starved" is at its share and
  // waits for a warm worker; holding 0 (below 80% of its share) it pays the load now.
  view.projects["starved"].running_slots = 2;
  view.projects["other"].running_slots = 1;
  EXPECT_THAT(policy.Place(view), IsEmpty());
  view.projects["starved"].running_slots = 0;
  view.projects["other"].running_slots = 3;
  EXPECT_THAT(policy.Place(view), SizeIs(1));
}

TEST(FairShareHistoryTest, OnlyTheHistoryOfCompetingProjectsCounts) {
  GenFarmPolicy policy{PolicyConfig{}};
  FarmView view;
  view.groups = {Group(1, "recent", "a"), Group(2, "holder", "a")};
  view.projects["recent"].decayed_usage = 1000;     // used the farm lately, holds nothing now
  view.projects["holder"].running_slots = 1;        // of 4 slots
  view.projects["gone"].decayed_usage = 1'000'000;  // no work any more
  view.workers = {Gpu("w0", 80 * kGiB, 3)};
  // Among the two competing projects "recent" has all the history: used = 0.25 against
  // holder's 0.75 x 1/4. A finished project's usage must not dilute that to nothing.
  std::vector<Placement> placed = policy.Place(view);
  ASSERT_THAT(placed, SizeIs(2));
  EXPECT_EQ(view.groups[placed[0].group].project, "holder");
}

TEST(FairShareHistoryTest, ProjectThatUsedLessRecentlyGoesFirst) {
  GenFarmPolicy policy{PolicyConfig{}};
  FarmView view;
  view.groups = {Group(1, "heavy", "a"), Group(2, "light", "a")};
  view.projects["heavy"].decayed_usage = 9000;  // slot-seconds, decayed
  view.projects["light"].decayed_usage = 1000;
  view.workers = {Gpu("w0", 24 * kGiB)};
  std::vector<Placement> placed = policy.Place(view);
  ASSERT_THAT(placed, SizeIs(1));
  EXPECT_EQ(view.groups[placed[0].group].project, "light");  // both hold 0 slots now

  PolicyConfig present_only;
  present_only.history_weight = 0;
  GenFarmPolicy forgetful(present_only);
  EXPECT_EQ(view.groups[forgetful.Place(view).at(0).group].project, "heavy");  // older job
}

TEST(SlotsPerDeviceTest, SeveralTasksShareADeviceWhileMemoryLasts) {
  GenFarmPolicy policy{PolicyConfig{}};
  FarmView view;
  WorkGroup g = Group(1, "p", "a", /*queued=*/4);
  g.memory_bytes = 30 * kGiB;
  view.groups = {g};
  view.workers = {Gpu("h100", 80 * kGiB, /*slots=*/4)};
  std::vector<Placement> placed = policy.Place(view);
  EXPECT_THAT(placed, SizeIs(2));  // 2 x 30 GiB fit in 80 GiB, a third does not
  for (const Placement& p : placed) EXPECT_EQ(p.device, 0);
}

// --- Preemption ---

RunningAttempt Running(int64_t id, size_t worker, v1::Tier tier, int64_t start_ms) {
  RunningAttempt a;
  a.attempt_id = id;
  a.worker = worker;
  a.device = 0;
  a.project = "p";
  a.tier = tier;
  a.start_ms = start_ms;
  a.memory_bytes = 20 * kGiB;
  return a;
}

PreemptionView FullFarm(int64_t now_ms) {
  PreemptionView view;
  view.now_ms = now_ms;
  WorkGroup dailies = Group(9, "review", "a");
  dailies.tier = v1::TIER_DAILIES;
  dailies.oldest_queued_ms = 0;
  view.waiting = {dailies};
  for (const char* id : {"w0", "w1"}) {
    WorkerView w = Gpu(id, 24 * kGiB, 0);
    w.devices[0].memory_free_bytes = 4 * kGiB;
    view.workers.push_back(w);
  }
  view.running = {Running(11, 0, v1::TIER_BATCH, 1'000), Running(12, 1, v1::TIER_BATCH, 5'000)};
  return view;
}

TEST(PreemptionTest, YoungestBatchAttemptIsPreemptedOnceTheLimitPasses) {
  PolicyConfig config;
  config.preempt_after_ms = 120'000;
  GenFarmPolicy policy(config);
  EXPECT_THAT(policy.Preempt(FullFarm(119'999)), IsEmpty());
  EXPECT_THAT(policy.Preempt(FullFarm(120'000)), ElementsAre(12));
}

TEST(PreemptionTest, OnlyBatchIsPreemptedAndOnlyForHigherTiers) {
  PolicyConfig config;
  config.preempt_after_ms = 1;
  GenFarmPolicy policy(config);
  PreemptionView view = FullFarm(500'000);
  view.running[0].tier = v1::TIER_DAILIES;
  EXPECT_THAT(policy.Preempt(view), ElementsAre(12));
  view.running[1].tier = v1::TIER_INTERACTIVE;
  EXPECT_THAT(policy.Preempt(view), IsEmpty());

  PreemptionView batch_waits = FullFarm(500'000);
  batch_waits.waiting[0].tier = v1::TIER_BATCH;
  batch_waits.waiting[0].priority = 100;
  EXPECT_THAT(policy.Preempt(batch_waits), IsEmpty());

  config.preempt_after_ms = 0;  // disabled
  GenFarmPolicy never(config);
  EXPECT_THAT(never.Preempt(FullFarm(500'000)), IsEmpty());
}

// --- Fair-share preemption ---

RunningAttempt Held(int64_t id, size_t worker, const std::string& project, int64_t start_ms) {
  RunningAttempt a = Running(id, worker, v1::TIER_BATCH, start_ms);
  a.project = project;
  return a;
}

// Four full single-slot GPUs: "greedy" holds three, "fair" one; "starved" has had
// batch work queued since t=0. Shares: 4/3 slots each.
PreemptionView StarvedFarm(int64_t now_ms) {
  PreemptionView view;
  view.now_ms = now_ms;
  WorkGroup waiting = Group(9, "starved", "a");
  waiting.oldest_queued_ms = 0;
  view.waiting = {waiting};
  for (const char* id : {"w0", "w1", "w2", "w3"}) {
    WorkerView w = Gpu(id, 24 * kGiB, 0);
    w.devices[0].memory_free_bytes = 4 * kGiB;
    view.workers.push_back(w);
  }
  view.running = {Held(11, 0, "greedy", 1'000), Held(12, 1, "greedy", 3'000),
                  Held(13, 2, "greedy", 2'000), Held(14, 3, "fair", 4'000)};
  return view;
}

PolicyConfig FairSharePreemptAfter(int64_t ms) {
  PolicyConfig config;
  config.fair_share_preempt_after_ms = ms;
  return config;
}

TEST(FairSharePreemptionTest, StarvedProjectTakesTheYoungestSlotOfTheProjectFurthestAbove) {
  GenFarmPolicy policy(FairSharePreemptAfter(15'000));
  EXPECT_THAT(policy.Preempt(StarvedFarm(14'999)), IsEmpty());  // has not waited long enough
  // One victim only: after it greedy holds 2 slots, and a second would take it below
  // its 4/3; "fair" is within its share and never yields.
  EXPECT_THAT(policy.Preempt(StarvedFarm(15'000)), ElementsAre(12));
}

TEST(FairSharePreemptionTest, NoPreemptionWhenOffNotStarvedOrOnlyHigherTiersAreAbove) {
  GenFarmPolicy off{PolicyConfig{}};  // off by default: preemption throws work away
  EXPECT_THAT(off.Preempt(StarvedFarm(500'000)), IsEmpty());

  GenFarmPolicy policy(FairSharePreemptAfter(15'000));
  PreemptionView at_share = StarvedFarm(500'000);
  at_share.running[0].project = "starved";  // now 2 / 1 / 1: nobody is starved
  EXPECT_THAT(policy.Preempt(at_share), IsEmpty());

  PreemptionView dailies = StarvedFarm(500'000);
  for (RunningAttempt& a : dailies.running) a.tier = v1::TIER_DAILIES;
  EXPECT_THAT(policy.Preempt(dailies), IsEmpty());

  PolicyConfig remembers = FairSharePreemptAfter(15'000);
  remembers.history_weight = 0.5;
  GenFarmPolicy with_history(remembers);
  PreemptionView history = StarvedFarm(500'000);
  history.projects["starved"].decayed_usage = 100'000;  // had the farm to itself lately
  history.projects["greedy"].decayed_usage = 1'000;
  EXPECT_THAT(with_history.Preempt(history), IsEmpty());
}

}  // namespace
}  // namespace genfarm::scheduler
