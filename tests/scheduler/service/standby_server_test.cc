// StandbyServer on a loopback port: what a standby scheduler (--ha, not leading) tells
// Kubernetes probes, health-checking clients and people who call it anyway.
#include "scheduler/service/standby_server.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "genfarm/v1/job_service.grpc.pb.h"
#include "genfarm/v1/worker_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm::scheduler {
namespace {

using ::testing::HasSubstr;

// grpc.health.v1.Health/Check of `service`, encoded by hand (HealthCheckRequest has one
// string field; the reply one enum): "SERVING", "NOT_SERVING", or the error.
std::string Health(const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  std::string request;
  if (!service.empty()) request = absl::StrCat("\x0a", std::string(1, service.size()), service);
  grpc::Slice slice(request);
  grpc::ByteBuffer in(&slice, 1);
  grpc::ByteBuffer out;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::GenericStub stub(channel);
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &in, &out,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (!status.ok()) return absl::StrCat("error ", status.error_code());
  std::vector<grpc::Slice> slices;
  (void)out.Dump(&slices);
  std::string reply;
  for (const grpc::Slice& s : slices)
    reply.append(reinterpret_cast<const char*>(s.begin()), s.size());
  if (reply == std::string("\x08\x01", 2)) return "SERVING";
  if (reply == std::string("\x08\x02", 2)) return "NOT_SERVING";
  return absl::StrCat("reply of ", reply.size(), " bytes");
}

class StandbyServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<StandbyServer>> standby =
        StandbyServer::Start("127.0.0.1:0", auth::SecurityOptions());
    ASSERT_TRUE(standby.ok()) << standby.status();
    standby_ = *std::move(standby);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", standby_->port()),
                                   grpc::InsecureChannelCredentials());
  }

  grpc::Status ListJobs() {
    auto stub = v1::JobService::NewStub(channel_);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::ListJobsResponse response;
    return stub->ListJobs(&context, v1::ListJobsRequest(), &response);
  }

  std::unique_ptr<StandbyServer> standby_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(StandbyServerTest, HealthIsNotServingButLivenessIs) {
  EXPECT_EQ(Health(channel_, ""), "NOT_SERVING");
  EXPECT_EQ(Health(channel_, kLivenessService), "SERVING");
}

TEST_F(StandbyServerTest, EveryCallIsUnavailableAndNamesTheLeader) {
  grpc::Status before = ListJobs();
  EXPECT_EQ(before.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(before.error_message(), HasSubstr("no scheduler has led yet"));

  standby_->SetLeader({false, 7, "sched-b:1:ab", "sched-b:7070", false});
  grpc::Status now = ListJobs();
  EXPECT_EQ(now.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(now.error_message(), HasSubstr("standby"));
  EXPECT_THAT(now.error_message(), HasSubstr("/genfarm.v1.JobService/ListJobs"));
  EXPECT_THAT(now.error_message(), HasSubstr("the leader is sched-b:7070 (epoch 7)"));

  // A worker's stream is refused the same way, so its reconnect loop goes on.
  auto workers = v1::WorkerService::NewStub(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto stream = workers->Connect(&context);
  v1::SchedulerMessage message;
  EXPECT_FALSE(stream->Read(&message));
  grpc::Status finished = stream->Finish();
  EXPECT_EQ(finished.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(finished.error_message(), HasSubstr("sched-b:7070"));

  standby_->SetLeader({false, 7, "sched-b:1:ab", "sched-b:7070", true});
  EXPECT_THAT(ListJobs().error_message(), HasSubstr("let its lease expire"));
}

TEST_F(StandbyServerTest, ShutdownFreesThePortForTheFullServer) {
  const int port = standby_->port();
  standby_->Shutdown();
  standby_->Shutdown();  // idempotent
  absl::StatusOr<std::unique_ptr<StandbyServer>> again =
      StandbyServer::Start(absl::StrCat("127.0.0.1:", port), auth::SecurityOptions());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->port(), port);
}

}  // namespace
}  // namespace genfarm::scheduler
