#include "scheduler/policy/usage_ledger.h"

#include "gtest/gtest.h"

namespace genfarm::scheduler {
namespace {

constexpr int64_t kStart = 1'800'000'000'000;

TEST(DecayingUsageLedgerTest, IntegratesRunningSlotsOverTime) {
  DecayingUsageLedger ledger(absl::Hours(1000));  // decay negligible here
  ledger.Advance(kStart);
  ledger.AddRunning("show", 4);
  ledger.Advance(kStart + 10'000);  // 4 slots for 10 s
  EXPECT_NEAR(ledger.Usage().at("show"), 40.0, 0.01);
  // Running slots are forgotten by Advance: the caller records them again.
  ledger.Advance(kStart + 20'000);
  EXPECT_NEAR(ledger.Usage().at("show"), 40.0, 0.01);
}

TEST(DecayingUsageLedgerTest, HistoryHalvesEveryHalfLife) {
  DecayingUsageLedger ledger(absl::Minutes(10));
  ledger.Advance(kStart);
  ledger.AddRunning("show", 1);
  ledger.Advance(kStart + 100'000);
  const double before = ledger.Usage().at("show");
  ledger.Advance(kStart + 100'000 + 600'000);
  EXPECT_NEAR(ledger.Usage().at("show"), before / 2, 1e-6);
}

TEST(DecayingUsageLedgerTest, ProjectThatNeverRanIsAbsent) {
  DecayingUsageLedger ledger(absl::Minutes(10));
  ledger.Advance(kStart);
  EXPECT_FALSE(ledger.Usage().contains("show"));
}

}  // namespace
}  // namespace genfarm::scheduler
