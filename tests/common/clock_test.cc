#include "common/clock.h"

#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm {
namespace {

using ::testing::ElementsAre;

TEST(FakeClockTest, AdvanceWakesASleeperOnlyOnceItsDeadlinePasses) {
  FakeClock clock;
  const absl::Time deadline = clock.Now() + absl::Seconds(10);
  absl::Notification woke;
  bool stopped = true;
  std::thread sleeper([&] {
    stopped = clock.SleepUntil(deadline, nullptr);
    woke.Notify();
  });
  ASSERT_TRUE(clock.AwaitWaiters(1));
  EXPECT_THAT(clock.WaiterDeadlines(), ElementsAre(deadline));
  clock.Advance(absl::Seconds(9));
  EXPECT_FALSE(woke.HasBeenNotified());
  EXPECT_EQ(clock.WaiterCount(), 1);
  clock.Advance(absl::Seconds(1));
  woke.WaitForNotification();
  sleeper.join();
  EXPECT_FALSE(stopped);
  EXPECT_EQ(clock.WaiterCount(), 0);
}

TEST(FakeClockTest, StopNotificationWinsOverAFarDeadline) {
  FakeClock clock;
  absl::Notification stop;
  bool stopped = false;
  std::thread sleeper([&] { stopped = clock.SleepUntil(clock.Now() + absl::Hours(1), &stop); });
  ASSERT_TRUE(clock.AwaitWaiters(1));
  stop.Notify();
  sleeper.join();
  EXPECT_TRUE(stopped);
  EXPECT_TRUE(clock.SleepUntil(clock.Now() + absl::Hours(1), &stop));  // already notified
}

TEST(FakeClockTest, SleepUntilAPastDeadlineReturnsAtOnce) {
  FakeClock clock;
  absl::Notification stop;
  EXPECT_FALSE(clock.SleepUntil(clock.Now(), &stop));
  EXPECT_FALSE(clock.SleepUntil(clock.Now() - absl::Seconds(1), nullptr));
}

TEST(FakeClockTest, AwaitUntilReturnsWhenTheConditionHoldsBeforeTheDeadline) {
  FakeClock clock;
  absl::Mutex mu;
  bool ready = false;
  bool result = false;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitUntil(&mu, absl::Condition(&ready), clock.Now() + absl::Hours(1));
  });
  ASSERT_TRUE(clock.AwaitWaiters(1));
  {
    absl::MutexLock lock(&mu);
    ready = true;
  }
  waiter.join();
  EXPECT_TRUE(result);
  EXPECT_EQ(clock.WaiterCount(), 0);
}

TEST(FakeClockTest, AdvancePastTheDeadlineEndsAnAwaitWithTheConditionFalse) {
  FakeClock clock;
  absl::Mutex mu;
  bool ready = false;
  absl::Notification returned;
  bool result = true;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitUntil(&mu, absl::Condition(&ready), clock.Now() + absl::Seconds(5));
    returned.Notify();
  });
  ASSERT_TRUE(clock.AwaitWaiters(1));
  clock.Advance(absl::Seconds(4));
  EXPECT_FALSE(returned.HasBeenNotified());
  clock.Set(clock.Now() + absl::Seconds(1));
  waiter.join();
  EXPECT_FALSE(result);
}

TEST(FakeClockTest, CountsWaitsStartedSoATestCanWaitForTheNextOne) {
  FakeClock clock;
  absl::Mutex mu;
  bool stop = false;
  std::thread loop([&] {
    absl::MutexLock lock(&mu);
    while (!clock.AwaitUntil(&mu, absl::Condition(&stop), clock.Now() + absl::Seconds(1))) {
    }
  });
  for (int64_t n = 1; n <= 3; ++n) {
    ASSERT_TRUE(clock.AwaitWaitsStarted(n));
    clock.Advance(absl::Seconds(1));
  }
  ASSERT_TRUE(clock.AwaitWaitsStarted(4));
  {
    absl::MutexLock lock(&mu);
    stop = true;
  }
  loop.join();
  EXPECT_EQ(clock.waits_started(), 4);
}

TEST(FakeClockTest, AwaitWaitersGivesUpAfterItsRealTimeout) {
  FakeClock clock;
  EXPECT_FALSE(clock.AwaitWaiters(1, absl::Milliseconds(1)));
}

TEST(RealClockTest, HonoursATinyDeadline) {
  RealClock& clock = RealClock::Get();
  absl::Mutex mu;
  bool never = false;
  const absl::Time start = clock.Now();
  absl::MutexLock lock(&mu);
  EXPECT_FALSE(clock.AwaitUntil(&mu, absl::Condition(&never), start + absl::Milliseconds(2)));
  EXPECT_GE(clock.Now(), start + absl::Milliseconds(2));
  absl::Notification stop;
  EXPECT_FALSE(clock.SleepUntil(clock.Now() + absl::Milliseconds(1), &stop));
  stop.Notify();
  EXPECT_TRUE(clock.SleepUntil(clock.Now() + absl::Hours(1), &stop));
}

TEST(MonotonicClockTest, NeverGoesBackAndHonoursDeadlinesAndStops) {
  MonotonicClock clock;
  const absl::Time start = clock.Now();
  EXPECT_GE(clock.Now(), start);
  absl::Mutex mu;
  bool never = false;
  {
    absl::MutexLock lock(&mu);
    EXPECT_FALSE(clock.AwaitUntil(&mu, absl::Condition(&never), start + absl::Milliseconds(2)));
  }
  EXPECT_GE(clock.Now(), start + absl::Milliseconds(2));
  absl::Notification stop;
  EXPECT_FALSE(clock.SleepUntil(clock.Now() + absl::Milliseconds(1), &stop));
  EXPECT_FALSE(clock.SleepUntil(clock.Now() + absl::Milliseconds(1), nullptr));
  std::thread stopper([&stop] { stop.Notify(); });
  // A far deadline: only the notification can end this wait (the slices re-check it).
  EXPECT_TRUE(clock.SleepUntil(clock.Now() + absl::Hours(1), &stop));
  stopper.join();
  bool ready = false;
  std::thread setter([&] {
    absl::MutexLock lock(&mu);
    ready = true;
  });
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(clock.AwaitUntil(&mu, absl::Condition(&ready), clock.Now() + absl::Hours(1)));
  }
  setter.join();
}

}  // namespace
}  // namespace genfarm
