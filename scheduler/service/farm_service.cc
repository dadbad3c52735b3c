#include "scheduler/service/farm_service.h"

#include "scheduler/service/grpc_status.h"
#include "scheduler/service/job_service.h"  // AsDurability

namespace genfarm::scheduler {

grpc::ServerUnaryReactor* GrpcFarmService::ListWorkers(grpc::CallbackServerContext* ctx,
                                                       const v1::ListWorkersRequest* req,
                                                       v1::ListWorkersResponse* resp) {
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
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  executor_.Post([this, req, resp, reactor] {
    auto worker = core_.SetDrain(WorkerId(req->worker_id()), !req->undrain());
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
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  executor_.Post([this, resp, reactor] {
    *resp = core_.Stats();
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace genfarm::scheduler
