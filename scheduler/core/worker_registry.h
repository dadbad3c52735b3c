// WorkerRegistry: every worker that said hello (online or not), what it offers (slots,
// tags, devices, models in its repository, models warm in its cache), whether it takes
// new work (operator drain, its own SIGTERM shutdown), when it was last heard from, and
// the catalog of models the farm's workers advertise. Builds the WorkerViews placement
// sees: static ones (what a worker could ever run) and live ones (minus what its running
// attempts hold).
//
//   WorkerRegistry workers;
//   LiveWorker& w = workers.Upsert(WorkerId("gpu-07"));
//   workers.Learn(hello, w);
//   WorkerView free_now = workers.LiveView(id, w, attempts);
//
// Not thread-safe: the core's one thread owns it.
#ifndef GENFARM_SCHEDULER_CORE_WORKER_REGISTRY_H_
#define GENFARM_SCHEDULER_CORE_WORKER_REGISTRY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "common/ids.h"
#include "genfarm/v1/worker_service.pb.h"
#include "scheduler/core/attempt_table.h"
#include "scheduler/core/job_plan.h"
#include "scheduler/core/worker_channel.h"
#include "scheduler/policy/placement_policy.h"

namespace genfarm::scheduler {

struct LiveWorker {
  v1::Hello hello;
  std::shared_ptr<WorkerChannel> channel;  // null when offline
  bool draining = false;                   // by the operator (genfarm drain); survives reconnects
  bool shutting_down = false;  // the worker drains itself (SIGTERM); its next hello clears it
  int64_t last_seen_ms = 0;
  absl::flat_hash_set<std::string> loaded;
  std::vector<v1::Device> devices;

  bool online() const { return channel != nullptr; }
  // Online and willing to take new work.
  bool accepting() const { return channel && !draining && !shutting_down; }
  // Sends on its stream when it is online; a no-op otherwise.
  void Send(const v1::SchedulerMessage& message) const {
    if (channel) channel->Send(message);
  }
};

class WorkerRegistry {
 public:
  LiveWorker* Find(const WorkerId& id);
  const LiveWorker* Find(const WorkerId& id) const;
  LiveWorker& Upsert(const WorkerId& id) { return workers_[id]; }
  const std::map<WorkerId, LiveWorker>& all() const { return workers_; }
  std::map<WorkerId, LiveWorker>& all() { return workers_; }

  // Takes what a hello says: slots, devices, models (into the catalog), warm models.
  void Learn(const v1::Hello& hello, LiveWorker& worker);

  // Manifest facts of a model some worker advertised (null when no worker has).
  const v1::ModelInfo* FindModel(const std::string& name) const;
  TemporalWindow ModelWindow(const std::string& model) const;

  // Tags, models and devices of a worker (no slot or memory use).
  WorkerView StaticView(const WorkerId& id, const LiveWorker& worker) const;
  // StaticView minus what its running attempts hold: free slots and free device memory.
  WorkerView LiveView(const WorkerId& id, const LiveWorker& worker,
                      const AttemptTable& attempts) const;

 private:
  std::map<WorkerId, LiveWorker> workers_;
  absl::flat_hash_map<std::string, v1::ModelInfo> models_;  // union of workers' models
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_WORKER_REGISTRY_H_
