// TaskRunner: runs one assignment (one task's frames) to completion on the calling
// thread. ModelTaskRunner runs models through the frame pipeline; DailiesTaskRunner
// makes contact sheets and movies; tests use fakes.
#ifndef GENFARM_WORKER_DAEMON_TASK_RUNNER_H_
#define GENFARM_WORKER_DAEMON_TASK_RUNNER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "genfarm/v1/worker_service.pb.h"
#include "worker/pipeline/cancel_token.h"

namespace genfarm::worker {

struct TaskContext {
  const v1::Assignment* assignment = nullptr;
  const CancelToken* cancel = nullptr;
  std::function<void(int64_t frames_done, int64_t last_frame)> progress;
  std::function<void(const std::string& line)> log;
  // Lease fencing (docs/fencing.md): call right before renaming an output into place; a
  // failure means the scheduler may have given the task away, so the output must not land.
  // Empty: no fencing.
  std::function<absl::Status()> before_rename;
};

struct TaskOutcome {
  absl::Status status;  // message names the frame and the cause
  v1::FailureReason reason = v1::FAILURE_REASON_UNSPECIFIED;  // set on failure
  std::vector<int64_t> frames_written;
  double load_seconds = 0;
  double run_seconds = 0;
  // A preview of the task's last output frame for the dashboard (jpeg empty when none).
  v1::Thumbnail thumbnail;
};

class TaskRunner {
 public:
  virtual ~TaskRunner() = default;
  virtual TaskOutcome Run(const TaskContext& context) = 0;
};

// The failure reason a status means, for runners that do not know better: the reason named in
// its kFailureReasonPayload (worker/frames/frame_io.h: output faults, disk full) when set, else
// by code: NotFound -> input missing, DataLoss -> input corrupt, ResourceExhausted -> out of
// memory, Cancelled -> canceled, FailedPrecondition -> model unavailable, PermissionDenied ->
// output write, InvalidArgument -> bad spec, Aborted -> worker lost (the lease fence), others ->
// model error. docs/failures.md has the table.
v1::FailureReason ReasonForStatus(const absl::Status& status);

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_DAEMON_TASK_RUNNER_H_
