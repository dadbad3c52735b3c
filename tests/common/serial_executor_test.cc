#include "common/serial_executor.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm {
namespace {

using ::testing::ElementsAre;

TEST(SerialExecutorTest, RunsPostedClosuresInOrderOnOneThread) {
  std::vector<int> order;  // touched only on the executor thread, read after Run
  std::thread::id first_thread;
  bool same_thread = true;
  SerialExecutor executor;
  for (int i = 0; i < 100; ++i) {
    executor.Post([&, i] {
      if (i == 0) first_thread = std::this_thread::get_id();
      if (std::this_thread::get_id() != first_thread) same_thread = false;
      order.push_back(i);
    });
  }
  const size_t seen = executor.Run([&] { return order.size(); });
  EXPECT_EQ(seen, 100u);
  EXPECT_TRUE(same_thread);
  EXPECT_NE(first_thread, std::this_thread::get_id());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

TEST(SerialExecutorTest, IdleHookRunsOncePerBurstNotOncePerClosure) {
  int idle_runs = 0;  // executor thread only
  SerialExecutor executor([&] { ++idle_runs; });
  // Hold the executor in the first closure so the next ten pile up as one batch.
  absl::Notification release;
  absl::Notification holding;
  executor.Post([&] {
    holding.Notify();
    release.WaitForNotification();
  });
  holding.WaitForNotification();
  int ran = 0;
  for (int i = 0; i < 10; ++i) executor.Post([&] { ++ran; });
  release.Notify();
  // Run's own closure may land in the same batch as the ten or the next one; either way
  // the ten closures cost at most two dispatches, never ten.
  const int idle_after = executor.Run([&] { return idle_runs; });
  EXPECT_EQ(executor.Run([&] { return ran; }), 10);
  EXPECT_GE(idle_after, 1);
  EXPECT_LE(idle_after, 2);
}

TEST(SerialExecutorTest, OnRunIsToldHowLongEachClosureAndIdleCallHeldTheThread) {
  FakeClock clock;
  std::vector<absl::Duration> held;  // executor thread only, read after Run
  SerialExecutor::Options options;
  options.idle = [&] { clock.Advance(absl::Milliseconds(1)); };
  options.clock = &clock;
  options.on_run = [&](absl::Duration wall, absl::Duration cpu) {
    held.push_back(wall);
    EXPECT_GE(cpu, absl::ZeroDuration());
  };
  SerialExecutor executor(std::move(options));
  executor.Post([&] { clock.Advance(absl::Milliseconds(250)); });
  executor.Run([] { return 0; });
  const std::vector<absl::Duration> seen = executor.Run([&] { return held; });
  // The 250 ms closure, then (in the same batch or the next) the Run closures and idle calls.
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen[0], absl::Milliseconds(250));
  EXPECT_THAT(seen, ::testing::Contains(absl::Milliseconds(1)));
}

TEST(SerialExecutorTest, DestructorRunsWhatIsQueuedAndStopDropsLaterPosts) {
  std::atomic<int> ran{0};
  {
    SerialExecutor executor;
    absl::Notification release;
    executor.Post([&] { release.WaitForNotification(); });
    for (int i = 0; i < 5; ++i) executor.Post([&] { ++ran; });
    release.Notify();
  }  // the destructor drains the queue before joining
  EXPECT_EQ(ran.load(), 5);

  SerialExecutor executor;
  executor.Stop();
  executor.Post([&] { ++ran; });  // dropped, not run, and does not hang
  executor.Stop();                // idempotent
  EXPECT_EQ(ran.load(), 5);
}

TEST(PeriodicTimerTest, FiresOncePerPeriodOfTheInjectedClock) {
  FakeClock clock;
  absl::Mutex mu;
  int fired = 0;
  auto fired_now = [&] {
    absl::MutexLock lock(&mu);
    return fired;
  };
  PeriodicTimer timer(clock, absl::Seconds(5), [&] {
    absl::MutexLock lock(&mu);
    ++fired;
  });
  ASSERT_TRUE(clock.AwaitWaitsStarted(1));
  clock.Advance(absl::Seconds(4));
  EXPECT_EQ(fired_now(), 0);
  for (int i = 1; i <= 3; ++i) {
    clock.Advance(i == 1 ? absl::Seconds(1) : absl::Seconds(5));
    // The next wait starts only after the call returned.
    ASSERT_TRUE(clock.AwaitWaitsStarted(i + 1));
    EXPECT_EQ(fired_now(), i);
    EXPECT_EQ(clock.WaiterDeadlines()[0], clock.Now() + absl::Seconds(5));
  }
}

TEST(PeriodicTimerTest, DestructionDoesNotWaitForThePeriod) {
  FakeClock clock;
  std::atomic<int> fired{0};
  {
    PeriodicTimer timer(clock, absl::Hours(1), [&] { ++fired; });
    ASSERT_TRUE(clock.AwaitWaiters(1));
  }  // would hang here if the destructor waited out the hour
  EXPECT_EQ(fired.load(), 0);
  EXPECT_EQ(clock.WaiterCount(), 0);
}

}  // namespace
}  // namespace genfarm
