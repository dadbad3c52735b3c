#include "scheduler/service/stream_writer.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm::scheduler {
namespace {

using ::testing::ElementsAre;

// Stands in for a gRPC reactor: records the writes started and the Finish, and checks that
// StreamWriter never starts a second write before the first completed (gRPC allows one).
class FakeReactor {
 public:
  void StartWrite(const std::string* message) {
    absl::MutexLock lock(&mu_);
    if (in_flight_) two_in_flight_ = true;
    in_flight_ = true;
    started_.push_back(*message);
  }
  void Finish(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    ++finishes_;
    status_ = status;
  }

  // Completes the write in flight, as gRPC's OnWriteDone would (outside the writer's lock).
  template <typename Writer>
  void CompleteWrite(Writer& writer, bool ok = true) {
    {
      absl::MutexLock lock(&mu_);
      ASSERT_TRUE(in_flight_) << "no write in flight";
      in_flight_ = false;
    }
    writer.WriteDone(ok);
  }
  // For the concurrent test: waits for a write to be in flight or `done`.
  bool AwaitWriteOrDone(const bool* done) {
    absl::MutexLock lock(&mu_);
    auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ || *done; };
    mu_.Await(absl::Condition(&ready));
    return in_flight_;
  }
  bool AwaitFinished(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto finished = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return finishes_ > 0; };
    return mu_.AwaitWithTimeout(absl::Condition(&finished), timeout);
  }
  void SetDone(bool* done) {
    absl::MutexLock lock(&mu_);
    *done = true;
  }

  std::vector<std::string> started() const {
    absl::MutexLock lock(&mu_);
    return started_;
  }
  bool in_flight() const {
    absl::MutexLock lock(&mu_);
    return in_flight_;
  }
  bool two_in_flight() const {
    absl::MutexLock lock(&mu_);
    return two_in_flight_;
  }
  int finishes() const {
    absl::MutexLock lock(&mu_);
    return finishes_;
  }
  grpc::StatusCode status_code() const {
    absl::MutexLock lock(&mu_);
    return status_.error_code();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> started_ ABSL_GUARDED_BY(mu_);
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool two_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  int finishes_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

using Writer = StreamWriter<FakeReactor, std::string>;

void Append(std::string& queued, const std::string& next) { queued += "+" + next; }

TEST(StreamWriterTest, WritesOneAtATimeInOrder) {
  FakeReactor reactor;
  Writer writer(&reactor);
  writer.Send("a");
  writer.Send("b");
  writer.Send("c");
  EXPECT_THAT(reactor.started(), ElementsAre("a"));  // b and c wait for a to complete
  reactor.CompleteWrite(writer);
  EXPECT_THAT(reactor.started(), ElementsAre("a", "b"));
  reactor.CompleteWrite(writer);
  reactor.CompleteWrite(writer);
  EXPECT_THAT(reactor.started(), ElementsAre("a", "b", "c"));
  EXPECT_FALSE(reactor.in_flight());
  writer.Send("d");  // idle again: starts at once
  EXPECT_THAT(reactor.started(), ElementsAre("a", "b", "c", "d"));
  EXPECT_FALSE(reactor.two_in_flight());
}

TEST(StreamWriterTest, MergeFoldsIntoTheQueuedMessageNotTheOneBeingWritten) {
  FakeReactor reactor;
  Writer writer(&reactor);
  writer.Send("1", Append);  // being written
  writer.Send("2", Append);  // queued
  writer.Send("3", Append);  // folded into 2
  writer.Send("4", Append);  // folded into 2+3
  reactor.CompleteWrite(writer);
  reactor.CompleteWrite(writer);
  EXPECT_THAT(reactor.started(), ElementsAre("1", "2+3+4"));
}

TEST(StreamWriterTest, CloseFinishesOnlyAfterTheQueueDrains) {
  FakeReactor reactor;
  Writer writer(&reactor);
  writer.Send("a");
  writer.Send("b");
  writer.Close(grpc::Status(grpc::StatusCode::ABORTED, "bye"));
  writer.Send("dropped");  // after Close
  EXPECT_EQ(reactor.finishes(), 0);
  reactor.CompleteWrite(writer);
  EXPECT_EQ(reactor.finishes(), 0);  // b still to go
  reactor.CompleteWrite(writer);
  EXPECT_EQ(reactor.finishes(), 1);
  EXPECT_EQ(reactor.status_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(reactor.started(), ElementsAre("a", "b"));
  writer.Close(grpc::Status::OK);  // once only
  EXPECT_EQ(reactor.finishes(), 1);
}

TEST(StreamWriterTest, CloseWhenIdleFinishesAtOnce) {
  FakeReactor reactor;
  Writer writer(&reactor);
  writer.Close(grpc::Status::OK);
  EXPECT_EQ(reactor.finishes(), 1);
  EXPECT_EQ(reactor.status_code(), grpc::StatusCode::OK);
}

TEST(StreamWriterTest, AFailedWriteDropsTheBacklogAndStillFinishes) {
  FakeReactor reactor;
  Writer writer(&reactor);
  writer.Send("a");
  writer.Send("b");
  writer.Close(grpc::Status::OK);
  reactor.CompleteWrite(writer, /*ok=*/false);  // the peer went away
  EXPECT_THAT(reactor.started(), ElementsAre("a"));
  EXPECT_EQ(reactor.finishes(), 1);
}

TEST(StreamWriterTest, AfterDetachNothingReachesTheReactor) {
  FakeReactor reactor;
  Writer writer(&reactor);
  writer.Send("a");
  writer.Detach();  // OnDone: the reactor is being deleted
  writer.WriteDone(true);
  writer.Send("b");
  writer.Close(grpc::Status::OK);
  EXPECT_THAT(reactor.started(), ElementsAre("a"));
  EXPECT_EQ(reactor.finishes(), 0);
}

TEST(StreamWriterTest, ConcurrentSendersNeverHaveTwoWritesInFlightAndKeepTheirOrder) {
  constexpr int kSenders = 4;
  constexpr int kPerSender = 200;
  FakeReactor reactor;
  Writer writer(&reactor);
  bool done = false;  // guarded by the reactor's mutex
  std::thread completer([&] {
    while (reactor.AwaitWriteOrDone(&done)) reactor.CompleteWrite(writer);
  });
  std::vector<std::thread> senders;
  for (int s = 0; s < kSenders; ++s) {
    senders.emplace_back([&, s] {
      for (int i = 0; i < kPerSender; ++i) writer.Send(absl::StrCat(s, ":", i));
    });
  }
  for (std::thread& t : senders) t.join();
  writer.Close(grpc::Status::OK);
  // Close finishes once the last write completes.
  const bool finished = reactor.AwaitFinished(absl::Seconds(10));
  reactor.SetDone(&done);
  completer.join();
  ASSERT_TRUE(finished);

  EXPECT_FALSE(reactor.two_in_flight());
  std::vector<std::string> started = reactor.started();
  ASSERT_EQ(started.size(), static_cast<size_t>(kSenders * kPerSender));
  std::vector<int> next(kSenders, 0);
  for (const std::string& m : started) {
    const int s = m[0] - '0';
    EXPECT_EQ(m, absl::StrCat(s, ":", next[s])) << "sender " << s << " out of order";
    ++next[s];
  }
}

}  // namespace
}  // namespace genfarm::scheduler
