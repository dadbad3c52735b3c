// LeaderElection over a scripted fake lease and a FakeClock: who leads when, and every way a
// leader steps down. No threads, no sleeps: the test calls Step() and CheckExpiry() itself.
#include "scheduler/ha/leader_election.h"

#include <deque>
#include <vector>

#include "absl/status/status.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm::scheduler::ha {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Role = LeaderElection::Role;

// Answers from queues the test fills; records the calls.
class FakeLeaderLease : public LeaderLease {
 public:
  absl::StatusOr<LeaseView> TryAcquire() override {
    ++acquires;
    if (acquire.empty()) return LeaseView{false, 1, "other", "other:7070", false};
    absl::StatusOr<LeaseView> next = acquire.front();
    acquire.pop_front();
    return next;
  }
  absl::Status Renew(int64_t epoch) override {
    renewed_epochs.push_back(epoch);
    if (renew.empty()) return absl::OkStatus();
    absl::Status next = renew.front();
    renew.pop_front();
    return next;
  }
  absl::Status Release(int64_t epoch) override {
    released.push_back(epoch);
    return absl::OkStatus();
  }

  std::deque<absl::StatusOr<LeaseView>> acquire;
  std::deque<absl::Status> renew;
  int acquires = 0;
  std::vector<int64_t> renewed_epochs;
  std::vector<int64_t> released;
};

LeaseView Ours(int64_t epoch) { return LeaseView{true, epoch, "me", "me:7070", false}; }

class LeaderElectionTest : public ::testing::Test {
 protected:
  LeaderElectionTest() {
    callbacks_.on_elected = [this](int64_t epoch) { elected_.push_back(epoch); };
    callbacks_.on_standby = [this](const LeaseView& leader) { seen_leaders_.push_back(leader); };
    callbacks_.on_lost = [this](const absl::Status& why) { lost_.push_back(why); };
  }
  LeaderElection Make() { return LeaderElection(lease_, clock_, options_, callbacks_); }

  FakeClock clock_;
  FakeLeaderLease lease_;
  LeaderElection::Options options_;  // lease 2 s, renew 500 ms, poll 250 ms, margin 250 ms
  LeaderElection::Callbacks callbacks_;
  std::vector<int64_t> elected_;
  std::vector<LeaseView> seen_leaders_;
  std::vector<absl::Status> lost_;
};

TEST_F(LeaderElectionTest, StandbyPollsAndReportsTheLeaderUntilTheLeaseIsFree) {
  LeaderElection election = Make();
  const absl::Time t0 = clock_.Now();
  EXPECT_EQ(election.Step(), t0 + absl::Milliseconds(250));
  EXPECT_EQ(election.role(), Role::kStandby);
  ASSERT_EQ(seen_leaders_.size(), 1u);
  EXPECT_EQ(seen_leaders_[0].address, "other:7070");

  clock_.Advance(absl::Milliseconds(250));
  lease_.acquire.push_back(Ours(2));
  EXPECT_EQ(election.Step(), clock_.Now() + absl::Milliseconds(500));
  EXPECT_EQ(election.role(), Role::kLeader);
  EXPECT_EQ(election.epoch(), 2);
  EXPECT_THAT(elected_, ElementsAre(2));
  EXPECT_TRUE(lost_.empty());
}

TEST_F(LeaderElectionTest, ADatabaseErrorKeepsAStandbyPolling) {
  LeaderElection election = Make();
  lease_.acquire.push_back(absl::UnavailableError("connection refused"));
  lease_.acquire.push_back(absl::UnavailableError("connection refused"));
  EXPECT_EQ(election.Step(), clock_.Now() + absl::Milliseconds(250));
  EXPECT_EQ(election.Step(), clock_.Now() + absl::Milliseconds(250));
  EXPECT_EQ(election.role(), Role::kStandby);
  EXPECT_TRUE(elected_.empty());
  EXPECT_TRUE(lost_.empty());
}

TEST_F(LeaderElectionTest, TheLeaderRenewsAtItsEpochEveryRenewInterval) {
  LeaderElection election = Make();
  lease_.acquire.push_back(Ours(5));
  absl::Time next = election.Step();
  for (int i = 0; i < 10; ++i) {
    clock_.Set(next);
    next = election.Step();
    EXPECT_EQ(next, clock_.Now() + absl::Milliseconds(500));
    EXPECT_FALSE(election.CheckExpiry());
  }
  EXPECT_EQ(lease_.renewed_epochs, std::vector<int64_t>(10, 5));
  EXPECT_EQ(election.role(), Role::kLeader);
  EXPECT_EQ(lease_.acquires, 1);  // a leader never asks to acquire again
}

TEST_F(LeaderElectionTest, ARefusedRenewalStepsDownAtOnceAndOnlyOnce) {
  LeaderElection election = Make();
  lease_.acquire.push_back(Ours(3));
  clock_.Set(election.Step());
  lease_.renew.push_back(absl::FailedPreconditionError("lease of epoch 3 lost: epoch 4 is held"));
  EXPECT_EQ(election.Step(), absl::InfiniteFuture());
  EXPECT_EQ(election.role(), Role::kSteppedDown);
  ASSERT_EQ(lost_.size(), 1u);
  EXPECT_THAT(lost_[0].message(), HasSubstr("epoch 4"));
  // Stepped down is final: no more renewals, acquisitions or callbacks.
  EXPECT_EQ(election.Step(), absl::InfiniteFuture());
  election.StepDown(absl::AbortedError("fenced"));
  EXPECT_FALSE(election.CheckExpiry());
  EXPECT_EQ(lost_.size(), 1u);
  EXPECT_EQ(lease_.renewed_epochs.size(), 1u);
  EXPECT_EQ(lease_.acquires, 1);
}

TEST_F(LeaderElectionTest, FailingRenewalsAreRetriedThenStepDownBeforeTheLeaseCouldExpire) {
  LeaderElection election = Make();
  const absl::Time elected_at = clock_.Now();
  lease_.acquire.push_back(Ours(7));
  absl::Time next = election.Step();
  for (int i = 0; i < 10; ++i) lease_.renew.push_back(absl::UnavailableError("timeout"));
  // Renewals at 0.5, 1.0, 1.5 s fail; the lease (2 s from the acquire) is given up at
  // 2 s - margin = 1.75 s, before any standby could take it.
  std::vector<absl::Time> steps;
  while (election.role() == Role::kLeader) {
    ASSERT_LT(next, absl::InfiniteFuture());
    clock_.Set(next);
    steps.push_back(next);
    next = election.Step();
  }
  EXPECT_THAT(
      steps,
      ElementsAre(elected_at + absl::Milliseconds(500), elected_at + absl::Milliseconds(1000),
                  elected_at + absl::Milliseconds(1500), elected_at + absl::Milliseconds(1750)));
  EXPECT_EQ(lease_.renewed_epochs.size(), 3u);  // none sent once the lease may be gone
  ASSERT_EQ(lost_.size(), 1u);
  EXPECT_THAT(lost_[0].message(), HasSubstr("not renewed in time"));
}

TEST_F(LeaderElectionTest, TheWatchdogStepsDownALeaderWhoseRenewalHangs) {
  LeaderElection election = Make();
  lease_.acquire.push_back(Ours(9));
  election.Step();
  // The election thread is stuck in Renew (a dead network); only the watchdog runs.
  clock_.Advance(absl::Milliseconds(1700));
  EXPECT_FALSE(election.CheckExpiry());
  clock_.Advance(absl::Milliseconds(50));
  EXPECT_TRUE(election.CheckExpiry());
  EXPECT_EQ(election.role(), Role::kSteppedDown);
  EXPECT_EQ(lost_.size(), 1u);
}

TEST_F(LeaderElectionTest, ASuccessfulRenewalExtendsTheLeaseFromWhenItWasSent) {
  LeaderElection election = Make();
  lease_.acquire.push_back(Ours(1));
  clock_.Set(election.Step());  // t = 0.5 s: renew succeeds, valid until 2.5 s
  election.Step();
  clock_.Advance(absl::Milliseconds(1700));  // 2.2 s: within 2.5 s - margin
  EXPECT_FALSE(election.CheckExpiry());
  clock_.Advance(absl::Milliseconds(100));  // 2.3 s: past 2.25 s
  EXPECT_TRUE(election.CheckExpiry());
}

TEST_F(LeaderElectionTest, AFencedCommitStepsDownTheLeader) {
  LeaderElection election = Make();
  lease_.acquire.push_back(Ours(4));
  election.Step();
  election.StepDown(absl::AbortedError("fenced: this scheduler's epoch 4 was superseded by 5"));
  EXPECT_EQ(election.role(), Role::kSteppedDown);
  EXPECT_EQ(election.epoch(), 0);
  ASSERT_EQ(lost_.size(), 1u);
  EXPECT_TRUE(absl::IsAborted(lost_[0]));
  EXPECT_EQ(election.Step(), absl::InfiniteFuture());
  EXPECT_TRUE(lease_.renewed_epochs.empty());
}

TEST_F(LeaderElectionTest, StartAndStopRunTheLoopOnTheClock) {
  LeaderElection election = Make();
  lease_.acquire.push_back(Ours(6));
  election.Start();
  ASSERT_TRUE(clock_.AwaitWaiters(2));  // the election loop and the watchdog wait on the clock
  EXPECT_EQ(election.role(), Role::kLeader);
  const absl::Time start = clock_.Now();
  std::optional<absl::Time> renew_at = clock_.AwaitWaiterDueBy(start + absl::Milliseconds(500));
  ASSERT_TRUE(renew_at.has_value());
  election.Stop();
  EXPECT_THAT(elected_, ElementsAre(6));
}

}  // namespace
}  // namespace genfarm::scheduler::ha
