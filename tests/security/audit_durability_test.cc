// "Committed before acknowledged" (docs/security.md): a mutation's reply leaves only once its
// audit record is committed, as it leaves only once the change is. The real job and farm
// services over in-process channels against a real core (service_fixture.h), with an audit
// log in memory whose writer the test holds before each commit. And every RPC has its rule.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "genfarm/v1/farm_service.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "scheduler/auth/audit_log.h"
#include "scheduler/auth/authorizer.h"
#include "scheduler/auth/grpc_auth.h"
#include "scheduler/auth/method_rules.h"
#include "scheduler/service/farm_service.h"
#include "tests/scheduler/service/service_fixture.h"

namespace genfarm::scheduler {
namespace {

using testing::OneStageYaml;

// How long a reply that must wait is given to (wrongly) arrive. A reply that leaves too
// early is in flight within microseconds on an in-process channel.
constexpr absl::Duration kNoReplyWithin = absl::Milliseconds(300);

// An audit writer that stops before each commit while held, and says when it got there.
class WriterGate {
 public:
  auth::AuditLog::Options Options() {
    auth::AuditLog::Options options;
    options.before_commit = [this](size_t records) {
      absl::MutexLock lock(&mu_);
      waiting_records_ += records;
      mu_.Await(absl::Condition(this, &WriterGate::Released));
      waiting_records_ = 0;
    };
    return options;
  }
  void Hold() {
    absl::MutexLock lock(&mu_);
    held_ = true;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    held_ = false;
  }
  // Waits (10 s at most) until the writer is held with records to commit.
  bool WaitUntilHeldWithRecords() {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(this, &WriterGate::HeldWithRecords),
                                absl::Seconds(10));
  }

 private:
  bool Released() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !held_; }
  bool HeldWithRecords() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return held_ && waiting_records_ > 0;
  }

  absl::Mutex mu_;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  size_t waiting_records_ ABSL_GUARDED_BY(mu_) = 0;
};

// A unary call in flight.
template <typename Request, typename Response>
struct Call {
  grpc::ClientContext context;
  Request request;
  Response response;
  grpc::Status status;
  absl::Notification answered;
  std::function<void(grpc::Status)> Done() {
    return [this](grpc::Status s) {
      status = std::move(s);
      answered.Notify();
    };
  }
};

class AuditDurabilityTest : public testing::ServiceFixture {
 protected:
  AuditDurabilityTest() {
    auto log = auth::AuditLog::Open(":memory:", clock_, gate_.Options());
    EXPECT_TRUE(log.ok()) << log.status();
    audit_ = *std::move(log);
    grpc_auth_.set_audit(audit_.get());
    // Before any call: the services read these on their threads once calls arrive.
    job_service_.set_auth(&grpc_auth_);
    job_service_.set_planner(&planner_);
    farm_service_.set_auth(&grpc_auth_);
    grpc::ServerBuilder builder;
    builder.RegisterService(&farm_service_);
    farm_server_ = builder.BuildAndStart();
    farm_stub_ = v1::FarmService::NewStub(farm_server_->InProcessChannel(grpc::ChannelArguments()));
  }
  ~AuditDurabilityTest() override {
    gate_.Release();
    farm_server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    planner_.Stop();
  }

  std::vector<auth::AuditEntry> Records(absl::string_view method) {
    auth::AuditQuery query;
    query.method = std::string(method);
    std::vector<auth::AuditEntry> rows;
    absl::Notification done;
    audit_->Query(query, [&](absl::StatusOr<std::vector<auth::AuditEntry>> r) {
      EXPECT_TRUE(r.ok()) << r.status();
      if (r.ok()) rows = *std::move(r);
      done.Notify();
    });
    done.WaitForNotification();
    return rows;
  }

  // Sends CancelJob while the audit writer is held; returns once the writer holds the
  // call's record (so the core has decided the call and, if allowed, applied it).
  template <typename C>
  void CancelWhileHeld(C& call, JobId job) {
    gate_.Hold();
    SetDeadline(call.context);
    call.request.set_job_id(job.value());
    job_stub_->async()->CancelJob(&call.context, &call.request, &call.response, call.Done());
    ASSERT_TRUE(gate_.WaitUntilHeldWithRecords());
  }

  // The call has no answer while the writer is held; released, it has one.
  template <typename C>
  void ExpectAnsweredOnlyOnRelease(C& call) {
    EXPECT_FALSE(call.answered.WaitForNotificationWithTimeout(kNoReplyWithin));
    gate_.Release();
    call.answered.WaitForNotification();
  }

  WriterGate gate_;
  std::unique_ptr<auth::AuditLog> audit_;
  auth::Authorizer authorizer_{nullptr};  // authentication off: every call allowed, all audited
  auth::GrpcAuth grpc_auth_{nullptr, authorizer_};
  SerialExecutor planner_;
  GrpcFarmService farm_service_{executor_, core_};
  std::unique_ptr<grpc::Server> farm_server_;
  std::unique_ptr<v1::FarmService::Stub> farm_stub_;
};

TEST_F(AuditDurabilityTest, ACancelIsAnsweredOnlyOnceItsRecordIsCommitted) {
  const JobId job = Submit(OneStageYaml("1-2"));
  Call<v1::JobRequest, v1::JobResponse> call;
  CancelWhileHeld(call, job);
  // The job is cancelled and its change committed (the sink's commits are immediate) ...
  EXPECT_EQ(JobStateOf(job), v1::JOB_STATE_CANCELED);
  EXPECT_EQ(RunOnCore([&] { return sink_.held(); }), 0u);
  // ... but its record is not, so the client has no answer.
  ExpectAnsweredOnlyOnRelease(call);
  EXPECT_TRUE(call.status.ok()) << call.status.error_message();
  std::vector<auth::AuditEntry> records = Records("CancelJob");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(records[0].allowed);
  EXPECT_EQ(records[0].object, absl::StrCat("job ", job.value()));
}

TEST_F(AuditDurabilityTest, ARefusedMutationIsAnsweredOnceItsRecordIsCommitted) {
  Call<v1::JobRequest, v1::JobResponse> call;
  CancelWhileHeld(call, JobId(404));
  ExpectAnsweredOnlyOnRelease(call);
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::NOT_FOUND);
  std::vector<auth::AuditEntry> records = Records("CancelJob");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(records[0].allowed);
  EXPECT_EQ(records[0].code, "NOT_FOUND");
}

TEST_F(AuditDurabilityTest, ASubmissionWaitsForBothItsJobAndItsRecord) {
  // The store's commit is held too; released first, the reply still waits for the audit.
  RunOnCore([&] { sink_.HoldDurability(true); });
  gate_.Hold();
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(OneStageYaml("1-4"));
  ASSERT_TRUE(spec.ok());
  Call<v1::SubmitJobRequest, v1::SubmitJobResponse> call;
  *call.request.mutable_spec() = *spec;
  SetDeadline(call.context);
  job_stub_->async()->SubmitJob(&call.context, &call.request, &call.response, call.Done());
  ASSERT_TRUE(Eventually([&] { return sink_.held() == 1; }));
  ASSERT_TRUE(gate_.WaitUntilHeldWithRecords());
  RunOnCore([&] { sink_.ReleaseDurable(); });
  ExpectAnsweredOnlyOnRelease(call);
  EXPECT_TRUE(call.status.ok()) << call.status.error_message();
  std::vector<auth::AuditEntry> records = Records("SubmitJob");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].job_id, call.response.job_id());
}

TEST_F(AuditDurabilityTest, AChangeWhoseRecordIsCommittedStillWaitsForTheStore) {
  // The other way round: the record is committed, the change is not.
  const JobId job = Submit(OneStageYaml("1-2"));
  RunOnCore([&] { sink_.HoldDurability(true); });
  Call<v1::JobRequest, v1::JobResponse> call;
  SetDeadline(call.context);
  call.request.set_job_id(job.value());
  job_stub_->async()->PauseJob(&call.context, &call.request, &call.response, call.Done());
  ASSERT_TRUE(Eventually([&] { return sink_.held() == 1; }));
  audit_->Flush();  // the record is committed; the reply still waits for the store
  EXPECT_FALSE(call.answered.WaitForNotificationWithTimeout(kNoReplyWithin));
  RunOnCore([&] { sink_.ReleaseDurable(absl::FailedPreconditionError("writer stopped")); });
  call.answered.WaitForNotification();
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(AuditDurabilityTest, ADrainIsAnsweredOnlyOnceItsRecordIsCommitted) {
  auto channel = std::make_shared<testing::FakeChannel>();
  ASSERT_TRUE(RunOnCore([&] {
                return core_.WorkerHello(
                    testing::MakeHello("w1", {testing::CpuDevice()}, {testing::Model("esrgan")}),
                    channel);
              }).ok());
  gate_.Hold();
  Call<v1::DrainWorkerRequest, v1::DrainWorkerResponse> call;
  SetDeadline(call.context);
  call.request.set_worker_id("w1");
  farm_stub_->async()->DrainWorker(&call.context, &call.request, &call.response, call.Done());
  ASSERT_TRUE(gate_.WaitUntilHeldWithRecords());
  EXPECT_TRUE(RunOnCore([&] { return sink_.drained("w1"); }));
  ExpectAnsweredOnlyOnRelease(call);
  EXPECT_TRUE(call.status.ok()) << call.status.error_message();
  std::vector<auth::AuditEntry> records = Records("DrainWorker");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].object, "worker w1");
}

// Deny by default means a new RPC without a rule is closed to everyone: every method the
// services declare has its rule (and so its audit path in the handlers).
TEST(MethodRulesTest, EveryJobAndFarmServiceMethodHasARule) {
  for (const char* service :
       {"genfarm.v1.JobService", "genfarm.v1.FarmService", "genfarm.v1.WorkerService"}) {
    const google::protobuf::ServiceDescriptor* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
    ASSERT_NE(descriptor, nullptr) << service;
    for (int i = 0; i < descriptor->method_count(); ++i) {
      const std::string path = absl::StrCat("/", service, "/", descriptor->method(i)->name());
      EXPECT_NE(auth::FindMethodRule(path), nullptr) << path << " has no rule in method_rules.cc";
    }
  }
}

}  // namespace
}  // namespace genfarm::scheduler
