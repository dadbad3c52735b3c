// GrpcFarmService: FarmService (workers, drain, farm stats, the audit log) over gRPC's
// callback API. A drain is answered once both it and its audit record are committed; a
// denial once its record is (FinishAudited, job_service.h).
#ifndef GENFARM_SCHEDULER_SERVICE_FARM_SERVICE_H_
#define GENFARM_SCHEDULER_SERVICE_FARM_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "common/serial_executor.h"
#include "genfarm/v1/farm_service.grpc.pb.h"
#include "scheduler/auth/grpc_auth.h"
#include "scheduler/core/scheduler_core.h"

namespace genfarm::scheduler {

class GrpcFarmService : public v1::FarmService::CallbackService {
 public:
  GrpcFarmService(SerialExecutor& executor, SchedulerCore& core)
      : executor_(executor), core_(core) {}

  grpc::ServerUnaryReactor* ListWorkers(grpc::CallbackServerContext* ctx,
                                        const v1::ListWorkersRequest* req,
                                        v1::ListWorkersResponse* resp) override;
  grpc::ServerUnaryReactor* DrainWorker(grpc::CallbackServerContext* ctx,
                                        const v1::DrainWorkerRequest* req,
                                        v1::DrainWorkerResponse* resp) override;
  grpc::ServerUnaryReactor* GetFarmStats(grpc::CallbackServerContext* ctx,
                                         const v1::GetFarmStatsRequest* req,
                                         v1::FarmStats* resp) override;
  grpc::ServerUnaryReactor* ListAudit(grpc::CallbackServerContext* ctx,
                                      const v1::ListAuditRequest* req,
                                      v1::ListAuditResponse* resp) override;

  // Per-call authorization and the audit (docs/security.md). Null: every call allowed, no
  // audit (ListAudit answers FAILED_PRECONDITION).
  void set_auth(const auth::GrpcAuth* auth) { auth_ = auth; }

 private:
  SerialExecutor& executor_;
  SchedulerCore& core_;
  const auth::GrpcAuth* auth_ = nullptr;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_SERVICE_FARM_SERVICE_H_
