// A cancellation flag shared between whoever cancels a task (the worker's stream handler)
// and the pipeline running it. Thread-safe; cancelling is one-way.
//
//   CancelToken cancel;
//   FramePipelineOptions options;  options.cancel = &cancel;
//   // on the scheduler's CancelTask:  cancel.Cancel();
#ifndef GENFARM_WORKER_PIPELINE_CANCEL_TOKEN_H_
#define GENFARM_WORKER_PIPELINE_CANCEL_TOKEN_H_

#include <atomic>

namespace genfarm::worker {

class CancelToken {
 public:
  void Cancel() { cancelled_.store(true, std::memory_order_release); }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> cancelled_{false};
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_PIPELINE_CANCEL_TOKEN_H_
