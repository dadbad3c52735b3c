// SimWorker: a simulated worker daemon driving one GPU. It implements WorkerChannel,
// so the real SchedulerCore assigns and cancels work on it exactly as on a gRPC
// stream; it answers on the simulated timeline with heartbeats (its warm models),
// per-frame progress and results.
//
// The device keeps models in an LRU cache bounded by its memory: a cold model costs
// the model's load time, a warm one nothing; a model in use is never evicted. Each of
// the device's slots gets a fixed share of it (SlotThroughput).
//
//   SimWorker worker(device, models, events, clock_ms, recorder);
//   core.WorkerHello(worker.Hello(), worker_ptr);
//   worker.Attach(&core);
//
// Not thread-safe; owned by the Simulator.
#ifndef GENFARM_SCHEDULER_SIM_SIM_WORKER_H_
#define GENFARM_SCHEDULER_SIM_SIM_WORKER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "genfarm/v1/worker_service.pb.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/core/worker_channel.h"
#include "scheduler/sim/event_queue.h"
#include "scheduler/sim/workload.h"

namespace genfarm::sim {

// What the simulator measures; SimWorker reports to it.
class SimRecorder {
 public:
  virtual ~SimRecorder() = default;
  virtual void OnModelLoad(const std::string& device, const std::string& model,
                           int64_t load_ms) = 0;
  // An attempt holds `device_share` of a device (1 / slots) from now until it ends.
  virtual void OnAttemptStart(const std::string& project, double device_share) = 0;
  virtual void OnAttemptEnd(const std::string& project, double device_share, int64_t held_ms,
                            bool succeeded) = 0;
  // One output frame written (job, frame number).
  virtual void OnFrameWritten(int64_t job_id, int64_t frame) = 0;
};

class SimWorker : public scheduler::WorkerChannel {
 public:
  SimWorker(SimDevice device, const std::vector<SimModel>& models, EventQueue& events,
            std::function<int64_t()> now_ms, SimRecorder& recorder);

  v1::Hello Hello() const;
  void Attach(scheduler::SchedulerCore* core) { core_ = core; }

  void Send(const v1::SchedulerMessage& message) override;
  void Close() override {}

  const SimDevice& device() const { return device_; }

 private:
  struct CachedModel {
    int64_t bytes = 0;
    int64_t ready_ms = 0;  // load finished (or finishes)
    int64_t last_used_ms = 0;
    int pins = 0;  // running tasks using it
  };
  struct Running {
    v1::Assignment assignment;
    int64_t start_ms = 0;
    bool alive = true;
  };

  void Start(const v1::Assignment& assignment);
  void Cancel(int64_t attempt_id);
  void Frame(int64_t attempt_id, int index);
  void Finish(int64_t attempt_id);
  void Release(Running& run, bool succeeded);
  void SendHeartbeat();

  SimDevice device_;
  absl::flat_hash_map<std::string, SimModel> models_;
  EventQueue& events_;
  std::function<int64_t()> now_ms_;
  SimRecorder& recorder_;
  scheduler::SchedulerCore* core_ = nullptr;
  std::map<std::string, CachedModel> cache_;
  std::map<int64_t, Running> running_;
};

}  // namespace genfarm::sim

#endif  // GENFARM_SCHEDULER_SIM_SIM_WORKER_H_
