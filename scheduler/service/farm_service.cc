#include "scheduler/service/farm_service.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "scheduler/service/grpc_status.h"
#include "scheduler/service/job_service.h"  // AsDurability

namespace genfarm::scheduler {
namespace {

// The caller and the farm-wide rule of `method` (the door decided it already; this is the
// handler's own check, so a handler never depends on how it was reached).
absl::StatusOr<auth::Identity> Allowed(const auth::GrpcAuth* auth,
                                       const grpc::CallbackServerContext& ctx,
                                       absl::string_view method) {
  if (auth == nullptr) {
    auth::Identity anonymous;
    anonymous.peer = ctx.peer();
    return anonymous;
  }
  absl::StatusOr<auth::Identity> who = auth->Authenticate(ctx);
  if (!who.ok()) return who.status();
  if (absl::Status s = auth->Allow(*who, {std::string(method), std::nullopt, std::nullopt});
      !s.ok()) {
    return s;
  }
  return who;
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
  if (auto who = Allowed(auth_, *ctx, auth::kListWorkers); !who.ok())
    return Refused(ctx, who.status());
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
  absl::StatusOr<auth::Identity> who = Allowed(auth_, *ctx, auth::kDrainWorker);
  const std::string object = absl::StrCat("worker ", req->worker_id());
  if (!who.ok()) {
    if (auth_ != nullptr) {
      absl::StatusOr<auth::Identity> caller = auth_->Authenticate(*ctx);
      if (caller.ok()) auth_->Audit(*caller, auth::kDrainWorker, object, 0, "", who.status());
    }
    return Refused(ctx, who.status());
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  executor_.Post([this, req, resp, reactor, who = *std::move(who), object] {
    auto worker = core_.SetDrain(WorkerId(req->worker_id()), !req->undrain());
    if (auth_ != nullptr) auth_->Audit(who, auth::kDrainWorker, object, 0, "", worker.status());
    if (!worker.ok()) {
      reactor->Finish(ToGrpcStatus(worker.status()));
      return;
    }
    *resp->mutable_worker() = *std::move(worker);
    // The reply promises the drain survives a restart: it leaves once committed.
    core_.WhenDurable(
        [reactor](absl::Status durable) { reactor->Finish(ToGrpcStatus(AsDurability(durable))); });
  });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcFarmService::GetFarmStats(grpc::CallbackServerContext* ctx,
                                                        const v1::GetFarmStatsRequest* req,
                                                        v1::FarmStats* resp) {
  if (auto who = Allowed(auth_, *ctx, auth::kGetFarmStats); !who.ok())
    return Refused(ctx, who.status());
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
  if (auto who = Allowed(auth_, *ctx, auth::kListAudit); !who.ok())
    return Refused(ctx, who.status());
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
