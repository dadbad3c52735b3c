// ModelTaskRunner: runs a model stage's task: finds the model in the repository, gets
// it warm from the cache on the assigned device, and streams the task's frames through
// the FramePipeline (read ahead, colour convert, batched/tiled inference, write behind).
//
//   ModelTaskRunner runner(repository, cache, devices);
//   TaskOutcome outcome = runner.Run(context);
//
// Thread-safe: one Run per running attempt, concurrently.
#ifndef GENFARM_WORKER_DAEMON_MODEL_TASK_RUNNER_H_
#define GENFARM_WORKER_DAEMON_MODEL_TASK_RUNNER_H_

#include <functional>
#include <vector>

#include "common/clock.h"
#include "worker/daemon/task_runner.h"
#include "worker/runtime/device_spec.h"
#include "worker/runtime/model_cache.h"
#include "worker/runtime/model_repository.h"

namespace genfarm::worker {

// Per-frame pipeline figures, for metrics.
struct TaskTimings {
  std::string model;
  int64_t frames = 0;
  double read_seconds = 0;
  double compute_seconds = 0;
  double write_seconds = 0;
};

class ModelTaskRunner : public TaskRunner {
 public:
  ModelTaskRunner(ModelRepository& repository, ModelCache& cache, std::vector<DeviceSpec> devices,
                  const Clock& clock);
  TaskOutcome Run(const TaskContext& context) override;

  void SetTimingObserver(std::function<void(const TaskTimings&)> observer) {
    observer_ = std::move(observer);
  }

 private:
  const DeviceSpec& DeviceFor(int32_t index) const;

  ModelRepository& repository_;
  ModelCache& cache_;
  std::vector<DeviceSpec> devices_;
  const Clock& clock_;
  std::function<void(const TaskTimings&)> observer_;
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_DAEMON_MODEL_TASK_RUNNER_H_
