#include "scheduler/service/farm_service.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "scheduler/service/grpc_status.h"
#include "scheduler/service/job_service.h"  // FinishAudited, RefuseAudited

namespace genfarm::scheduler {
namespace {

// The farm-wide rule of `method` for the caller, who is set to the caller (anonymous if
// their credentials prove nobody). The door decided it already; this is the handler's own
// check, so a handler never depends on how it was reached.
absl::Status Allowed(const auth::GrpcAuth* auth, const grpc::CallbackServerContext& ctx,
                     absl::string_view method, auth::Identity* who) {
  *who = auth::AnonymousCaller(ctx);
  if (auth == nullptr) return absl::OkStatus();
  absl::StatusOr<auth::Identity> caller = auth->Authenticate(ctx);
  if (!caller.ok()) return caller.status();
  *who = *std::move(caller);
  return auth->Allow(*who, {std::string(method), std::nullopt, std::nullopt});
}

// A farm-wide call on record: no job, no project.
AuditedCall FarmCall(auth::Identity who, absl::string_view method, std::string object = "") {
  return {std::move(who), method, std::move(object), 0, ""};
}

grpc::ServerUnaryReactor* Refused(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* GrpcFarmService::ListWorkers(grpc::CallbackServerContext* ctx,
                                                       const v1::ListWorkersRequest* req,
                                                       v1::ListWorkersResponse* resp) {
  auth::Identity who;
  if (absl::Status s = Allowed(auth_, *ctx, auth::kListWorkers, &who); !s.ok())
    return RefuseAudited(ctx, auth_, FarmCall(std::move(who), auth::kListWorkers), s);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  executor_.Post([this, req, resp, reactor] {
    for (v1::Worker& w : core_.ListWorkers(req->include_offline()))
      *resp->add_workers() = std::move(w);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcFarmService::DrainWorker(grpc::CallbackServerContext* ctx,
                                                       const v1::DrainWorkerRequest* req,
                                                       v1::DrainWorkerResponse* resp) {
  auth::Identity who;
  std::string object = absl::StrCat("worker ", req->worker_id());
  if (absl::Status s = Allowed(auth_, *ctx, auth::kDrainWorker, &who); !s.ok())
    return RefuseAudited(ctx, auth_,
                         FarmCall(std::move(who), auth::kDrainWorker, std::move(object)), s);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  executor_.Post([this, req, resp, reactor, who = std::move(who), object = std::move(object)] {
    auto worker = core_.SetDrain(WorkerId(req->worker_id()), !req->undrain());
    if (worker.ok()) *resp->mutable_worker() = *std::move(worker);
    // The reply promises the drain survives a restart and is on record: it leaves once both
    // are committed.
    FinishAudited(reactor, core_, auth_, FarmCall(who, auth::kDrainWorker, object),
                  worker.status());
  });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcFarmService::GetFarmStats(grpc::CallbackServerContext* ctx,
                                                        const v1::GetFarmStatsRequest* req,
                                                        v1::FarmStats* resp) {
  auth::Identity who;
  if (absl::Status s = Allowed(auth_, *ctx, auth::kGetFarmStats, &who); !s.ok())
    return RefuseAudited(ctx, auth_, FarmCall(std::move(who), auth::kGetFarmStats), s);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  executor_.Post([this, resp, reactor] {
    *resp = core_.Stats();
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcFarmService::ListAudit(grpc::CallbackServerContext* ctx,
                                                     const v1::ListAuditRequest* req,
                                                     v1::ListAuditResponse* resp) {
  auth::Identity who;
  if (absl::Status s = Allowed(auth_, *ctx, auth::kListAudit, &who); !s.ok())
    return RefuseAudited(ctx, auth_, FarmCall(std::move(who), auth::kListAudit), s);
  if (auth_ == nullptr || auth_->audit() == nullptr) {
    return Refused(ctx, absl::FailedPreconditionError(
                            "ListAudit: this scheduler keeps no audit log (it needs --data_dir)"));
  }
  if (req->limit() < 0 || req->limit() > 10000 || req->job_id() < 0 || req->since_ms() < 0) {
    return Refused(ctx, absl::InvalidArgumentError(
                            "ListAudit: limit must be 0-10000, job_id and since_ms >= 0"));
  }
  auth::AuditQuery query;
  query.who = req->who();
  // "CancelJob" or "/genfarm.v1.JobService/CancelJob": the log keeps the short name.
  query.method = std::string(auth::ShortMethodName(req->method()));
  query.job_id = req->job_id();
  query.since_ms = req->since_ms();
  query.limit = req->limit() == 0 ? 100 : req->limit();
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // On the audit log's writer thread: the core thread never waits for the disk.
  auth_->audit()->Query(query, [reactor, resp](auto rows) {
    if (rows.ok()) {
      for (const auth::AuditEntry& e : *rows) {
        v1::AuditRecord* r = resp->add_records();
        r->set_id(e.id);
        r->set_time_ms(e.time_ms);
        r->set_who(e.who);
        r->set_kind(e.kind);
        r->set_credential(e.credential);
        r->set_method(e.method);
        r->set_object(e.object);
        r->set_project(e.project);
        r->set_peer(e.peer);
        r->set_allowed(e.allowed);
        r->set_code(e.code);
        r->set_reason(e.reason);
      }
    }
    reactor->Finish(ToGrpcStatus(rows.status()));
  });
  return reactor;
}

}  // namespace genfarm::scheduler
