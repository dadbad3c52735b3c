// Acceptance 3 on the default workload (what `genfarm-sim` runs, seed 1, ~2 s):
// GenFarm's policy needs >= 80% fewer model loads than FIFO, finishes >= 1.5x sooner,
// gives every equal-weight project within 10% of its fair share of device time during
// contention, and loses and duplicates no frame. These assert measured behaviour: a
// policy change that breaks affinity, packing or fair share fails them.
#include "scheduler/sim/comparison.h"

#include "gtest/gtest.h"
#include "scheduler/sim/report.h"
#include "spdlog/spdlog.h"

namespace genfarm::sim {
namespace {

// The acceptance criteria of issue 6; see the measurements in docs/scheduling.md.
constexpr double kShareTolerance = 0.10;
constexpr double kMinLoadReduction = 0.80;
constexpr double kMinSpeedup = 1.5;

class SimulatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    spdlog::set_level(spdlog::level::warn);
    comparison_ =
        new Comparison(RunComparison(WorkloadOptions{}, /*seed=*/1, RecommendedPolicyConfig()));
    std::cout << FormatComparison(comparison_->fifo, comparison_->genfarm);
  }
  static void TearDownTestSuite() { delete comparison_; }
  static Comparison* comparison_;
};
Comparison* SimulatorTest::comparison_ = nullptr;

TEST_F(SimulatorTest, EveryJobFinishesWithEveryFrameWrittenOnce) {
  for (const SimResult* r : {&comparison_->fifo, &comparison_->genfarm}) {
    EXPECT_EQ(r->jobs_done, r->jobs) << r->policy;
    EXPECT_GT(r->frames_expected, 0);
    EXPECT_EQ(r->frames_missing, 0) << r->policy;
    EXPECT_EQ(r->frames_duplicated, 0) << r->policy;
  }
}

TEST_F(SimulatorTest, WorkloadIsTheIssuesMinimum) {
  EXPECT_GE(comparison_->workload.jobs.size(), 200u);
  EXPECT_GE(comparison_->workload.projects.size(), 8u);
  EXPECT_GE(comparison_->workload.models.size(), 6u);
  EXPECT_GE(comparison_->workload.devices.size(), 64u);
}

TEST_F(SimulatorTest, GenFarmNeedsAtLeast80PercentFewerModelLoads) {
  EXPECT_LE(comparison_->genfarm.model_loads,
            (1 - kMinLoadReduction) * comparison_->fifo.model_loads);
}

TEST_F(SimulatorTest, GenFarmFinishesAtLeast1Point5TimesSooner) {
  EXPECT_GE(comparison_->fifo.makespan_s, kMinSpeedup * comparison_->genfarm.makespan_s);
}

TEST_F(SimulatorTest, EqualWeightProjectsGetTheirShareUnderContention) {
  const SimResult& g = comparison_->genfarm;
  ASSERT_GT(g.contention_s, 60) << "the workload must contend for the farm";
  EXPECT_LE(g.max_share_error, kShareTolerance);
  for (const ProjectResult& p : g.projects) {
    EXPECT_NEAR(p.share, p.fair_share, kShareTolerance * p.fair_share) << p.project;
  }
  EXPECT_LT(g.max_share_error, comparison_->fifo.max_share_error);
}

// Seeds 2-5 name other workloads of the same shape (docs/scheduling.md lists all five):
// the targets are properties of the policy, not of one lucky job stream.
class SimulatorSeedTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(SimulatorSeedTest, MeetsAllThreeTargets) {
  spdlog::set_level(spdlog::level::warn);
  Comparison c = RunComparison(WorkloadOptions{}, GetParam(), RecommendedPolicyConfig());
  EXPECT_LE(c.genfarm.model_loads, (1 - kMinLoadReduction) * c.fifo.model_loads);
  EXPECT_GE(c.fifo.makespan_s, kMinSpeedup * c.genfarm.makespan_s);
  EXPECT_GT(c.genfarm.contention_s, 60);
  EXPECT_LE(c.genfarm.max_share_error, kShareTolerance);
  EXPECT_EQ(c.genfarm.jobs_done, c.genfarm.jobs);
}

INSTANTIATE_TEST_SUITE_P(Seeds2To5, SimulatorSeedTest, ::testing::Values(2, 3, 4, 5));

// Without fair-share preemption a project that holds extra devices when contention
// starts keeps them for the length of its attempts (up to a 120 s model load), and
// the error on seed 4 is 24%: the rule is what meets the target, so switching it off
// must show in the measurement.
TEST(SimulatorFairSharePreemptionTest, WithoutItAProjectKeepsTooMuchOfTheFarm) {
  spdlog::set_level(spdlog::level::warn);
  scheduler::PolicyConfig config = RecommendedPolicyConfig();
  config.fair_share_preempt_after_ms = 0;
  Comparison without = RunComparison(WorkloadOptions{}, /*seed=*/4, config);
  EXPECT_EQ(without.genfarm.preemptions, 0);
  EXPECT_GT(without.genfarm.max_share_error, kShareTolerance);
}

TEST(SimulatorDeterminismTest, SameSeedSameResult) {
  spdlog::set_level(spdlog::level::warn);
  WorkloadOptions options;
  options.jobs = 40;
  options.devices = 32;
  Comparison a = RunComparison(options, 7, RecommendedPolicyConfig());
  Comparison b = RunComparison(options, 7, RecommendedPolicyConfig());
  EXPECT_EQ(a.genfarm.makespan_s, b.genfarm.makespan_s);
  EXPECT_EQ(a.genfarm.model_loads, b.genfarm.model_loads);
  EXPECT_EQ(a.fifo.makespan_s, b.fifo.makespan_s);
}

}  // namespace
}  // namespace genfarm::sim
