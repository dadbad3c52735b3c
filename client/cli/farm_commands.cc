// Commands for studio ops: workers, drain, undrain.
#include "client/cli/commands.h"
#include "client/cli/format.h"

namespace genfarm::client {

absl::StatusOr<int> RunWorkers(CommandContext& ctx, bool include_offline) {
  grpc::ClientContext context;
  ctx.scheduler->SetDeadline(context);
  v1::ListWorkersRequest request;
  request.set_include_offline(include_offline);
  v1::ListWorkersResponse response;
  grpc::Status status = ctx.scheduler->farm().ListWorkers(&context, request, &response);
  if (!status.ok()) return ctx.scheduler->ToStatus(status);
  std::vector<v1::Worker> workers(response.workers().begin(), response.workers().end());
  if (workers.empty()) {
    *ctx.err << (include_offline ? "no workers known\n"
                                 : "no workers online (--all includes offline ones)\n");
    return kExitOk;
  }
  *ctx.out << FormatWorkersTable(workers) << std::flush;
  return kExitOk;
}

absl::StatusOr<int> RunDrain(CommandContext& ctx, const std::string& worker_id, bool undrain) {
  grpc::ClientContext context;
  ctx.scheduler->SetDeadline(context);
  v1::DrainWorkerRequest request;
  request.set_worker_id(worker_id);
  request.set_undrain(undrain);
  v1::DrainWorkerResponse response;
  grpc::Status status = ctx.scheduler->farm().DrainWorker(&context, request, &response);
  if (!status.ok()) return ctx.scheduler->ToStatus(status);
  *ctx.out << "worker " << response.worker().id() << ": "
           << WorkerStateName(response.worker().state()) << "\n"
           << std::flush;
  return kExitOk;
}

}  // namespace genfarm::client
