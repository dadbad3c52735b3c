// GrpcJobService: JobService over gRPC's callback API. Each call is translated and
// posted to the core's executor; no call blocks a gRPC thread. Replies are the core's
// bounded views (CoreViews, WatchHub): every message fits gRPC's default 4 MiB limit
// whatever the size of the job, and a slow watcher's pending events are merged within the
// same bounds (MergeJobEvents) rather than queued. A mutation is answered only once both
// the change and its audit record are committed, and a denial once its record is
// (FinishAudited, below; docs/security.md): the reply leaves from the commit callbacks.
#ifndef GENFARM_SCHEDULER_SERVICE_JOB_SERVICE_H_
#define GENFARM_SCHEDULER_SERVICE_JOB_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <string>

#include "common/serial_executor.h"
#include "genfarm/v1/job_service.grpc.pb.h"
#include "scheduler/auth/grpc_auth.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/store/job_store.h"

namespace genfarm::scheduler {

// A durability callback's status as the client sees it: OK, or UNAVAILABLE saying the
// change may not survive a restart (so the client retries).
absl::Status AsDurability(absl::Status durable);

// Returns a callback to be called `count` times (from any threads); the last call runs
// `done` with OK, or the first error among them. For a reply that waits for two commits.
std::function<void(absl::Status)> AfterCommits(int count, std::function<void(absl::Status)> done);

// A call as the audit log records it (auth::MakeAuditEntry).
struct AuditedCall {
  auth::Identity who;
  absl::string_view method;  // a method_rules.h name
  std::string object;        // "job 12", "worker w1", ""
  int64_t job_id = 0;
  std::string project;
};

// Answers a call whose outcome goes on record, "committed before acknowledged"
// (docs/security.md): records `outcome` in the audit log and finishes `reactor` from the
// commit callbacks, so no thread waits. A refusal or a failure is answered once its record
// is committed; a change (OK) once both the change (SchedulerCore::WhenDurable) and its
// record are, and UNAVAILABLE (AsDurability) if either is not. With OK, call it on the core
// thread right after the change; otherwise from any thread. `auth` null: nothing recorded.
void FinishAudited(grpc::ServerUnaryReactor* reactor, SchedulerCore& core,
                   const auth::GrpcAuth* auth, AuditedCall call, absl::Status outcome);

// FinishAudited for a refusal decided on gRPC's thread, on the call's own reactor.
grpc::ServerUnaryReactor* RefuseAudited(grpc::CallbackServerContext* ctx,
                                        const auth::GrpcAuth* auth, AuditedCall call,
                                        absl::Status refusal);

// Whether a refusal is the rules' (authentication or authorization), which goes on record
// even for a read, rather than the call's own failure (an unknown job).
bool IsDenial(const absl::Status& status);

class GrpcJobService : public v1::JobService::CallbackService {
 public:
  // `core` is used only on `executor`; `log_store` (a connection of its own, not the
  // store writer's) only on `log_reader`.
  GrpcJobService(SerialExecutor& executor, SchedulerCore& core, JobStore& log_store,
                 SerialExecutor& log_reader)
      : executor_(executor), core_(core), log_store_(log_store), log_reader_(log_reader) {}
  // Where SubmitJob validates and plans (SchedulerCore::PrepareJob) before the core thread
  // admits the job; without one it all runs on the core thread.
  void set_planner(SerialExecutor* planner) { planner_ = planner; }
  // Per-call authorization, the submitter from the caller, storage roots and the audit
  // (docs/security.md). Null: every call allowed, nothing audited.
  void set_auth(const auth::GrpcAuth* auth) { auth_ = auth; }

  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext* ctx,
                                      const v1::SubmitJobRequest* req,
                                      v1::SubmitJobResponse* resp) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* ctx, const v1::GetJobRequest* req,
                                   v1::GetJobResponse* resp) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* ctx,
                                     const v1::ListJobsRequest* req,
                                     v1::ListJobsResponse* resp) override;
  grpc::ServerUnaryReactor* ListTasks(grpc::CallbackServerContext* ctx,
                                      const v1::ListTasksRequest* req,
                                      v1::ListTasksResponse* resp) override;
  grpc::ServerWriteReactor<v1::JobEvent>* WatchJob(grpc::CallbackServerContext* ctx,
                                                   const v1::WatchJobRequest* req) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* ctx, const v1::JobRequest* req,
                                      v1::JobResponse* resp) override;
  grpc::ServerUnaryReactor* PauseJob(grpc::CallbackServerContext* ctx, const v1::JobRequest* req,
                                     v1::JobResponse* resp) override;
  grpc::ServerUnaryReactor* ResumeJob(grpc::CallbackServerContext* ctx, const v1::JobRequest* req,
                                      v1::JobResponse* resp) override;
  grpc::ServerUnaryReactor* RetryTasks(grpc::CallbackServerContext* ctx,
                                       const v1::RetryTasksRequest* req,
                                       v1::RetryTasksResponse* resp) override;
  grpc::ServerUnaryReactor* SetPriority(grpc::CallbackServerContext* ctx,
                                        const v1::SetPriorityRequest* req,
                                        v1::JobResponse* resp) override;
  grpc::ServerUnaryReactor* GetTaskLog(grpc::CallbackServerContext* ctx,
                                       const v1::GetTaskLogRequest* req,
                                       v1::GetTaskLogResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteJob(grpc::CallbackServerContext* ctx, const v1::JobRequest* req,
                                      v1::JobResponse* resp) override;

  // WatchJob calls whose reactor has not reached OnDone: a cancelled watch must leave.
  int open_watches() const { return open_watches_.load(); }

 private:
  // The caller, learned on gRPC's thread (anonymous without auth).
  absl::StatusOr<auth::Identity> Caller(const grpc::CallbackServerContext& ctx) const;
  // A refusal of the caller's credentials on gRPC's thread, recorded as an anonymous call.
  grpc::ServerUnaryReactor* RefuseCaller(grpc::CallbackServerContext* ctx, absl::string_view method,
                                         int64_t job_id, const absl::Status& refusal) const;
  // On the core thread: may `who` call `method` on job `job_id`? Looks the job up (its
  // project and submitter) only when authentication is on; `project` gets its project.
  absl::Status AllowOnJob(const auth::Identity& who, absl::string_view method, int64_t job_id,
                          std::string* project) const;
  // A read of one job: the check at the top of the core closure (a denial recorded), then
  // `fn`.
  template <typename Fn>
  grpc::ServerUnaryReactor* JobRead(grpc::CallbackServerContext* ctx, absl::string_view method,
                                    int64_t job_id, Fn fn);
  // A mutation of one job: checked at the top of the core closure, then `fn`, and the
  // outcome audited (allowed or denied) and answered with FinishAudited.
  template <typename Fn>
  grpc::ServerUnaryReactor* JobMutation(grpc::CallbackServerContext* ctx, absl::string_view method,
                                        int64_t job_id, Fn fn);

  SerialExecutor& executor_;
  SchedulerCore& core_;
  JobStore& log_store_;
  SerialExecutor& log_reader_;
  SerialExecutor* planner_ = nullptr;
  const auth::GrpcAuth* auth_ = nullptr;
  std::atomic<int> open_watches_{0};
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_SERVICE_JOB_SERVICE_H_
