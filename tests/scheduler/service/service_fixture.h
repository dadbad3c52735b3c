// A scheduler's gRPC services over an in-process channel (no port): the real SchedulerCore on
// a FakeClock with a recording sink and the real placement policy, behind the real job and
// worker services, on a SerialExecutor that dispatches after every burst, as in production.
//
//   class WorkerServiceTest : public ServiceFixture {};
//   auto stream = worker_stub_->Connect(&context);
//   Submit(OneStageYaml("1-2"));
//   EXPECT_TRUE(Eventually([&] { return core_.ListWorkers(true).size() == 1; }));
//
// The core and the sink are touched only on the executor (Eventually and RunOnCore get there).
#ifndef GENFARM_TESTS_SCHEDULER_SERVICE_SERVICE_FIXTURE_H_
#define GENFARM_TESTS_SCHEDULER_SERVICE_SERVICE_FIXTURE_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/job_spec.h"
#include "common/serial_executor.h"
#include "genfarm/v1/job_service.grpc.pb.h"
#include "genfarm/v1/worker_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/policy/genfarm_policy.h"
#include "scheduler/service/job_service.h"
#include "scheduler/service/worker_service.h"
#include "scheduler/store/in_memory_job_store.h"
#include "tests/scheduler/core/fakes.h"

namespace genfarm::scheduler::testing {

// One model stage `upres` (esrgan) over `frames`, `chunk` frames per task.
inline std::string OneStageYaml(const std::string& frames, int chunk = 1) {
  return absl::StrCat(
      "name: job\nproject: show\nstages:\n  - name: upres\n    model: esrgan\n"
      "    input: in/plate.####.exr\n    output: out/upres.####.exr\n    frames: \"",
      frames, "\"\n    chunk: ", chunk, "\n    retries: 0\n");
}

class ServiceFixture : public ::testing::Test {
 protected:
  ServiceFixture() {
    core_.LearnModels({Model("esrgan")});  // as if a worker had advertised it before
    grpc::ServerBuilder builder;
    builder.RegisterService(&job_service_);
    builder.RegisterService(&worker_service_);
    server_ = builder.BuildAndStart();
    channel_ = server_->InProcessChannel(grpc::ChannelArguments());
    job_stub_ = v1::JobService::NewStub(channel_);
    worker_stub_ = v1::WorkerService::NewStub(channel_);
  }
  ~ServiceFixture() override {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    executor_.Stop();  // runs what the reactors' OnDone posted, while the core is alive
  }

  // Every client call has a deadline (real time: gRPC's own clock).
  static void SetDeadline(grpc::ClientContext& context) {
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  }

  JobId Submit(const std::string& yaml) {
    absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(yaml);
    EXPECT_TRUE(spec.ok()) << spec.status();
    grpc::ClientContext context;
    SetDeadline(context);
    v1::SubmitJobRequest request;
    if (spec.ok()) *request.mutable_spec() = *spec;
    v1::SubmitJobResponse response;
    grpc::Status status = job_stub_->SubmitJob(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return JobId(response.job_id());
  }

  v1::JobState JobStateOf(JobId id) {
    return RunOnCore([&] {
      absl::StatusOr<v1::Job> job = core_.GetJob(id);
      return job.ok() ? job->state() : v1::JOB_STATE_UNSPECIFIED;
    });
  }

  template <typename F>
  auto RunOnCore(F fn) -> decltype(fn()) {
    return executor_.Run(std::move(fn));
  }

  // Asks `pred` on the core's executor until it holds or 10 s of real time pass: for effects
  // a reactor posts after the client already returned (OnDone runs after Finish).
  template <typename Pred>
  bool Eventually(Pred pred) {
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (!RunOnCore(pred)) {
      if (absl::Now() > give_up) return false;
      std::this_thread::yield();
    }
    return true;
  }

  FakeClock clock_;
  RecordingSink sink_;
  GenFarmPolicy policy_{PolicyConfig{}};
  SchedulerCore core_{clock_, sink_, policy_, CoreOptions{}};
  SerialExecutor executor_{[this] { core_.Dispatch(); }};
  InMemoryJobStore store_;
  SerialExecutor log_reader_;
  GrpcJobService job_service_{executor_, core_, store_, log_reader_};
  GrpcWorkerService worker_service_{executor_, core_};
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::JobService::Stub> job_stub_;
  std::unique_ptr<v1::WorkerService::Stub> worker_stub_;
};

}  // namespace genfarm::scheduler::testing

#endif  // GENFARM_TESTS_SCHEDULER_SERVICE_SERVICE_FIXTURE_H_
