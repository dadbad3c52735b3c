// ModelCache: keeps loaded models warm across tasks and jobs. An LRU of ModelRunners keyed
// by (model name, device), bounded per device by a memory budget (the sum of the loaded
// models' manifest memory_bytes). A miss loads through the injected ModelLoader, first
// evicting least-recently-used models that nobody is using; a model in use (a caller still
// holds its shared_ptr) is never evicted.
//
//   ModelCache cache(loader, RealClock::Get());
//   cache.SetObserver([&](const CacheEvent& e) { metrics.Record(e); });
//   GENFARM_ASSIGN_OR_RETURN(std::shared_ptr<ModelRunner> runner, cache.Get(manifest, gpu0));
//   GENFARM_ASSIGN_OR_RETURN(auto frames, runner->Upscale(batch, options));
//
// Thread-safe. Concurrent Get()s of the same (model, device) load it once: later callers
// wait for the first load and share its result. Loads run outside the lock, so different
// models load in parallel. The loader and clock must outlive the cache.
#ifndef GENFARM_WORKER_RUNTIME_MODEL_CACHE_H_
#define GENFARM_WORKER_RUNTIME_MODEL_CACHE_H_

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "worker/runtime/device_spec.h"
#include "worker/runtime/manifest.h"
#include "worker/runtime/model_loader.h"
#include "worker/runtime/model_runner.h"

namespace genfarm::worker {

// One thing the cache did, for metrics (genfarm_worker_model_loads_total etc.).
struct CacheEvent {
  enum class Type { kHit, kLoad, kLoadFailure, kEviction };
  Type type = Type::kHit;
  std::string model;
  std::string device;        // DeviceSpec::Key()
  double load_seconds = 0;   // kLoad and kLoadFailure only
  int64_t memory_bytes = 0;  // the model's manifest estimate
};
using CacheObserver = std::function<void(const CacheEvent&)>;

// Totals since construction.
struct CacheStats {
  int64_t hits = 0;
  int64_t loads = 0;  // successful loads (misses that loaded)
  int64_t load_failures = 0;
  int64_t evictions = 0;
  std::map<std::string, double> load_seconds;  // per model name, summed over devices
};

// A resident model, for advertising "model loaded" to the scheduler.
struct LoadedModel {
  std::string model;
  std::string version;
  std::string device;
  int64_t memory_bytes = 0;
  bool in_use = false;
};

class ModelCache {
 public:
  struct Options {
    // Budget per device when none was set with SetBudget(): this fraction of
    // DeviceSpec::memory_total_bytes (the rest is left for activations and the system).
    double default_memory_fraction = 0.8;
  };

  ModelCache(ModelLoader& loader, const Clock& clock);
  ModelCache(ModelLoader& loader, const Clock& clock, Options options);

  // Returns the loaded model, loading it on a miss. ResourceExhausted when the model cannot
  // fit in the device budget even after evicting every unused model; loader errors are
  // passed through (they name the model). A model whose sha256 changed since it was
  // loaded is reloaded.
  absl::StatusOr<std::shared_ptr<ModelRunner>> Get(const Manifest& manifest,
                                                   const DeviceSpec& device);

  // Overrides the memory budget of `device` (bytes). Does not evict by itself.
  void SetBudget(const DeviceSpec& device, int64_t bytes);
  // Drops every model nobody is using (e.g. on drain).
  void EvictUnused();
  // Called after each event, outside the cache lock, on the thread that caused it.
  void SetObserver(CacheObserver observer);

  CacheStats stats() const;
  std::vector<LoadedModel> loaded() const;  // most recently used first
  int64_t used_bytes(const DeviceSpec& device) const;

 private:
  struct Entry {
    std::string model;
    std::string version;
    std::string sha256;
    std::string device;
    int64_t memory_bytes = 0;
    bool loading = true;
    std::shared_ptr<ModelRunner> runner;  // set when loaded
  };
  using Lru = std::list<Entry>;  // front = most recently used

  int64_t BudgetLocked(const DeviceSpec& device) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t UsedLocked(const std::string& device) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Evicts unused models on `device` (LRU first) until `bytes` more fit. Appends what it
  // evicted to `events`.
  absl::Status MakeRoomLocked(const Manifest& manifest, const DeviceSpec& device,
                              std::vector<CacheEvent>* events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseLocked(Lru::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Notify(const std::vector<CacheEvent>& events);

  ModelLoader& loader_;
  const Clock& clock_;
  const Options options_;

  mutable absl::Mutex mu_;
  Lru lru_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Lru::iterator> index_ ABSL_GUARDED_BY(mu_);  // "model@device"
  absl::flat_hash_map<std::string, int64_t> budgets_ ABSL_GUARDED_BY(mu_);
  absl::CondVar loaded_cv_;  // signalled whenever a load finishes
  CacheStats stats_ ABSL_GUARDED_BY(mu_);
  CacheObserver observer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_RUNTIME_MODEL_CACHE_H_
