#include "worker/daemon/lease_table.h"

#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr absl::Duration kEventually = absl::Seconds(10);
constexpr absl::Duration kLease = absl::Seconds(10);
// What the table makes of a 10 s lease with its default margins: 10 s * 0.995 - 100 ms.
constexpr absl::Duration kUsable = absl::Milliseconds(9850);

v1::LeaseRenewal Renewal(uint64_t seq, std::vector<int64_t> attempts) {
  v1::LeaseRenewal r;
  r.set_lease_seq(static_cast<int64_t>(seq));
  r.set_lease_ms(absl::ToInt64Milliseconds(kLease));
  for (int64_t a : attempts) r.add_attempts(a);
  return r;
}

// Records what the table's callback reports, as the executor's Lose would.
class LostLog {
 public:
  void Lost(int64_t attempt, const std::string& why) {
    absl::MutexLock lock(&mu_);
    lost_.emplace_back(attempt, why);
  }
  std::vector<int64_t> Attempts() const {
    absl::MutexLock lock(&mu_);
    std::vector<int64_t> out;
    for (const auto& [a, why] : lost_) out.push_back(a);
    return out;
  }
  std::string Why(size_t i) const {
    absl::MutexLock lock(&mu_);
    return i < lost_.size() ? lost_[i].second : "";
  }
  bool AwaitCount(size_t n) const {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return lost_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kEventually);
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::pair<int64_t, std::string>> lost_ ABSL_GUARDED_BY(mu_);
};

class LeaseTableTest : public ::testing::Test {
 protected:
  LeaseTableTest() {
    leases_.Start([this](int64_t a, const std::string& why) { lost_.Lost(a, why); });
  }
  // Hello sent at t0, welcomed with a lease, renewed when the answer arrives `rtt` later.
  void ConnectAt(absl::Duration rtt, std::vector<int64_t> attempts = {}) {
    const uint64_t seq = leases_.NoteSent();
    leases_.SetLease(kLease);
    clock_.Advance(rtt);
    leases_.OnRenewal(Renewal(seq, std::move(attempts)));
  }

  FakeClock clock_;
  LostLog lost_;
  LeaseTable leases_{clock_};
};

TEST_F(LeaseTableTest, TheLeaseRunsFromWhenTheRenewedMessageWasSentNotWhenTheAnswerCame) {
  const absl::Time sent = clock_.Now();
  ConnectAt(absl::Seconds(3));  // a slow answer does not move the lease's start
  leases_.Add(7);
  EXPECT_EQ(leases_.ValidUntil(7), sent + kUsable);
  EXPECT_TRUE(leases_.CheckBeforeRename(7).ok());

  // A heartbeat sent at +5 s and answered at +6 s moves it to +5 s + lease.
  clock_.Advance(absl::Seconds(2));
  const uint64_t beat = leases_.NoteSent();
  const absl::Time beat_sent = clock_.Now();
  clock_.Advance(absl::Seconds(1));
  leases_.OnRenewal(Renewal(beat, {7}));
  EXPECT_EQ(leases_.ValidUntil(7), beat_sent + kUsable);
}

TEST_F(LeaseTableTest, AnExpiredLeaseStopsTheAttemptWithNoSchedulerAndRefusesItsRename) {
  ConnectAt(absl::ZeroDuration());
  leases_.Add(7);
  // The watch thread waits for the lease's end on the clock; nobody renews it (the
  // scheduler is down, or this process was frozen).
  ASSERT_TRUE(clock_.AwaitWaiterDueBy(clock_.Now() + kLease).has_value());
  clock_.Advance(kUsable - absl::Milliseconds(1));
  EXPECT_TRUE(leases_.CheckBeforeRename(7).ok());
  EXPECT_THAT(lost_.Attempts(), IsEmpty());
  clock_.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(lost_.AwaitCount(1));
  EXPECT_THAT(lost_.Attempts(), ElementsAre(7));
  EXPECT_THAT(lost_.Why(0), HasSubstr("lease ran out"));
  absl::Status status = leases_.CheckBeforeRename(7);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(status.message(), HasSubstr("not renamed"));
  EXPECT_EQ(leases_.renames_refused(), 1);
  // A late renewal does not bring a lost attempt back: the scheduler may have given it away.
  leases_.OnRenewal(Renewal(leases_.NoteSent(), {7}));
  EXPECT_EQ(leases_.CheckBeforeRename(7).code(), absl::StatusCode::kAborted);
  EXPECT_THAT(lost_.Attempts(), ElementsAre(7));  // told once
}

TEST_F(LeaseTableTest, ARenewalThatDoesNotListAnAttemptRevokesIt) {
  ConnectAt(absl::ZeroDuration());
  leases_.Add(7);
  leases_.Add(8);
  leases_.OnRenewal(Renewal(leases_.NoteSent(), {8}));
  EXPECT_THAT(lost_.Attempts(), ElementsAre(7));
  EXPECT_THAT(lost_.Why(0), HasSubstr("no longer holds"));
  EXPECT_EQ(leases_.CheckBeforeRename(7).code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(leases_.CheckBeforeRename(8).ok());
}

TEST_F(LeaseTableTest, ACancelledAttemptMayNotRename) {
  ConnectAt(absl::ZeroDuration());
  leases_.Add(7);
  leases_.Revoke(7, "cancelled by the scheduler (preempted)");
  absl::Status status = leases_.CheckBeforeRename(7);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(status.message(), HasSubstr("preempted"));
  EXPECT_THAT(lost_.Attempts(), IsEmpty());  // the cancel stops it, with its own reason
}

TEST_F(LeaseTableTest, AfterADisconnectARenameWaitsForARenewalThatListsTheAttempt) {
  ConnectAt(absl::ZeroDuration());
  leases_.Add(7);
  leases_.OnDisconnected();
  absl::Status status = absl::UnknownError("not returned");
  absl::Notification done;
  std::thread renamer([&] {
    status = leases_.CheckBeforeRename(7);
    done.Notify();
  });
  // Blocked on the clock until the lease's end (the watch thread waits for the same time).
  ASSERT_TRUE(clock_.AwaitWaiters(2));
  EXPECT_FALSE(done.HasBeenNotified());
  // Reconnected: the hello's renewal lists the attempt, so the scheduler kept it for us.
  clock_.Advance(absl::Seconds(1));
  leases_.OnRenewal(Renewal(leases_.NoteSent(), {7}));
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kEventually));
  renamer.join();
  EXPECT_TRUE(status.ok()) << status;
}

TEST_F(LeaseTableTest, AfterADisconnectARenameIsRefusedWhenTheLeaseRunsOutFirst) {
  ConnectAt(absl::ZeroDuration());
  leases_.Add(7);
  leases_.OnDisconnected();
  absl::Status status;
  absl::Notification done;
  std::thread renamer([&] {
    status = leases_.CheckBeforeRename(7);
    done.Notify();
  });
  ASSERT_TRUE(clock_.AwaitWaiters(2));
  clock_.Advance(kLease);
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kEventually));
  renamer.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  ASSERT_TRUE(lost_.AwaitCount(1));
  EXPECT_THAT(lost_.Attempts(), ElementsAre(7));
}

TEST_F(LeaseTableTest, ARenewalOfAMessageItNeverSawExtendsNothing) {
  ConnectAt(absl::ZeroDuration());
  leases_.Add(7);
  const absl::Time before = leases_.ValidUntil(7);
  clock_.Advance(absl::Seconds(5));
  leases_.OnRenewal(Renewal(/*seq=*/999, {7}));  // not a number we sent: no extension
  EXPECT_EQ(leases_.ValidUntil(7), before);
}

TEST_F(LeaseTableTest, WithoutALeaseFromTheSchedulerNothingIsFenced) {
  leases_.Add(7);
  clock_.Advance(absl::Hours(1));
  EXPECT_FALSE(leases_.enabled());
  EXPECT_TRUE(leases_.CheckBeforeRename(7).ok());
  EXPECT_THAT(lost_.Attempts(), IsEmpty());
}

}  // namespace
}  // namespace genfarm::worker
