// FarmService (scheduler/service/farm_service.cc) over an in-process channel against a real
// core: a drain is answered only once it is durable.
#include "scheduler/service/farm_service.h"

#include <grpcpp/grpcpp.h>

#include <memory>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/serial_executor.h"
#include "genfarm/v1/farm_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "scheduler/core/scheduler_core.h"
#include "tests/scheduler/core/fakes.h"

namespace genfarm::scheduler {
namespace {

class FarmServiceTest : public ::testing::Test {
 protected:
  FarmServiceTest() {
    grpc::ServerBuilder builder;
    builder.RegisterService(&farm_service_);
    server_ = builder.BuildAndStart();
    stub_ = v1::FarmService::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
    absl::Status hello = executor_.Run([this] {
      return core_.WorkerHello(
          testing::MakeHello("w1", {testing::CpuDevice()}, {testing::Model("esrgan")}), channel_);
    });
    EXPECT_TRUE(hello.ok()) << hello;
  }
  ~FarmServiceTest() override {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    executor_.Stop();
  }

  // A DrainWorker call for w1 in flight.
  struct Call {
    grpc::ClientContext context;
    v1::DrainWorkerRequest request;
    v1::DrainWorkerResponse response;
    grpc::Status status;
    absl::Notification answered;
  };

  // Sends DrainWorker for w1 while commits are held, and returns once the core has applied
  // it and waits for its commit.
  void DrainWhileCommitsAreHeld(Call& call) {
    executor_.Run([this] { sink_.HoldDurability(true); });
    call.context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    call.request.set_worker_id("w1");
    stub_->async()->DrainWorker(&call.context, &call.request, &call.response,
                                [&call](grpc::Status s) {
                                  call.status = s;
                                  call.answered.Notify();
                                });
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (executor_.Run([this] { return sink_.held(); }) == 0) {
      ASSERT_LT(absl::Now(), give_up) << "the drain never waited for a commit";
    }
  }

  FakeClock clock_;
  testing::RecordingSink sink_;
  testing::FakePlacementPolicy policy_;
  SchedulerCore core_{clock_, sink_, policy_, CoreOptions{}};
  SerialExecutor executor_{[this] { core_.Dispatch(); }};
  std::shared_ptr<testing::FakeChannel> channel_ = std::make_shared<testing::FakeChannel>();
  GrpcFarmService farm_service_{executor_, core_};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::FarmService::Stub> stub_;
};

TEST_F(FarmServiceTest, DrainIsAnsweredOnlyOnceItIsDurable) {
  Call call;
  DrainWhileCommitsAreHeld(call);
  EXPECT_TRUE(executor_.Run([this] { return sink_.drained("w1"); }));
  EXPECT_FALSE(call.answered.HasBeenNotified());
  executor_.Run([this] { sink_.ReleaseDurable(); });
  call.answered.WaitForNotification();
  EXPECT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_EQ(call.response.worker().state(), v1::WORKER_STATE_DRAINING);
}

TEST_F(FarmServiceTest, ADrainThatWasNotMadeDurableIsAnsweredUnavailable) {
  Call call;
  DrainWhileCommitsAreHeld(call);
  executor_.Run([this] { sink_.ReleaseDurable(absl::FailedPreconditionError("writer stopped")); });
  call.answered.WaitForNotification();
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(FarmServiceTest, DrainOfAnUnknownWorkerIsNotFound) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::DrainWorkerRequest request;
  request.set_worker_id("nobody");
  v1::DrainWorkerResponse response;
  EXPECT_EQ(stub_->DrainWorker(&context, request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace genfarm::scheduler
