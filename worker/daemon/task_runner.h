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

// The failure reason a status most likely means, for runners that do not know better:
// NotFound -> input missing, DataLoss -> input corrupt, ResourceExhausted -> out of
// memory, Cancelled -> canceled, FailedPrecondition -> model unavailable, others -> model error.
v1::FailureReason ReasonForStatus(const absl::Status& status);

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_DAEMON_TASK_RUNNER_H_
