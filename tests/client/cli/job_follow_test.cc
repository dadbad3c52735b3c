// FollowJob (client/cli/job_follow.cc) against an in-process fake JobService (no port) on a
// FakeClock: how `genfarm watch` rides out a scheduler restart.
#include "client/cli/job_follow.h"

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/cli/commands.h"
#include "client/cli/scheduler_connection.h"
#include "common/clock.h"
#include "genfarm/v1/job_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm::client {
namespace {

using ::testing::HasSubstr;

// Each WatchJob call plays the next scripted connection: its events, then its status.
class ScriptedJobService : public v1::JobService::Service {
 public:
  struct Connection {
    std::vector<v1::JobState> states;  // one event per state
    grpc::Status status;
  };
  void Add(Connection c) {
    absl::MutexLock lock(&mu_);
    script_.push_back(std::move(c));
  }
  int watches() {
    absl::MutexLock lock(&mu_);
    return watches_;
  }

  grpc::Status WatchJob(grpc::ServerContext*, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override {
    Connection c;
    {
      absl::MutexLock lock(&mu_);
      ++watches_;
      if (script_.empty()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "down");
      c = script_.front();
      script_.pop_front();
    }
    for (v1::JobState state : c.states) {
      v1::JobEvent event;
      event.mutable_job()->set_id(request->job_id());
      event.mutable_job()->set_state(state);
      writer->Write(event);
    }
    return c.status;
  }

 private:
  absl::Mutex mu_;
  std::deque<Connection> script_ ABSL_GUARDED_BY(mu_);
  int watches_ ABSL_GUARDED_BY(mu_) = 0;
};

const grpc::Status kRestarting(grpc::StatusCode::UNAVAILABLE, "scheduler restarting");

class JobFollowTest : public ::testing::Test {
 protected:
  JobFollowTest() {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    scheduler_ = std::make_unique<SchedulerConnection>(
        "sched:7070", absl::Seconds(10), server_->InProcessChannel(grpc::ChannelArguments()));
  }
  ~JobFollowTest() override {
    if (follower_.joinable()) follower_.join();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  }

  // FollowJob on its own thread: it blocks on the clock between reconnects.
  void StartFollowing() {
    follower_ = std::thread([this] {
      CommandContext ctx{scheduler_.get(),   &out_, &err_, false, false, &clock_,
                         absl::UTCTimeZone()};
      result_ = FollowJob(ctx, 17, progress_, /*tty=*/false);
    });
  }
  absl::StatusOr<v1::Job> Finish() {
    follower_.join();
    return result_;
  }
  // The reconnect delay FollowJob is waiting out.
  absl::Duration AwaitDelay() {
    std::optional<absl::Time> due = clock_.AwaitWaiterDueBy(clock_.Now() + absl::Minutes(1));
    EXPECT_TRUE(due.has_value()) << "not waiting to reconnect";
    return due ? *due - clock_.Now() : absl::ZeroDuration();
  }

  FakeClock clock_;
  ScriptedJobService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<SchedulerConnection> scheduler_;
  std::ostringstream out_, err_, progress_;  // written by the follower thread only
  std::thread follower_;
  absl::StatusOr<v1::Job> result_;
};

TEST_F(JobFollowTest, RidesOutASchedulerRestartWithGrowingWaitsOnTheClock) {
  service_.Add({{v1::JOB_STATE_ACTIVE}, kRestarting});
  service_.Add({{}, kRestarting});
  service_.Add({{v1::JOB_STATE_ACTIVE, v1::JOB_STATE_SUCCEEDED}, grpc::Status::OK});
  StartFollowing();
  EXPECT_EQ(AwaitDelay(), absl::Seconds(1));
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(AwaitDelay(), absl::Seconds(2));  // the second connect failed too
  clock_.Advance(absl::Seconds(2));
  absl::StatusOr<v1::Job> job = Finish();
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(service_.watches(), 3);
  EXPECT_THAT(err_.str(), HasSubstr("lost the scheduler at sched:7070, reconnecting in 1"));
  EXPECT_THAT(err_.str(), HasSubstr("reconnecting in 2"));
}

TEST_F(JobFollowTest, AnEventResetsTheWaitToOneSecond) {
  service_.Add({{v1::JOB_STATE_ACTIVE}, kRestarting});
  service_.Add({{v1::JOB_STATE_ACTIVE}, kRestarting});  // got through: the curve starts over
  service_.Add({{v1::JOB_STATE_SUCCEEDED}, grpc::Status::OK});
  StartFollowing();
  EXPECT_EQ(AwaitDelay(), absl::Seconds(1));
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(AwaitDelay(), absl::Seconds(1));
  clock_.Advance(absl::Seconds(1));
  absl::StatusOr<v1::Job> job = Finish();
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(JobFollowTest, GivesUpAfterFiveReconnects) {
  service_.Add({{v1::JOB_STATE_ACTIVE}, kRestarting});  // then the scheduler stays down
  StartFollowing();
  for (absl::Duration expected : {absl::Seconds(1), absl::Seconds(2), absl::Seconds(4),
                                  absl::Seconds(8), absl::Seconds(16)}) {
    ASSERT_EQ(AwaitDelay(), expected);
    clock_.Advance(expected);
  }
  absl::StatusOr<v1::Job> job = Finish();
  EXPECT_EQ(job.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(service_.watches(), 6);
}

TEST_F(JobFollowTest, AJobThatWasNeverSeenIsNotRetried) {
  StartFollowing();  // the first watch fails at once
  absl::StatusOr<v1::Job> job = Finish();
  EXPECT_FALSE(job.ok());
  EXPECT_EQ(service_.watches(), 1);
  EXPECT_EQ(clock_.waits_started(), 0);
}

}  // namespace
}  // namespace genfarm::client
