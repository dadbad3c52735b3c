#include "scheduler/service/job_service.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/field_text.h"
#include "common/path_containment.h"
#include "scheduler/service/grpc_status.h"
#include "scheduler/service/stream_writer.h"

namespace genfarm::scheduler {

absl::Status AsDurability(absl::Status durable) {
  if (durable.ok()) return durable;
  // The change was applied in memory but may not survive a restart: the client should
  // retry (a submit with its idempotency key is safe to repeat).
  return absl::UnavailableError(
      absl::StrCat("the change was not made durable: ", durable.message()));
}

std::function<void(absl::Status)> AfterCommits(int count, std::function<void(absl::Status)> done) {
  struct Join {
    absl::Mutex mu;
    int left ABSL_GUARDED_BY(mu);
    absl::Status first_error ABSL_GUARDED_BY(mu);
    std::function<void(absl::Status)> done ABSL_GUARDED_BY(mu);
  };
  auto join = std::make_shared<Join>();
  {
    absl::MutexLock lock(&join->mu);
    join->left = count;
    join->done = std::move(done);
  }
  return [join](absl::Status status) {
    std::function<void(absl::Status)> done;
    absl::Status outcome;
    {
      absl::MutexLock lock(&join->mu);
      if (!status.ok() && join->first_error.ok()) join->first_error = std::move(status);
      if (--join->left > 0) return;
      done = std::move(join->done);
      outcome = join->first_error;
    }
    done(std::move(outcome));
  };
}

namespace {

// Records `call` with `outcome`, then `then` once the record is committed (at once, OK,
// without an audit log).
void Record(const auth::GrpcAuth* auth, AuditedCall call, const absl::Status& outcome,
            std::function<void(absl::Status)> then) {
  if (auth == nullptr) {
    then(absl::OkStatus());
    return;
  }
  auth->Audit(call.who, call.method, std::move(call.object), call.job_id, std::move(call.project),
              outcome, std::move(then));
}

void FinishRefused(grpc::ServerUnaryReactor* reactor, const auth::GrpcAuth* auth, AuditedCall call,
                   const absl::Status& refusal) {
  // The refusal stands whether or not its record could be written.
  Record(auth, std::move(call), refusal,
         [reactor, refusal](absl::Status) { reactor->Finish(ToGrpcStatus(refusal)); });
}

}  // namespace

void FinishAudited(grpc::ServerUnaryReactor* reactor, SchedulerCore& core,
                   const auth::GrpcAuth* auth, AuditedCall call, absl::Status outcome) {
  if (!outcome.ok()) {
    FinishRefused(reactor, auth, std::move(call), outcome);
    return;
  }
  auto finish = AfterCommits(2, [reactor](absl::Status committed) {
    reactor->Finish(ToGrpcStatus(AsDurability(committed)));
  });
  core.WhenDurable(finish);
  Record(auth, std::move(call), outcome, std::move(finish));
}

grpc::ServerUnaryReactor* RefuseAudited(grpc::CallbackServerContext* ctx,
                                        const auth::GrpcAuth* auth, AuditedCall call,
                                        absl::Status refusal) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  FinishRefused(reactor, auth, std::move(call), refusal);
  return reactor;
}

bool IsDenial(const absl::Status& status) {
  return status.code() == absl::StatusCode::kPermissionDenied ||
         status.code() == absl::StatusCode::kUnauthenticated;
}

namespace {

class WatchReactor : public grpc::ServerWriteReactor<v1::JobEvent> {
 public:
  // Ends the watch with a status, from any thread.
  using Close = std::function<void(absl::Status)>;
  // `allow` runs first on the executor: true to watch. False when it refused the watch, in
  // which case it calls `close` with the refusal (at once, or once it is on record).
  WatchReactor(SerialExecutor& executor, SchedulerCore& core, JobId job, std::atomic<int>& open,
               std::function<bool(Close close)> allow)
      : executor_(executor), core_(core), writer_(std::make_shared<Writer>(this)), open_(open) {
    ++open_;
    auto writer = writer_;
    auto watch_id = watch_id_;
    auto cancelled = cancelled_;
    executor_.Post([&core, job, writer, watch_id, cancelled, allow = std::move(allow)] {
      if (!allow([writer](absl::Status refusal) { writer->Close(ToGrpcStatus(refusal)); })) return;
      auto id = core.Watch(job, [writer](const v1::JobEvent& event, bool done) {
        writer->Send(event, MergeJobEvents);
        if (done) writer->Close(grpc::Status::OK);
      });
      if (!id.ok()) {
        writer->Close(ToGrpcStatus(id.status()));
        return;
      }
      *watch_id = *id;
      if (*watch_id != 0 && *cancelled) core.Unwatch(*watch_id);
    });
  }

  void OnWriteDone(bool ok) override { writer_->WriteDone(ok); }
  void OnCancel() override { writer_->Close(grpc::Status::CANCELLED); }
  void OnDone() override {
    writer_->Detach();
    auto watch_id = watch_id_;
    auto cancelled = cancelled_;
    SchedulerCore& core = core_;
    executor_.Post([&core, watch_id, cancelled] {
      *cancelled = true;
      if (*watch_id != 0) core.Unwatch(*watch_id);
    });
    --open_;
    delete this;
  }

 private:
  using Writer = StreamWriter<grpc::ServerWriteReactor<v1::JobEvent>, v1::JobEvent>;
  SerialExecutor& executor_;
  SchedulerCore& core_;
  std::shared_ptr<Writer> writer_;
  // Touched only on the executor thread.
  std::shared_ptr<int64_t> watch_id_ = std::make_shared<int64_t>(0);
  std::shared_ptr<bool> cancelled_ = std::make_shared<bool>(false);
  std::atomic<int>& open_;  // the service's count of open watches
};

// A read's reply: the core's answer moved into the response, or its error.
template <typename Response>
absl::Status Reply(absl::StatusOr<Response> answer, Response* resp) {
  if (!answer.ok()) return answer.status();
  *resp = *std::move(answer);
  return absl::OkStatus();
}

std::string JobObject(int64_t job_id) { return absl::StrCat("job ", job_id); }

}  // namespace

absl::StatusOr<auth::Identity> GrpcJobService::Caller(
    const grpc::CallbackServerContext& ctx) const {
  if (auth_ == nullptr) return auth::AnonymousCaller(ctx);
  return auth_->Authenticate(ctx);
}

grpc::ServerUnaryReactor* GrpcJobService::RefuseCaller(grpc::CallbackServerContext* ctx,
                                                       absl::string_view method, int64_t job_id,
                                                       const absl::Status& refusal) const {
  return RefuseAudited(
      ctx, auth_,
      {auth::AnonymousCaller(*ctx), method, job_id != 0 ? JobObject(job_id) : "", job_id, ""},
      refusal);
}

absl::Status GrpcJobService::AllowOnJob(const auth::Identity& who, absl::string_view method,
                                        int64_t job_id, std::string* project) const {
  if (auth_ == nullptr || !auth_->enabled()) return absl::OkStatus();
  absl::StatusOr<v1::Job> job = core_.GetJob(JobId(job_id));
  if (!job.ok()) return job.status();
  if (project != nullptr) *project = job->spec().project();
  return auth_->Allow(who, {std::string(method), job->spec().project(), job->spec().submitter()});
}

template <typename Fn>
grpc::ServerUnaryReactor* GrpcJobService::JobRead(grpc::CallbackServerContext* ctx,
                                                  absl::string_view method, int64_t job_id, Fn fn) {
  absl::StatusOr<auth::Identity> who = Caller(*ctx);
  if (!who.ok()) return RefuseCaller(ctx, method, job_id, who.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  executor_.Post(
      [this, reactor, method, job_id, who = *std::move(who), fn = std::move(fn)]() mutable {
        std::string project;
        absl::Status allowed = AllowOnJob(who, method, job_id, &project);
        if (IsDenial(allowed)) {
          // A denied read goes on record; an allowed one does not (its volume).
          FinishRefused(reactor, auth_,
                        {std::move(who), method, JobObject(job_id), job_id, project}, allowed);
          return;
        }
        reactor->Finish(ToGrpcStatus(allowed.ok() ? fn() : allowed));
      });
  return reactor;
}

template <typename Fn>
grpc::ServerUnaryReactor* GrpcJobService::JobMutation(grpc::CallbackServerContext* ctx,
                                                      absl::string_view method, int64_t job_id,
                                                      Fn fn) {
  absl::StatusOr<auth::Identity> who = Caller(*ctx);
  if (!who.ok()) return RefuseCaller(ctx, method, job_id, who.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  executor_.Post(
      [this, reactor, method, job_id, who = *std::move(who), fn = std::move(fn)]() mutable {
        std::string project;
        absl::Status status = AllowOnJob(who, method, job_id, &project);
        if (status.ok()) status = fn();
        FinishAudited(reactor, core_, auth_,
                      {std::move(who), method, JobObject(job_id), job_id, std::move(project)},
                      std::move(status));
      });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcJobService::SubmitJob(grpc::CallbackServerContext* ctx,
                                                    const v1::SubmitJobRequest* req,
                                                    v1::SubmitJobResponse* resp) {
  absl::StatusOr<auth::Identity> caller = Caller(*ctx);
  if (!caller.ok()) return RefuseCaller(ctx, auth::kSubmitJob, 0, caller.status());
  v1::JobSpec spec = req->spec();
  absl::Status allowed;
  if (auth_ != nullptr && auth_->enabled()) {
    // The job is the caller's, whatever the spec claims: ownership decides who may
    // cancel, pause and resume it.
    spec.set_submitter(caller->name);
    allowed = auth_->Allow(*caller, {std::string(auth::kSubmitJob), spec.project(), std::nullopt});
    if (allowed.ok()) {
      allowed = CheckSpecContained(spec, auth_->authorizer().StorageRoots(spec.project()));
      if (!allowed.ok()) auth_->CountDenial(auth::kSubmitJob, allowed.code());
    }
  }
  if (!allowed.ok()) {
    return RefuseAudited(ctx, auth_, {*std::move(caller), auth::kSubmitJob, "", 0, spec.project()},
                         allowed);
  }
  // The outcome of an allowed submission (the job, or the core's refusal), answered once
  // it is on record (and, for a job, once the job is committed).
  auto finish = [this, who = *std::move(caller)](grpc::ServerUnaryReactor* reactor,
                                                 const absl::Status& status, int64_t job_id,
                                                 std::string project) {
    FinishAudited(
        reactor, core_, auth_,
        {who, auth::kSubmitJob, job_id != 0 ? JobObject(job_id) : "", job_id, std::move(project)},
        status);
  };
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (planner_ == nullptr) {
    executor_.Post([this, reactor, req, resp, spec = std::move(spec), finish]() mutable {
      std::string project = spec.project();
      auto result = core_.SubmitJob(std::move(spec), req->idempotency_key());
      if (result.ok()) {
        resp->set_job_id(result->id.value());
        resp->set_created(result->created);
      }
      finish(reactor, result.status(), result.ok() ? result->id.value() : 0, std::move(project));
    });
    return reactor;
  }
  // Validation and planning (a second for a million tasks) on the planner thread; the
  // core thread only admits the built job.
  planner_->Post([this, reactor, req, resp, spec = std::move(spec), finish]() mutable {
    std::string project = spec.project();
    auto prepared =
        std::make_shared<absl::StatusOr<PreparedJob>>(core_.PrepareJob(std::move(spec)));
    if (!prepared->ok()) {
      finish(reactor, prepared->status(), 0, std::move(project));
      return;
    }
    executor_.Post([this, reactor, req, resp, prepared, finish, project] {
      auto result = core_.AdmitJob(*std::move(*prepared), req->idempotency_key());
      if (result.ok()) {
        resp->set_job_id(result->id.value());
        resp->set_created(result->created);
      }
      finish(reactor, result.status(), result.ok() ? result->id.value() : 0, project);
    });
  });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcJobService::GetJob(grpc::CallbackServerContext* ctx,
                                                 const v1::GetJobRequest* req,
                                                 v1::GetJobResponse* resp) {
  return JobRead(ctx, auth::kGetJob, req->job_id(),
                 [this, req, resp] { return Reply(core_.GetJob(*req), resp); });
}

grpc::ServerUnaryReactor* GrpcJobService::ListJobs(grpc::CallbackServerContext* ctx,
                                                   const v1::ListJobsRequest* req,
                                                   v1::ListJobsResponse* resp) {
  absl::StatusOr<auth::Identity> caller = Caller(*ctx);
  if (!caller.ok()) return RefuseCaller(ctx, auth::kListJobs, 0, caller.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  executor_.Post([this, reactor, req, resp, who = *std::move(caller)]() mutable {
    const bool filtered = auth_ != nullptr && auth_->enabled();
    if (filtered && !req->project().empty()) {
      if (absl::Status s = auth_->Allow(who, {std::string(auth::kListJobs), req->project(), {}});
          !s.ok()) {
        FinishRefused(reactor, auth_, {std::move(who), auth::kListJobs, "", 0, req->project()}, s);
        return;
      }
    }
    if (absl::Status s = Reply(core_.CheckedListJobs(*req), resp); !s.ok() || !filtered) {
      reactor->Finish(ToGrpcStatus(s));
      return;
    }
    // Only the projects the caller may view (the page may come back shorter; its token
    // still pages on).
    auto* jobs = resp->mutable_jobs();
    jobs->erase(std::remove_if(jobs->begin(), jobs->end(),
                               [&](const v1::Job& job) {
                                 return !auth_->authorizer().CanView(who, job.spec().project());
                               }),
                jobs->end());
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcJobService::ListTasks(grpc::CallbackServerContext* ctx,
                                                    const v1::ListTasksRequest* req,
                                                    v1::ListTasksResponse* resp) {
  return JobRead(ctx, auth::kListTasks, req->job_id(),
                 [this, req, resp] { return Reply(core_.ListTasks(*req), resp); });
}

grpc::ServerWriteReactor<v1::JobEvent>* GrpcJobService::WatchJob(grpc::CallbackServerContext* ctx,
                                                                 const v1::WatchJobRequest* req) {
  absl::StatusOr<auth::Identity> caller = Caller(*ctx);
  const int64_t job_id = req->job_id();
  auth::Identity who = caller.ok() ? *caller : auth::AnonymousCaller(*ctx);
  return new WatchReactor(
      executor_, core_, JobId(job_id), open_watches_,
      [this, allowed = caller.status(), who = std::move(who),
       job_id](WatchReactor::Close close) -> bool {
        std::string project;
        absl::Status status = allowed;
        if (status.ok()) status = AllowOnJob(who, auth::kWatchJob, job_id, &project);
        if (status.ok()) return true;
        if (!IsDenial(status)) {
          close(status);
          return false;
        }
        Record(auth_, {who, auth::kWatchJob, JobObject(job_id), job_id, std::move(project)}, status,
               [close, status](absl::Status) { close(status); });
        return false;
      });
}

namespace {
template <typename R>
absl::Status FillJob(R result, v1::JobResponse* resp) {
  if (!result.ok()) return result.status();
  *resp->mutable_job() = *std::move(result);
  return absl::OkStatus();
}
}  // namespace

grpc::ServerUnaryReactor* GrpcJobService::CancelJob(grpc::CallbackServerContext* ctx,
                                                    const v1::JobRequest* req,
                                                    v1::JobResponse* resp) {
  return JobMutation(ctx, auth::kCancelJob, req->job_id(), [this, req, resp] {
    return FillJob(core_.CancelJob(JobId(req->job_id())), resp);
  });
}

grpc::ServerUnaryReactor* GrpcJobService::PauseJob(grpc::CallbackServerContext* ctx,
                                                   const v1::JobRequest* req,
                                                   v1::JobResponse* resp) {
  return JobMutation(ctx, auth::kPauseJob, req->job_id(), [this, req, resp] {
    return FillJob(core_.PauseJob(JobId(req->job_id())), resp);
  });
}

grpc::ServerUnaryReactor* GrpcJobService::ResumeJob(grpc::CallbackServerContext* ctx,
                                                    const v1::JobRequest* req,
                                                    v1::JobResponse* resp) {
  return JobMutation(ctx, auth::kResumeJob, req->job_id(), [this, req, resp] {
    return FillJob(core_.ResumeJob(JobId(req->job_id())), resp);
  });
}

grpc::ServerUnaryReactor* GrpcJobService::DeleteJob(grpc::CallbackServerContext* ctx,
                                                    const v1::JobRequest* req,
                                                    v1::JobResponse* resp) {
  return JobMutation(ctx, auth::kDeleteJob, req->job_id(), [this, req, resp] {
    return FillJob(core_.DeleteJob(JobId(req->job_id())), resp);
  });
}

grpc::ServerUnaryReactor* GrpcJobService::SetPriority(grpc::CallbackServerContext* ctx,
                                                      const v1::SetPriorityRequest* req,
                                                      v1::JobResponse* resp) {
  return JobMutation(ctx, auth::kSetPriority, req->job_id(), [this, req, resp] {
    return FillJob(core_.SetPriority(JobId(req->job_id()), req->priority()), resp);
  });
}

grpc::ServerUnaryReactor* GrpcJobService::RetryTasks(grpc::CallbackServerContext* ctx,
                                                     const v1::RetryTasksRequest* req,
                                                     v1::RetryTasksResponse* resp) {
  return JobMutation(ctx, auth::kRetryTasks, req->job_id(), [this, req, resp]() -> absl::Status {
    std::vector<int32_t> indexes(req->task_indexes().begin(), req->task_indexes().end());
    auto retried = core_.RetryTasks(JobId(req->job_id()), req->failed_only(), indexes);
    if (!retried.ok()) return retried.status();
    resp->set_retried(*retried);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcJobService::GetTaskLog(grpc::CallbackServerContext* ctx,
                                                     const v1::GetTaskLogRequest* req,
                                                     v1::GetTaskLogResponse* resp) {
  // The job is checked on the core thread; the store is read on the log reader's thread,
  // with a connection of its own (a SQLite connection is used by one thread only, and the
  // core thread never waits for the disk).
  absl::StatusOr<auth::Identity> caller = Caller(*ctx);
  if (!caller.ok()) return RefuseCaller(ctx, auth::kGetTaskLog, req->job_id(), caller.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  executor_.Post([this, reactor, req, resp, who = *std::move(caller)]() mutable {
    std::string project;
    absl::Status allowed = AllowOnJob(who, auth::kGetTaskLog, req->job_id(), &project);
    if (IsDenial(allowed)) {
      FinishRefused(reactor, auth_,
                    {std::move(who), auth::kGetTaskLog, JobObject(req->job_id()), req->job_id(),
                     std::move(project)},
                    allowed);
      return;
    }
    if (!allowed.ok()) {
      reactor->Finish(ToGrpcStatus(allowed));
      return;
    }
    auto tasks = core_.GetJob(JobId(req->job_id()));
    absl::Status status = tasks.status();
    if (status.ok()) {
      int64_t total = 0;
      for (const v1::StageStatus& stage : tasks->stages()) total += stage.tasks_total();
      if (req->task_index() < -1 || req->task_index() >= total) {
        status = absl::InvalidArgumentError(
            absl::StrCat("task_index: job ", req->job_id(), " has tasks 0-", total - 1,
                         " (or -1 for all), got ", req->task_index()));
      }
    }
    if (!status.ok()) {
      reactor->Finish(ToGrpcStatus(status));
      return;
    }
    log_reader_.Post([this, reactor, req, resp] {
      auto logs = log_store_.ReadLogs(TaskId{JobId(req->job_id()), req->task_index()}, 10000);
      if (logs.ok()) {
        for (const LogRecord& log : *logs) {
          v1::LogLine* line = resp->add_lines();
          line->set_task_index(log.task.index);
          line->set_attempt_id(log.attempt.value());
          line->set_time_ms(log.time_ms);
          line->set_text(log.text);
        }
      }
      reactor->Finish(ToGrpcStatus(logs.status()));
    });
  });
  return reactor;
}

}  // namespace genfarm::scheduler
