#include "worker/daemon/scheduler_link.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/service/stream_writer.h"

namespace genfarm::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr absl::Duration kEventually = absl::Seconds(10);

// A scheduler's WorkerService reduced to what the link depends on: it records every
// message, welcomes a hello (or refuses the next `refusals` of them, as a scheduler that is
// starting up or rejecting the worker would), and lets the test push messages down the
// current stream or drop it. Served in-process: no port.
class FakeScheduler : public v1::WorkerService::CallbackService {
 public:
  using Reactor = grpc::ServerBidiReactor<v1::WorkerMessage, v1::SchedulerMessage>;
  using Writer = scheduler::StreamWriter<Reactor, v1::SchedulerMessage>;

  Reactor* Connect(grpc::CallbackServerContext*) override { return new Stream(this); }

  void RefuseNextHellos(int n, std::string why = "scheduler starting") {
    absl::MutexLock lock(&mu_);
    refusals_ = n;
    refusal_ = std::move(why);
  }
  void SetHeartbeatIntervalMs(int32_t ms) {
    absl::MutexLock lock(&mu_);
    heartbeat_interval_ms_ = ms;
  }
  // Sends down the welcomed stream; false when there is none.
  bool Send(const v1::SchedulerMessage& message) {
    absl::MutexLock lock(&mu_);
    if (current_ == nullptr) return false;
    current_->Send(message);
    return true;
  }
  // Ends the welcomed stream as a scheduler going away would.
  void DropStream() {
    absl::MutexLock lock(&mu_);
    if (current_ != nullptr) current_->Close(grpc::Status(grpc::StatusCode::UNAVAILABLE, "bye"));
    current_ = nullptr;
  }

  // Waits until `n` messages arrived in all; returns them all.
  std::vector<v1::WorkerMessage> AwaitMessages(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return received_.size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), kEventually);
    return received_;
  }
  std::vector<v1::Hello> AwaitHellos(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return Hellos().size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), kEventually);
    return Hellos();
  }
  bool AwaitStreamsEnded(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return streams_done_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kEventually);
  }
  std::vector<v1::WorkerMessage> received() const {
    absl::MutexLock lock(&mu_);
    return received_;
  }

 private:
  class Stream : public Reactor {
   public:
    explicit Stream(FakeScheduler* scheduler)
        : scheduler_(scheduler), writer_(std::make_shared<Writer>(this)) {
      StartRead(&in_);
    }
    void OnReadDone(bool ok) override {
      if (!ok) {
        writer_->Close(grpc::Status::OK);
        return;
      }
      scheduler_->Received(in_, writer_);
      StartRead(&in_);
    }
    void OnWriteDone(bool ok) override { writer_->WriteDone(ok); }
    void OnDone() override {
      writer_->Detach();
      scheduler_->Ended(writer_.get());
      delete this;
    }

   private:
    FakeScheduler* scheduler_;
    std::shared_ptr<Writer> writer_;
    v1::WorkerMessage in_;
  };

  void Received(const v1::WorkerMessage& message, const std::shared_ptr<Writer>& writer) {
    absl::MutexLock lock(&mu_);
    received_.push_back(message);
    if (!message.has_hello()) return;
    if (refusals_ > 0) {
      --refusals_;
      writer->Close(grpc::Status(grpc::StatusCode::UNAVAILABLE, refusal_));
      return;
    }
    v1::SchedulerMessage welcome;
    welcome.mutable_welcome()->set_worker_id(message.hello().worker_id());
    welcome.mutable_welcome()->set_heartbeat_interval_ms(heartbeat_interval_ms_);
    writer->Send(welcome);
    current_ = writer;
  }
  void Ended(Writer* writer) {
    absl::MutexLock lock(&mu_);
    if (current_.get() == writer) current_ = nullptr;
    ++streams_done_;
  }
  std::vector<v1::Hello> Hellos() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<v1::Hello> out;
    for (const v1::WorkerMessage& m : received_) {
      if (m.has_hello()) out.push_back(m.hello());
    }
    return out;
  }

  mutable absl::Mutex mu_;
  std::vector<v1::WorkerMessage> received_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Writer> current_ ABSL_GUARDED_BY(mu_);
  int refusals_ ABSL_GUARDED_BY(mu_) = 0;
  std::string refusal_ ABSL_GUARDED_BY(mu_);
  int32_t heartbeat_interval_ms_ ABSL_GUARDED_BY(mu_) = 5000;
  int streams_done_ ABSL_GUARDED_BY(mu_) = 0;
};

v1::WorkerMessage ResultFor(int64_t attempt) {
  v1::WorkerMessage m;
  m.mutable_result()->set_attempt_id(attempt);
  m.mutable_result()->set_success(true);
  return m;
}

class SchedulerLinkTest : public ::testing::Test {
 protected:
  SchedulerLinkTest() {
    grpc::ServerBuilder builder;
    builder.RegisterService(&scheduler_);
    server_ = builder.BuildAndStart();
    SchedulerLink::Options options;
    options.address = "in-process";
    options.lease = &leases_;
    options.max_buffered_log_lines = 5;
    options.on_log_lines_dropped = [this](int64_t n) { dropped_lines_ += n; };
    options.check_server = [this] {
      ++server_checks_;
      return absl::FailedPreconditionError("the scheduler presented a certificate ...");
    };
    link_ = std::make_unique<SchedulerLink>(
        server_->InProcessChannel(grpc::ChannelArguments()), options,
        [this] {
          v1::Hello hello;
          hello.set_worker_id("w1");
          hello.set_slots(2);
          return hello;
        },
        [this](const v1::SchedulerMessage& m) {
          absl::MutexLock lock(&mu_);
          handled_.push_back(m);
        },
        [this] {
          v1::Heartbeat hb;
          hb.add_running_attempts(beats_++);
          return hb;
        },
        clock_, bitgen_);
  }
  ~SchedulerLinkTest() override {
    link_->Stop();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  }

  // The delay the link is waiting out before its next connect: the one wait on the clock
  // due within a minute (heartbeat waits are an hour apart in these tests).
  absl::Duration AwaitReconnectDelay() {
    std::optional<absl::Time> due = clock_.AwaitWaiterDueBy(clock_.Now() + absl::Minutes(1));
    EXPECT_TRUE(due.has_value()) << "the link is not waiting to reconnect";
    return due ? *due - clock_.Now() : absl::ZeroDuration();
  }
  // Connected: the heartbeat thread waits out its interval on the clock.
  void AwaitConnected(absl::Duration interval) {
    ASSERT_TRUE(clock_.AwaitWaiterDueBy(clock_.Now() + interval).has_value());
    EXPECT_TRUE(link_->connected());
  }
  std::vector<v1::SchedulerMessage> AwaitHandled(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return handled_.size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), kEventually);
    return handled_;
  }

  FakeClock clock_;
  absl::BitGen bitgen_;
  LeaseTable leases_{clock_};
  int64_t dropped_lines_ = 0;  // written with the link's lock held, read after it is stopped
  std::atomic<int> server_checks_{0};
  FakeScheduler scheduler_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<SchedulerLink> link_;
  absl::Mutex mu_;
  std::vector<v1::SchedulerMessage> handled_ ABSL_GUARDED_BY(mu_);
  int beats_ = 0;  // heartbeat thread only
};

TEST_F(SchedulerLinkTest, SaysHelloAndHandsSchedulerMessagesToTheHandler) {
  link_->Start();
  std::vector<v1::Hello> hellos = scheduler_.AwaitHellos(1);
  ASSERT_THAT(hellos, ::testing::SizeIs(1));
  EXPECT_EQ(hellos[0].worker_id(), "w1");
  EXPECT_EQ(hellos[0].slots(), 2);
  AwaitConnected(absl::Seconds(5));

  v1::SchedulerMessage assign;
  assign.mutable_assign()->set_attempt_id(12);
  ASSERT_TRUE(scheduler_.Send(assign));
  std::vector<v1::SchedulerMessage> handled = AwaitHandled(1);
  ASSERT_THAT(handled, ::testing::SizeIs(1));  // the welcome is the link's, not the handler's
  EXPECT_EQ(handled[0].assign().attempt_id(), 12);
}

TEST_F(SchedulerLinkTest, HeartbeatsAtTheIntervalTheSchedulerAsksFor) {
  scheduler_.SetHeartbeatIntervalMs(7000);
  link_->Start();
  const absl::Time welcomed = clock_.Now();
  std::optional<absl::Time> due = clock_.AwaitWaiterDueBy(welcomed + absl::Hours(1));
  ASSERT_TRUE(due.has_value());
  EXPECT_EQ(*due, welcomed + absl::Seconds(7));
  EXPECT_THAT(scheduler_.received(), ::testing::SizeIs(1));  // just the hello
  clock_.Advance(absl::Seconds(7) - absl::Milliseconds(1));
  EXPECT_THAT(scheduler_.received(), ::testing::SizeIs(1));
  clock_.Advance(absl::Milliseconds(1));
  std::vector<v1::WorkerMessage> got = scheduler_.AwaitMessages(2);
  ASSERT_THAT(got, ::testing::SizeIs(2));
  ASSERT_TRUE(got[1].has_heartbeat());
  EXPECT_THAT(got[1].heartbeat().running_attempts(), ElementsAre(0));
  // The next beat is one interval after this one.
  due = clock_.AwaitWaiterDueBy(clock_.Now() + absl::Hours(1));
  ASSERT_TRUE(due.has_value());
  EXPECT_EQ(*due, clock_.Now() + absl::Seconds(7));
  clock_.Advance(absl::Seconds(7));
  got = scheduler_.AwaitMessages(3);
  ASSERT_THAT(got, ::testing::SizeIs(3));
  EXPECT_THAT(got[2].heartbeat().running_attempts(), ElementsAre(1));
}

TEST_F(SchedulerLinkTest, AResultSentWhileDisconnectedIsDeliveredAfterTheNextHello) {
  scheduler_.SetHeartbeatIntervalMs(3'600'000);
  link_->Send(ResultFor(77));  // not connected yet: kept
  v1::WorkerMessage progress;
  progress.mutable_progress()->set_attempt_id(77);
  link_->Send(progress);  // dropped: the next progress supersedes it
  EXPECT_THAT(link_->PendingResults(), ElementsAre(77));

  link_->Start();
  std::vector<v1::WorkerMessage> got = scheduler_.AwaitMessages(2);
  ASSERT_THAT(got, ::testing::SizeIs(2));
  // The hello claims the attempt as running, so the scheduler keeps it for us...
  EXPECT_THAT(got[0].hello().running_attempts(), ElementsAre(77));
  // ...and its result follows the welcome.
  ASSERT_TRUE(got[1].has_result());
  EXPECT_EQ(got[1].result().attempt_id(), 77);
  EXPECT_THAT(link_->PendingResults(), IsEmpty());

  // The scheduler goes away; a result finished meanwhile waits for the reconnect.
  scheduler_.DropStream();
  const absl::Duration delay = AwaitReconnectDelay();
  EXPECT_FALSE(link_->connected());
  link_->Send(ResultFor(78));
  EXPECT_THAT(link_->PendingResults(), ElementsAre(78));
  clock_.Advance(delay);
  got = scheduler_.AwaitMessages(4);
  ASSERT_THAT(got, ::testing::SizeIs(4));
  EXPECT_THAT(got[2].hello().running_attempts(), ElementsAre(78));
  EXPECT_EQ(got[3].result().attempt_id(), 78);
  EXPECT_THAT(link_->PendingResults(), IsEmpty());
}

TEST_F(SchedulerLinkTest, ReconnectDelayGrowsWithEachFailureAndResetsAfterAWelcome) {
  scheduler_.SetHeartbeatIntervalMs(3'600'000);
  scheduler_.RefuseNextHellos(3);
  link_->Start();
  // 200 ms doubling, each drawn from [d/2, d].
  const absl::Duration ceilings[] = {absl::Milliseconds(200), absl::Milliseconds(400),
                                     absl::Milliseconds(800)};
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(scheduler_.AwaitHellos(i + 1), ::testing::SizeIs(i + 1));
    const absl::Duration delay = AwaitReconnectDelay();
    EXPECT_GE(delay, ceilings[i] / 2) << "failure " << i + 1;
    EXPECT_LE(delay, ceilings[i]) << "failure " << i + 1;
    clock_.Advance(delay - absl::Milliseconds(1));
    EXPECT_THAT(scheduler_.received(), ::testing::SizeIs(i + 1)) << "reconnected early";
    clock_.Advance(absl::Milliseconds(1));
  }
  ASSERT_THAT(scheduler_.AwaitHellos(4), ::testing::SizeIs(4));  // welcomed this time
  AwaitConnected(absl::Hours(1));

  scheduler_.DropStream();  // a welcome reset the curve: back to the first delay
  const absl::Duration delay = AwaitReconnectDelay();
  EXPECT_GE(delay, absl::Milliseconds(100));
  EXPECT_LE(delay, absl::Milliseconds(200));
  clock_.Advance(delay);
  EXPECT_THAT(scheduler_.AwaitHellos(5), ::testing::SizeIs(5));
}

TEST_F(SchedulerLinkTest, AFailedHandshakeChecksTheServerOncePerRunOfFailures) {
  scheduler_.SetHeartbeatIntervalMs(3'600'000);
  scheduler_.RefuseNextHellos(3, "Ssl handshake failed: SSL_ERROR_SSL: certificate verify failed");
  link_->Start();
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(scheduler_.AwaitHellos(i + 1), ::testing::SizeIs(i + 1));
    clock_.Advance(AwaitReconnectDelay());
  }
  ASSERT_THAT(scheduler_.AwaitHellos(4), ::testing::SizeIs(4));  // welcomed
  AwaitConnected(absl::Hours(1));
  EXPECT_EQ(server_checks_.load(), 1);  // three failures, one check

  // Other failures are not the certificate's; after a welcome a new run checks again.
  scheduler_.RefuseNextHellos(1);
  scheduler_.DropStream();
  clock_.Advance(AwaitReconnectDelay());
  ASSERT_THAT(scheduler_.AwaitHellos(5), ::testing::SizeIs(5));
  clock_.Advance(AwaitReconnectDelay());
  ASSERT_THAT(scheduler_.AwaitHellos(6), ::testing::SizeIs(6));
  AwaitConnected(absl::Hours(1));
  EXPECT_EQ(server_checks_.load(), 1);
  scheduler_.RefuseNextHellos(1, "Ssl handshake failed");
  scheduler_.DropStream();
  clock_.Advance(AwaitReconnectDelay());
  ASSERT_THAT(scheduler_.AwaitHellos(7), ::testing::SizeIs(7));
  clock_.Advance(AwaitReconnectDelay());
  ASSERT_THAT(scheduler_.AwaitHellos(8), ::testing::SizeIs(8));
  EXPECT_EQ(server_checks_.load(), 2);
}

TEST_F(SchedulerLinkTest, StopCutsAReconnectWaitShortAndClosesTheStream) {
  scheduler_.RefuseNextHellos(1);
  link_->Start();
  AwaitReconnectDelay();
  link_->Stop();  // returns without the clock moving
  EXPECT_EQ(clock_.WaiterCount(), 0);
  EXPECT_THAT(scheduler_.received(), ::testing::SizeIs(1));
}

TEST_F(SchedulerLinkTest, StopWhileConnectedEndsTheSchedulersStream) {
  link_->Start();
  AwaitConnected(absl::Seconds(5));
  link_->Stop();
  EXPECT_TRUE(scheduler_.AwaitStreamsEnded(1));
  EXPECT_FALSE(link_->connected());
  link_->Send(ResultFor(5));  // after Stop: kept, never sent
  EXPECT_THAT(scheduler_.received(), ::testing::SizeIs(1));
}

v1::WorkerMessage LogLines(int64_t attempt, std::vector<std::string> lines) {
  v1::WorkerMessage m;
  m.mutable_progress()->set_attempt_id(attempt);
  for (std::string& line : lines) m.mutable_progress()->add_log_lines(std::move(line));
  return m;
}

TEST_F(SchedulerLinkTest, LogLinesSentWhileDisconnectedArriveAfterTheHelloBeforeTheResult) {
  scheduler_.SetHeartbeatIntervalMs(3'600'000);
  link_->Send(LogLines(77, {"model warm", "frame 1001"}));
  link_->Send(ResultFor(77));
  link_->Start();
  std::vector<v1::WorkerMessage> got = scheduler_.AwaitMessages(3);
  ASSERT_THAT(got, ::testing::SizeIs(3));
  EXPECT_TRUE(got[0].has_hello());
  // In the order they were sent: the scheduler takes log lines only while the attempt runs.
  ASSERT_TRUE(got[1].has_progress());
  EXPECT_THAT(got[1].progress().log_lines(), ElementsAre("model warm", "frame 1001"));
  EXPECT_EQ(got[2].result().attempt_id(), 77);
}

TEST_F(SchedulerLinkTest, TheLogBufferIsBoundedTheOldestLinesGoFirstAndAreCounted) {
  scheduler_.SetHeartbeatIntervalMs(3'600'000);
  link_->Send(LogLines(1, {"a", "b"}));
  link_->Send(LogLines(1, {"c", "d"}));
  link_->Send(ResultFor(1));             // a result is never dropped
  link_->Send(LogLines(2, {"e", "f"}));  // 6 lines > 5: the oldest message goes
  link_->Start();
  std::vector<v1::WorkerMessage> got = scheduler_.AwaitMessages(4);
  ASSERT_THAT(got, ::testing::SizeIs(4));
  EXPECT_THAT(got[1].progress().log_lines(), ElementsAre("c", "d"));
  EXPECT_EQ(got[2].result().attempt_id(), 1);
  EXPECT_THAT(got[3].progress().log_lines(), ElementsAre("e", "f"));
  link_->Stop();
  EXPECT_EQ(dropped_lines_, 2);
}

TEST_F(SchedulerLinkTest, HellosAndHeartbeatsAreNumberedAndRenewalsGoToTheLeaseTable) {
  scheduler_.SetHeartbeatIntervalMs(1000);
  link_->Start();
  std::vector<v1::Hello> hellos = scheduler_.AwaitHellos(1);
  ASSERT_THAT(hellos, ::testing::SizeIs(1));
  const int64_t hello_seq = hellos[0].lease_seq();
  EXPECT_GT(hello_seq, 0);
  AwaitConnected(absl::Seconds(1));
  const absl::Time hello_sent = clock_.Now();  // the fake clock has not moved since
  clock_.Advance(absl::Seconds(1));
  std::vector<v1::WorkerMessage> got = scheduler_.AwaitMessages(2);
  ASSERT_THAT(got, ::testing::SizeIs(2));
  EXPECT_GT(got[1].heartbeat().lease_seq(), hello_seq);

  // The renewal answers the hello: the lease runs from when the hello was sent.
  v1::SchedulerMessage renewal;
  renewal.mutable_lease()->set_lease_seq(hello_seq);
  renewal.mutable_lease()->set_lease_ms(10000);
  ASSERT_TRUE(scheduler_.Send(renewal));
  v1::SchedulerMessage assign;  // sent after it on the same stream: handled after it
  assign.mutable_assign()->set_attempt_id(12);
  ASSERT_TRUE(scheduler_.Send(assign));
  std::vector<v1::SchedulerMessage> handled = AwaitHandled(1);
  ASSERT_THAT(handled, ::testing::SizeIs(1));  // the renewal is the link's, not the handler's
  EXPECT_TRUE(handled[0].has_assign());
  EXPECT_TRUE(leases_.enabled());
  leases_.Add(12);
  EXPECT_EQ(leases_.ValidUntil(12), hello_sent + absl::Milliseconds(9850));
}

}  // namespace
}  // namespace genfarm::worker
