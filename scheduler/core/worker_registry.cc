#include "scheduler/core/worker_registry.h"

namespace genfarm::scheduler {

LiveWorker* WorkerRegistry::Find(const WorkerId& id) {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : &it->second;
}

const LiveWorker* WorkerRegistry::Find(const WorkerId& id) const {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : &it->second;
}

void WorkerRegistry::Learn(const v1::Hello& hello, LiveWorker& worker) {
  worker.hello = hello;
  worker.devices.assign(hello.devices().begin(), hello.devices().end());
  worker.loaded.clear();
  for (const v1::ModelInfo& model : hello.models()) {
    models_[model.name()] = model;
    if (model.loaded()) worker.loaded.insert(model.name());
  }
}

const v1::ModelInfo* WorkerRegistry::FindModel(const std::string& name) const {
  auto it = models_.find(name);
  return it == models_.end() ? nullptr : &it->second;
}

TemporalWindow WorkerRegistry::ModelWindow(const std::string& model) const {
  const v1::ModelInfo* info = FindModel(model);
  if (info == nullptr) return {};
  return TemporalWindow{info->window_before(), info->window_after()};
}

WorkerView WorkerRegistry::StaticView(const WorkerId& id, const LiveWorker& worker) const {
  WorkerView wv;
  wv.id = id.value();
  wv.free_slots = worker.hello.slots();
  wv.tags.insert(worker.hello.tags().begin(), worker.hello.tags().end());
  for (const v1::ModelInfo& m : worker.hello.models()) wv.models.insert(m.name());
  wv.loaded_models = worker.loaded;
  for (const v1::Device& d : worker.devices) {
    DeviceView dv;
    dv.kind = d.kind();
    dv.index = d.kind() == "cuda" ? d.index() : -1;
    dv.memory_total_bytes = d.memory_total_bytes();
    dv.memory_free_bytes = d.memory_total_bytes();
    wv.devices.push_back(dv);
  }
  return wv;
}

WorkerView WorkerRegistry::LiveView(const WorkerId& id, const LiveWorker& worker,
                                    const AttemptTable& attempts) const {
  WorkerView wv = StaticView(id, worker);
  wv.free_slots = worker.hello.slots() - static_cast<int32_t>(attempts.CountOf(id));
  for (int64_t a : attempts.OfWorker(id)) {
    const LiveAttempt* attempt = attempts.Find(a);
    for (DeviceView& dv : wv.devices) {
      if (dv.index == attempt->device) dv.memory_free_bytes -= attempt->reserved_bytes;
    }
  }
  return wv;
}

}  // namespace genfarm::scheduler
