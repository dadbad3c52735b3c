// The worker-stream reactor (scheduler/service/worker_service.cc) over an in-process channel
// against a real core: what a worker daemon sees on its stream.
#include "scheduler/service/worker_service.h"

#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/scheduler/service/service_fixture.h"

namespace genfarm::scheduler {
namespace {

using testing::CpuDevice;
using testing::MakeHello;
using testing::Model;
using testing::OneStageYaml;

using WorkerStream = grpc::ClientReaderWriter<v1::WorkerMessage, v1::SchedulerMessage>;

class WorkerServiceTest : public testing::ServiceFixture {
 protected:
  // Connects as `id` and reads the welcome.
  std::unique_ptr<WorkerStream> ConnectWorker(grpc::ClientContext& context, const std::string& id) {
    SetDeadline(context);
    std::unique_ptr<WorkerStream> stream = worker_stub_->Connect(&context);
    v1::WorkerMessage hello;
    *hello.mutable_hello() = MakeHello(id, {CpuDevice()}, {Model("esrgan")});
    EXPECT_TRUE(stream->Write(hello));
    v1::SchedulerMessage welcome;
    EXPECT_TRUE(stream->Read(&welcome));
    EXPECT_EQ(welcome.welcome().worker_id(), id);
    EXPECT_GT(welcome.welcome().heartbeat_interval_ms(), 0);
    // Lease fencing (docs/fencing.md): the hello's renewal follows the welcome.
    v1::SchedulerMessage lease;
    EXPECT_TRUE(stream->Read(&lease));
    EXPECT_TRUE(lease.has_lease()) << lease.DebugString();
    return stream;
  }

  // Opens a stream, says `hello`, and returns how the scheduler ended the stream.
  grpc::Status EndOfStreamAfter(const v1::Hello& hello) {
    grpc::ClientContext context;
    SetDeadline(context);
    std::unique_ptr<WorkerStream> stream = worker_stub_->Connect(&context);
    v1::WorkerMessage message;
    *message.mutable_hello() = hello;
    EXPECT_TRUE(stream->Write(message));
    v1::SchedulerMessage reply;
    EXPECT_FALSE(stream->Read(&reply));  // no welcome
    return stream->Finish();
  }

  v1::WorkerState WorkerStateOf(const std::string& id) {
    return RunOnCore([&] {
      for (const v1::Worker& w : core_.ListWorkers(true)) {
        if (w.id() == id) return w.state();
      }
      return v1::WORKER_STATE_UNSPECIFIED;
    });
  }
};

TEST_F(WorkerServiceTest, AnAssignmentReachesTheWorkerAndItsResultEndsTheJob) {
  grpc::ClientContext context;
  std::unique_ptr<WorkerStream> stream = ConnectWorker(context, "w1");
  EXPECT_EQ(WorkerStateOf("w1"), v1::WORKER_STATE_ONLINE);

  const JobId job = Submit(OneStageYaml("1-2", /*chunk=*/2));
  v1::SchedulerMessage message;
  ASSERT_TRUE(stream->Read(&message));
  ASSERT_TRUE(message.has_assign()) << message.DebugString();
  const v1::Assignment& a = message.assign();
  EXPECT_EQ(a.job_id(), job.value());
  EXPECT_THAT(a.frames(), ::testing::ElementsAre(1, 2));

  v1::WorkerMessage result;
  v1::Result* r = result.mutable_result();
  r->set_attempt_id(a.attempt_id());
  r->set_job_id(a.job_id());
  r->set_task_index(a.task_index());
  r->set_success(true);
  r->add_frames_done(1);
  r->add_frames_done(2);
  ASSERT_TRUE(stream->Write(result));
  EXPECT_TRUE(Eventually([&] {
    absl::StatusOr<v1::Job> j = core_.GetJob(job);
    return j.ok() && j->state() == v1::JOB_STATE_SUCCEEDED;
  }));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(WorkerServiceTest, TheFirstMessageMustBeAHello) {
  grpc::ClientContext context;
  SetDeadline(context);
  std::unique_ptr<WorkerStream> stream = worker_stub_->Connect(&context);
  v1::WorkerMessage heartbeat;
  heartbeat.mutable_heartbeat();
  ASSERT_TRUE(stream->Write(heartbeat));
  v1::SchedulerMessage message;
  EXPECT_FALSE(stream->Read(&message));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "the first message must be a hello");
}

TEST_F(WorkerServiceTest, ARefusedHelloEndsTheStreamWithTheCoresReason) {
  grpc::ClientContext context;
  SetDeadline(context);
  std::unique_ptr<WorkerStream> stream = worker_stub_->Connect(&context);
  v1::WorkerMessage hello;
  *hello.mutable_hello() = MakeHello("w1", {CpuDevice()}, {Model("esrgan")});
  hello.mutable_hello()->set_slots(-1);
  ASSERT_TRUE(stream->Write(hello));
  v1::SchedulerMessage message;
  EXPECT_FALSE(stream->Read(&message));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("hello.slots"));
}

TEST_F(WorkerServiceTest, AStreamThatEndsTellsTheCoreTheWorkerIsGone) {
  grpc::ClientContext context;
  std::unique_ptr<WorkerStream> stream = ConnectWorker(context, "w1");
  EXPECT_EQ(WorkerStateOf("w1"), v1::WORKER_STATE_ONLINE);
  context.TryCancel();  // the daemon died
  EXPECT_FALSE(stream->Finish().ok());
  EXPECT_TRUE(Eventually([&] {
    for (const v1::Worker& w : core_.ListWorkers(true)) {
      if (w.id() == "w1") return w.state() == v1::WORKER_STATE_OFFLINE;
    }
    return true;  // forgotten altogether is gone too
  }));
}

TEST_F(WorkerServiceTest, ABadWorkerIdEndsTheStreamNamingTheField) {
  grpc::Status status = EndOfStreamAfter(MakeHello("gpu 07\n", {CpuDevice()}, {Model("esrgan")}));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), ::testing::StartsWith("hello.worker_id: 'gpu 07?'"));
  EXPECT_TRUE(RunOnCore([&] { return core_.ListWorkers(true).empty(); }));
}

TEST_F(WorkerServiceTest, ASecondHelloOnOneStreamEndsItWithFailedPrecondition) {
  grpc::ClientContext context;
  std::unique_ptr<WorkerStream> stream = ConnectWorker(context, "w1");
  v1::WorkerMessage hello;
  *hello.mutable_hello() = MakeHello("w2", {CpuDevice()}, {Model("esrgan")});
  ASSERT_TRUE(stream->Write(hello));
  v1::SchedulerMessage message;
  while (stream->Read(&message)) {
  }
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(),
              ::testing::StartsWith("hello: this stream already said hello as 'w1'"));
  EXPECT_EQ(WorkerStateOf("w2"), v1::WORKER_STATE_UNSPECIFIED);  // never registered
}

TEST_F(WorkerServiceTest, ADuplicateIdFromAnotherHostIsRefusedAndTheFirstStaysOnline) {
  grpc::ClientContext first_context;
  std::unique_ptr<WorkerStream> first = ConnectWorker(first_context, "w1");
  v1::Hello hello = MakeHello("w1", {CpuDevice()}, {Model("esrgan")});
  hello.set_hostname("another-host");
  grpc::Status status = EndOfStreamAfter(hello);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(status.error_message(), ::testing::StartsWith("hello.worker_id: worker 'w1'"));
  EXPECT_EQ(WorkerStateOf("w1"), v1::WORKER_STATE_ONLINE);
  first->WritesDone();
  EXPECT_TRUE(first->Finish().ok());
}

TEST_F(WorkerServiceTest, TheSameHostReconnectingEndsTheOldStreamWithAborted) {
  grpc::ClientContext old_context;
  std::unique_ptr<WorkerStream> old_stream = ConnectWorker(old_context, "w1");
  grpc::ClientContext new_context;
  std::unique_ptr<WorkerStream> new_stream = ConnectWorker(new_context, "w1");
  v1::SchedulerMessage message;
  while (old_stream->Read(&message)) {
  }
  grpc::Status status = old_stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("connected again on a newer stream"));
  EXPECT_EQ(WorkerStateOf("w1"), v1::WORKER_STATE_ONLINE);  // the old stream's end is no loss
  new_stream->WritesDone();
  EXPECT_TRUE(new_stream->Finish().ok());
}

}  // namespace
}  // namespace genfarm::scheduler
