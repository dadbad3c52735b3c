// GrpcWorkerService: one bidirectional stream per worker daemon. The reactor reads
// hello/heartbeat/progress/result messages and posts them to the core's executor;
// the core pushes assignments, cancellations and drain requests back through a
// WorkerChannel wrapping the stream's write side. A frame preview that comes with a result
// the core accepts goes to the ThumbnailStore (when one is given) for the dashboard.
#ifndef GENFARM_SCHEDULER_SERVICE_WORKER_SERVICE_H_
#define GENFARM_SCHEDULER_SERVICE_WORKER_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "common/serial_executor.h"
#include "genfarm/v1/worker_service.grpc.pb.h"
#include "scheduler/auth/grpc_auth.h"
#include "scheduler/core/scheduler_core.h"

namespace genfarm::scheduler {

class ThumbnailStore;

class GrpcWorkerService : public v1::WorkerService::CallbackService {
 public:
  // `thumbnails` (optional) must outlive the executor's work.
  GrpcWorkerService(SerialExecutor& executor, SchedulerCore& core,
                    ThumbnailStore* thumbnails = nullptr)
      : executor_(executor), core_(core), thumbnails_(thumbnails) {}

  grpc::ServerBidiReactor<v1::WorkerMessage, v1::SchedulerMessage>* Connect(
      grpc::CallbackServerContext* ctx) override;

  // A hello's worker id must be the certificate's; assignments carry the project's storage
  // roots; refused hellos and ignored results are audited. Null: as without authentication.
  void set_auth(const auth::GrpcAuth* auth) { auth_ = auth; }

 private:
  SerialExecutor& executor_;
  SchedulerCore& core_;
  ThumbnailStore* thumbnails_;
  const auth::GrpcAuth* auth_ = nullptr;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_SERVICE_WORKER_SERVICE_H_
