// WorkerMetrics: the worker's Prometheus metrics (genfarm_worker_*). Counters and histograms
// are fed by the model cache (CacheEvent) and the model task runner (TaskTimings); gauges
// (slots, device memory, loaded models) are set from a WorkerSnapshot, normally right
// before each scrape.
//
//   prometheus::Registry registry;
//   WorkerMetrics metrics(registry);
//   cache.SetObserver([&](const CacheEvent& e) { metrics.OnCacheEvent(e); });
//   runner.SetTimingObserver([&](const TaskTimings& t) { metrics.OnTaskTimings(t); });
//   // in the /metrics handler:
//   metrics.Refresh(snapshot);
//
// Labels are bounded (model, device): never job, task or attempt ids. Ownership: registers
// its families in the borrowed registry, which must outlive it. Thread-safe.
//
// The frame pipeline's internal queues (read ahead, write behind) live inside one task's
// FramePipeline::Run and are not reachable from here, so their depths are not exported;
// read/compute/write seconds per frame show where a task waits instead.
#ifndef GENFARM_WORKER_METRICS_WORKER_METRICS_H_
#define GENFARM_WORKER_METRICS_WORKER_METRICS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "worker/daemon/model_task_runner.h"
#include "worker/runtime/model_cache.h"

namespace genfarm::worker {

// Metric family names, kept here so tests and docs can refer to them.
inline constexpr char kFramesProcessedMetric[] = "genfarm_worker_frames_processed_total";
inline constexpr char kTasksProcessedMetric[] = "genfarm_worker_tasks_processed_total";
inline constexpr char kInferenceMetric[] = "genfarm_worker_inference_seconds";
inline constexpr char kReadMetric[] = "genfarm_worker_read_seconds";
inline constexpr char kWriteMetric[] = "genfarm_worker_write_seconds";
inline constexpr char kModelLoadsMetric[] = "genfarm_worker_model_loads_total";
inline constexpr char kModelLoadFailuresMetric[] = "genfarm_worker_model_load_failures_total";
inline constexpr char kModelLoadSecondsMetric[] = "genfarm_worker_model_load_seconds";
inline constexpr char kCacheHitsMetric[] = "genfarm_worker_model_cache_hits_total";
inline constexpr char kEvictionsMetric[] = "genfarm_worker_model_evictions_total";
inline constexpr char kModelsLoadedMetric[] = "genfarm_worker_models_loaded";
inline constexpr char kDeviceMemoryUsedMetric[] = "genfarm_worker_device_memory_used_bytes";
inline constexpr char kDeviceMemoryTotalMetric[] = "genfarm_worker_device_memory_total_bytes";
inline constexpr char kSlotsMetric[] = "genfarm_worker_slots";
inline constexpr char kBusySlotsMetric[] = "genfarm_worker_busy_slots";
inline constexpr char kDrainingMetric[] = "genfarm_worker_draining";
inline constexpr char kConnectedMetric[] = "genfarm_worker_scheduler_connected";
inline constexpr char kLeasesLostMetric[] = "genfarm_worker_leases_lost_total";
inline constexpr char kRenamesRefusedMetric[] = "genfarm_worker_renames_refused_total";
inline constexpr char kLogLinesDroppedMetric[] = "genfarm_worker_log_lines_dropped_total";
inline constexpr char kTasksFailedMetric[] = "genfarm_worker_tasks_failed_total";

// What the gauges show.
struct WorkerSnapshot {
  struct Device {
    std::string device;       // DeviceSpec::Key(): "cpu:0", "cuda:1"
    int64_t used_bytes = 0;   // memory of the models loaded on it (manifest estimates)
    int64_t total_bytes = 0;  // DeviceSpec::memory_total_bytes
    int64_t models_loaded = 0;
  };
  int64_t slots = 0;
  int64_t busy_slots = 0;
  bool draining = false;
  bool connected = false;  // the stream to the scheduler is up
  std::vector<Device> devices;
};

class WorkerMetrics {
 public:
  explicit WorkerMetrics(prometheus::Registry& registry);
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  // ModelCache::SetObserver.
  void OnCacheEvent(const CacheEvent& event);
  // ModelTaskRunner::SetTimingObserver: one successful task. Its per-stage totals are spread
  // over its frames (each frame counts once, at the task's mean per-frame time).
  void OnTaskTimings(const TaskTimings& timings);
  // Sets every gauge.
  void Refresh(const WorkerSnapshot& snapshot);
  // Lease fencing (worker/daemon/lease_table.h): an attempt stopped because its lease ran out
  // or the scheduler took it back; an output left unrenamed for that reason.
  void OnLeaseLost();
  void OnRenameRefused();
  // Task log lines dropped because the buffer kept while cut off from the scheduler was full.
  void OnLogLinesDropped(int64_t lines);
  // A failed attempt, by its failure reason's name (common/enum_names.h): bounded.
  void OnTaskFailed(const std::string& reason);

 private:
  prometheus::Family<prometheus::Counter>& frames_processed_;
  prometheus::Family<prometheus::Counter>& tasks_processed_;
  prometheus::Family<prometheus::Histogram>& inference_;
  prometheus::Family<prometheus::Histogram>& read_;
  prometheus::Family<prometheus::Histogram>& write_;
  prometheus::Family<prometheus::Counter>& model_loads_;
  prometheus::Family<prometheus::Counter>& model_load_failures_;
  prometheus::Family<prometheus::Histogram>& model_load_seconds_;
  prometheus::Family<prometheus::Counter>& cache_hits_;
  prometheus::Family<prometheus::Counter>& evictions_;
  prometheus::Family<prometheus::Gauge>& models_loaded_;
  prometheus::Family<prometheus::Gauge>& device_memory_used_;
  prometheus::Family<prometheus::Gauge>& device_memory_total_;
  prometheus::Gauge& slots_;
  prometheus::Gauge& busy_slots_;
  prometheus::Gauge& draining_;
  prometheus::Gauge& connected_;
  prometheus::Counter& leases_lost_;
  prometheus::Counter& renames_refused_;
  prometheus::Counter& log_lines_dropped_;
  prometheus::Family<prometheus::Counter>& tasks_failed_;
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_METRICS_WORKER_METRICS_H_
