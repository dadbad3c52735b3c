// CoreObserver: what the core reports as it works, for metrics. The prometheus-cpp
// implementation lives with the service; tests use NullCoreObserver or a recorder.
#ifndef GENFARM_SCHEDULER_CORE_CORE_OBSERVER_H_
#define GENFARM_SCHEDULER_CORE_CORE_OBSERVER_H_

#include <string>

#include "genfarm/v1/types.pb.h"

namespace genfarm::scheduler {

class CoreObserver {
 public:
  virtual ~CoreObserver() = default;
  // A task went from runnable to assigned after waiting `wait_seconds`.
  virtual void OnDispatch(const std::string& project, double wait_seconds) = 0;
  // An attempt ended. `run_seconds` is its wall time on the worker.
  virtual void OnAttemptEnded(const std::string& project, const std::string& model, bool success,
                              int64_t frames, double run_seconds) = 0;
  // A failed attempt was queued again (`reason` is the failure reason's name).
  virtual void OnRequeue(const std::string& reason) = 0;
  // The requeue above was charged to the task's retries (a real failure, not a lost worker,
  // cancel or preemption).
  virtual void OnRetry(const std::string& reason) {}
  // A task failed for good (retries used up or a bad spec); `frames` are its frames.
  virtual void OnTaskFailed(const std::string& project, const std::string& model, int64_t frames) {}
  // A connected worker was lost ("stream closed", "missed heartbeats").
  virtual void OnWorkerLost(const std::string& why) {}
  // A worker message was ignored or corrected: `kind` is progress, result, heartbeat or log;
  // `reason` says why (stale_attempt, wrong_task, not_current_stream, out_of_range,
  // truncated).
  virtual void OnWorkerMessageIgnored(const std::string& kind, const std::string& reason) {}
};

class NullCoreObserver : public CoreObserver {
 public:
  void OnDispatch(const std::string&, double) override {}
  void OnAttemptEnded(const std::string&, const std::string&, bool, int64_t, double) override {}
  void OnRequeue(const std::string&) override {}
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_CORE_OBSERVER_H_
