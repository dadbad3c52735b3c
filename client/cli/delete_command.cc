// `genfarm delete JOB...`: deletes ended jobs with their tasks and logs (their ids are never
// handed out again). Each job is asked for on its own, so one that cannot be deleted (it is
// still running, a running job depends on it, or it is unknown) does not stop the rest.
#include <cstdint>
#include <vector>

#include "client/cli/commands.h"
#include "common/enum_names.h"

namespace genfarm::client {

absl::StatusOr<int> RunDelete(CommandContext& ctx, const std::vector<int64_t>& job_ids) {
  if (job_ids.empty()) return absl::InvalidArgumentError("name at least one job");
  int refused = 0;
  for (int64_t job_id : job_ids) {
    grpc::ClientContext context;
    ctx.scheduler->SetDeadline(context);
    v1::JobRequest request;
    request.set_job_id(job_id);
    v1::JobResponse response;
    grpc::Status status = ctx.scheduler->jobs().DeleteJob(&context, request, &response);
    if (!status.ok()) {
      // An unreachable scheduler stops here: the next jobs would fail the same way.
      absl::Status error = ctx.scheduler->ToStatus(status);
      if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
          status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        return error;
      }
      *ctx.err << "genfarm: delete: " << error.message() << "\n";
      ++refused;
      continue;
    }
    *ctx.out << "deleted job " << response.job().id() << " (" << response.job().spec().name()
             << ", " << JobStateName(response.job().state()) << ")\n";
  }
  *ctx.out << std::flush;
  return refused == 0 ? kExitOk : kExitError;
}

}  // namespace genfarm::client
