// GrpcJobService: JobService over gRPC's callback API. Each call is translated and
// posted to the core's executor; no call blocks a gRPC thread. Replies are the core's
// bounded views (CoreViews, WatchHub): every message fits gRPC's default 4 MiB limit
// whatever the size of the job, and a slow watcher's pending events are merged within the
// same bounds (MergeJobEvents) rather than queued.
#ifndef GENFARM_SCHEDULER_SERVICE_JOB_SERVICE_H_
#define GENFARM_SCHEDULER_SERVICE_JOB_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>

#include "common/serial_executor.h"
#include "genfarm/v1/job_service.grpc.pb.h"
#include "scheduler/auth/grpc_auth.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/store/job_store.h"

namespace genfarm::scheduler {

// A durability callback's status as the client sees it: OK, or UNAVAILABLE saying the
// change may not survive a restart (so the client retries).
absl::Status AsDurability(absl::Status durable);

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
  // Runs `fn` (returning absl::Status) on the executor and finishes the call with it.
  template <typename Fn>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, Fn fn);
  // For mutations: like Unary, but a successful call is answered only once what it changed
  // is committed (SchedulerCore::WhenDurable); an uncommitted change answers UNAVAILABLE.
  template <typename Fn>
  grpc::ServerUnaryReactor* DurableUnary(grpc::CallbackServerContext* ctx, Fn fn);
  // Finishes `reactor` OK once what the core changed so far is committed (call on the core
  // thread, right after the change).
  void FinishWhenDurable(grpc::ServerUnaryReactor* reactor);
  // The caller, learned on gRPC's thread (anonymous without auth).
  absl::StatusOr<auth::Identity> Caller(const grpc::CallbackServerContext& ctx) const;
  // On the core thread: may `who` call `method` on job `job_id`? Looks the job up (its
  // project and submitter) only when authentication is on; `project` gets its project.
  absl::Status AllowOnJob(const auth::Identity& who, absl::string_view method, int64_t job_id,
                          std::string* project) const;
  // A read of one job: the check at the top of the core closure, then `fn`.
  template <typename Fn>
  grpc::ServerUnaryReactor* JobRead(grpc::CallbackServerContext* ctx, absl::string_view method,
                                    int64_t job_id, Fn fn);
  // A mutation of one job: checked at the top of the core closure, then `fn`, and the
  // outcome audited (allowed or denied).
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
