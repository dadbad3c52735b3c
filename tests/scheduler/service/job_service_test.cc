// The watch reactor (scheduler/service/job_service.cc) over an in-process channel against a
// real core: what `genfarm watch` sees.
#include "scheduler/service/job_service.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/scheduler/service/service_fixture.h"

namespace genfarm::scheduler {
namespace {

using testing::OneStageYaml;

class JobServiceTest : public testing::ServiceFixture {
 protected:
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> Watch(grpc::ClientContext& context, JobId job) {
    SetDeadline(context);
    v1::WatchJobRequest request;
    request.set_job_id(job.value());
    return job_stub_->WatchJob(&context, request);
  }

  grpc::Status CancelJob(JobId job) {
    grpc::ClientContext context;
    SetDeadline(context);
    v1::JobRequest request;
    request.set_job_id(job.value());
    v1::JobResponse response;
    return job_stub_->CancelJob(&context, request, &response);
  }
};

TEST_F(JobServiceTest, AWatchStartsWithTheWholeJobAndEndsWithIt) {
  const JobId job = Submit(OneStageYaml("1-3"));
  grpc::ClientContext context;
  auto reader = Watch(context, job);
  v1::JobEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.job().id(), job.value());
  EXPECT_EQ(event.changed_tasks_size(), 3);  // the first event carries every task
  EXPECT_FALSE(event.job().state() == v1::JOB_STATE_CANCELED);

  ASSERT_TRUE(CancelJob(job).ok());
  v1::JobEvent last;
  while (reader->Read(&event)) last = event;
  EXPECT_EQ(last.job().state(), v1::JOB_STATE_CANCELED);
  EXPECT_TRUE(reader->Finish().ok());  // the server ended the stream with the job
  EXPECT_TRUE(Eventually([&] { return job_service_.open_watches() == 0; }));
}

TEST_F(JobServiceTest, WatchingAnEndedJobSendsItsFinalStateAndEnds) {
  const JobId job = Submit(OneStageYaml("1"));
  ASSERT_TRUE(CancelJob(job).ok());
  grpc::ClientContext context;
  auto reader = Watch(context, job);
  v1::JobEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.job().state(), v1::JOB_STATE_CANCELED);
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_TRUE(reader->Finish().ok());
}

TEST_F(JobServiceTest, WatchingAnUnknownJobFailsWithNotFound) {
  grpc::ClientContext context;
  auto reader = Watch(context, JobId(404));
  v1::JobEvent event;
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(JobServiceTest, ACancelledWatchReleasesItsStateInOnDone) {
  const JobId job = Submit(OneStageYaml("1-3"));
  grpc::ClientContext context;
  auto reader = Watch(context, job);
  v1::JobEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(job_service_.open_watches(), 1);
  context.TryCancel();  // the user pressed ^C
  while (reader->Read(&event)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(Eventually([&] { return job_service_.open_watches() == 0; }));
  // The job goes on changing; the core no longer writes to the ended stream.
  ASSERT_TRUE(CancelJob(job).ok());
  EXPECT_EQ(JobStateOf(job), v1::JOB_STATE_CANCELED);
}

TEST_F(JobServiceTest, SeveralWatchersOfOneJobAllSeeItEnd) {
  const JobId job = Submit(OneStageYaml("1-2"));
  grpc::ClientContext c1, c2;
  auto r1 = Watch(c1, job);
  auto r2 = Watch(c2, job);
  v1::JobEvent event;
  ASSERT_TRUE(r1->Read(&event));
  ASSERT_TRUE(r2->Read(&event));
  EXPECT_TRUE(Eventually([&] { return job_service_.open_watches() == 2; }));
  ASSERT_TRUE(CancelJob(job).ok());
  for (auto* reader : {r1.get(), r2.get()}) {
    v1::JobEvent last;
    while (reader->Read(&event)) last = event;
    EXPECT_EQ(last.job().state(), v1::JOB_STATE_CANCELED);
    EXPECT_TRUE(reader->Finish().ok());
  }
}

TEST_F(JobServiceTest, SubmitIsAnsweredOnlyOnceItsJobIsDurable) {
  RunOnCore([&] { sink_.HoldDurability(true); });
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(OneStageYaml("1-4"));
  ASSERT_TRUE(spec.ok());
  v1::SubmitJobRequest request;
  *request.mutable_spec() = *spec;
  v1::SubmitJobResponse response;
  grpc::ClientContext context;
  SetDeadline(context);
  absl::Notification answered;
  grpc::Status status;
  job_stub_->async()->SubmitJob(&context, &request, &response, [&](grpc::Status s) {
    status = s;
    answered.Notify();
  });
  // The job is in the core (one unit: the job with its tasks), its commit not yet done ...
  ASSERT_TRUE(Eventually([&] { return sink_.held() == 1; }));
  EXPECT_GE(RunOnCore([&] { return sink_.units(); }), 1);
  EXPECT_FALSE(answered.HasBeenNotified());  // ... so the client has no answer yet.
  RunOnCore([&] { sink_.ReleaseDurable(); });
  answered.WaitForNotification();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_GT(response.job_id(), 0);
}

TEST_F(JobServiceTest, AChangeThatWasNotMadeDurableIsAnsweredUnavailable) {
  const JobId job = Submit(OneStageYaml("1-2"));
  RunOnCore([&] { sink_.HoldDurability(true); });
  v1::JobRequest request;
  request.set_job_id(job.value());
  v1::JobResponse response;
  grpc::ClientContext context;
  SetDeadline(context);
  absl::Notification answered;
  grpc::Status status;
  job_stub_->async()->CancelJob(&context, &request, &response, [&](grpc::Status s) {
    status = s;
    answered.Notify();
  });
  ASSERT_TRUE(Eventually([&] { return sink_.held() == 1; }));
  RunOnCore([&] { sink_.ReleaseDurable(absl::FailedPreconditionError("writer stopped")); });
  answered.WaitForNotification();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(status.error_message().find("not made durable"), std::string::npos);
}

// --- The API at the caps: paged and bounded replies over gRPC ---

TEST_F(JobServiceTest, ListTasksPagesAndRefusesBadFieldsByName) {
  const JobId job = Submit(OneStageYaml("1-25"));
  v1::ListTasksRequest request;
  request.set_job_id(job.value());
  request.set_page_size(10);
  std::vector<int32_t> seen;
  for (int call = 0; call < 10; ++call) {
    grpc::ClientContext context;
    SetDeadline(context);
    v1::ListTasksResponse response;
    ASSERT_TRUE(job_stub_->ListTasks(&context, request, &response).ok());
    for (const v1::Task& t : response.tasks()) seen.push_back(t.index());
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  EXPECT_EQ(seen.size(), 25u);
  EXPECT_EQ(seen.back(), 24);

  auto refused = [&](v1::ListTasksRequest bad) {
    grpc::ClientContext context;
    SetDeadline(context);
    v1::ListTasksResponse response;
    return job_stub_->ListTasks(&context, bad, &response);
  };
  request.set_page_token("1:x");
  grpc::Status token = refused(request);
  EXPECT_EQ(token.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(token.error_message().rfind("page_token: ", 0), 0u) << token.error_message();
  request.clear_page_token();
  request.set_state(static_cast<v1::TaskState>(1234));
  grpc::Status state = refused(request);
  EXPECT_EQ(state.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(state.error_message().rfind("state: ", 0), 0u) << state.error_message();
  request.set_job_id(999);
  EXPECT_EQ(refused(request).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(JobServiceTest, GetJobWithTasksOfABigJobPointsAtListTasks) {
  const JobId job = Submit(OneStageYaml(absl::StrCat("1-", kGetJobMaxTasks + 1)));
  v1::GetJobRequest request;
  request.set_job_id(job.value());
  request.set_include_tasks(true);
  grpc::ClientContext context;
  SetDeadline(context);
  v1::GetJobResponse response;
  grpc::Status status = job_stub_->GetJob(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("ListTasks"), std::string::npos);
}

TEST_F(JobServiceTest, ListJobsRefusesATokenItDidNotIssue) {
  Submit(OneStageYaml("1"));
  v1::ListJobsRequest request;
  request.set_page_token("abc");
  grpc::ClientContext context;
  SetDeadline(context);
  v1::ListJobsResponse response;
  grpc::Status status = job_stub_->ListJobs(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().rfind("page_token: ", 0), 0u) << status.error_message();
}

TEST_F(JobServiceTest, TheFirstWatchEventOfABigJobIsBounded) {
  const JobId job = Submit(OneStageYaml(absl::StrCat("1-", kMaxWatchEventTasks * 4)));
  grpc::ClientContext context;
  auto reader = Watch(context, job);
  v1::JobEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.changed_tasks_size(), kMaxWatchEventTasks);
  EXPECT_TRUE(event.tasks_truncated());
  EXPECT_EQ(event.job().stages(0).tasks_total(), kMaxWatchEventTasks * 4);
  ASSERT_TRUE(CancelJob(job).ok());
  v1::JobEvent last;
  while (reader->Read(&event)) {
    EXPECT_LE(event.changed_tasks_size(), kMaxWatchEventTasks);
    last = event;
  }
  EXPECT_EQ(last.job().state(), v1::JOB_STATE_CANCELED);
  EXPECT_TRUE(reader->Finish().ok());
}

}  // namespace
}  // namespace genfarm::scheduler
