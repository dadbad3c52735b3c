// The one place absl::Status becomes grpc::Status (codes map one to one).
#ifndef GENFARM_SCHEDULER_SERVICE_GRPC_STATUS_H_
#define GENFARM_SCHEDULER_SERVICE_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace genfarm::scheduler {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_SERVICE_GRPC_STATUS_H_
