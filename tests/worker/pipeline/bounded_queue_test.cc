#include "worker/pipeline/bounded_queue.h"

#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm::worker {
namespace {

// A producer that is supposed to be blocked must stay blocked at least this long; a real
// deadline on a notification, never a sleep.
constexpr absl::Duration kStaysBlocked = absl::Milliseconds(50);
constexpr absl::Duration kEventually = absl::Seconds(10);

TEST(BoundedQueueTest, AFullQueueBlocksTheProducerUntilTheConsumerTakes) {
  BoundedQueue<int> queue(2);
  absl::Notification two_in;
  absl::Notification third_in;
  bool third_pushed = false;
  std::thread producer([&] {
    EXPECT_TRUE(queue.Push(1));
    EXPECT_TRUE(queue.Push(2));
    two_in.Notify();
    third_pushed = queue.Push(3);  // blocks: the queue holds two
    third_in.Notify();
  });
  ASSERT_TRUE(two_in.WaitForNotificationWithTimeout(kEventually));
  EXPECT_FALSE(third_in.WaitForNotificationWithTimeout(kStaysBlocked));
  EXPECT_EQ(queue.Pop(), std::optional<int>(1));
  ASSERT_TRUE(third_in.WaitForNotificationWithTimeout(kEventually));
  producer.join();
  EXPECT_TRUE(third_pushed);
  EXPECT_EQ(queue.Pop(), std::optional<int>(2));
  EXPECT_EQ(queue.Pop(), std::optional<int>(3));
}

TEST(BoundedQueueTest, AnEmptyQueueBlocksTheConsumerUntilAnItemArrives) {
  BoundedQueue<int> queue(1);
  absl::Notification popped;
  std::optional<int> got;
  std::thread consumer([&] {
    got = queue.Pop();
    popped.Notify();
  });
  EXPECT_FALSE(popped.WaitForNotificationWithTimeout(kStaysBlocked));
  EXPECT_TRUE(queue.Push(7));
  ASSERT_TRUE(popped.WaitForNotificationWithTimeout(kEventually));
  consumer.join();
  EXPECT_EQ(got, std::optional<int>(7));
}

TEST(BoundedQueueTest, CloseLetsConsumersDrainThenEnds) {
  BoundedQueue<int> queue(4);
  EXPECT_TRUE(queue.Push(1));
  EXPECT_TRUE(queue.Push(2));
  queue.Close();
  EXPECT_FALSE(queue.Push(3));  // the producer said it was done
  EXPECT_EQ(queue.Pop(), std::optional<int>(1));
  EXPECT_EQ(queue.Pop(), std::optional<int>(2));
  EXPECT_EQ(queue.Pop(), std::nullopt);
  EXPECT_EQ(queue.Pop(), std::nullopt);
}

TEST(BoundedQueueTest, CloseWakesABlockedConsumer) {
  BoundedQueue<int> queue(1);
  std::optional<int> got = 5;
  std::thread consumer([&] { got = queue.Pop(); });
  queue.Close();
  consumer.join();
  EXPECT_EQ(got, std::nullopt);
}

TEST(BoundedQueueTest, AbortDropsWhatIsQueuedAndWakesABlockedProducer) {
  BoundedQueue<int> queue(1);
  EXPECT_TRUE(queue.Push(1));
  absl::Notification blocked_push_returned;
  bool pushed = true;
  std::thread producer([&] {
    pushed = queue.Push(2);  // blocks: full
    blocked_push_returned.Notify();
  });
  EXPECT_FALSE(blocked_push_returned.WaitForNotificationWithTimeout(kStaysBlocked));
  queue.Abort();
  producer.join();
  EXPECT_FALSE(pushed);
  EXPECT_EQ(queue.Pop(), std::nullopt);  // item 1 was dropped, not delivered
  EXPECT_FALSE(queue.Push(3));
}

TEST(BoundedQueueTest, ZeroCapacityStillHoldsOneItem) {
  BoundedQueue<int> queue(0);
  EXPECT_TRUE(queue.Push(1));
  queue.Close();
  EXPECT_EQ(queue.Pop(), std::optional<int>(1));
}

TEST(BoundedQueueTest, ManyProducersAndConsumersLoseAndDuplicateNothing) {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 500;
  BoundedQueue<int> queue(3);
  absl::Mutex mu;
  std::multiset<int> seen;
  std::vector<std::thread> consumers;
  for (int c = 0; c < 3; ++c) {
    consumers.emplace_back([&] {
      while (std::optional<int> item = queue.Pop()) {
        absl::MutexLock lock(&mu);
        seen.insert(*item);
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) EXPECT_TRUE(queue.Push(p * kPerProducer + i));
    });
  }
  for (std::thread& t : producers) t.join();
  queue.Close();
  for (std::thread& t : consumers) t.join();
  ASSERT_EQ(seen.size(), static_cast<size_t>(kProducers * kPerProducer));
  int expected = 0;
  for (int v : seen) EXPECT_EQ(v, expected++);
}

}  // namespace
}  // namespace genfarm::worker
