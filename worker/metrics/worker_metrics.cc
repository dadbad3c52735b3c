#include "worker/metrics/worker_metrics.h"

#include <algorithm>

namespace genfarm::worker {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

// Per-frame stage times: a small plate on the CPU takes milliseconds, a 4K frame through a
// generative model on a GPU seconds, on the CPU minutes.
const Histogram::BucketBoundaries kFrameBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
// Reading, verifying and loading a TorchScript model onto a device.
const Histogram::BucketBoundaries kLoadBuckets = {0.01, 0.05, 0.1, 0.25, 0.5, 1,
                                                  2.5,  5,    10,  30,   60,  120};

// Counts `frames` observations at their mean `total_seconds / frames` (exact _sum and _count).
void ObserveFrames(Histogram& histogram, const Histogram::BucketBoundaries& bounds, int64_t frames,
                   double total_seconds) {
  if (frames <= 0) return;
  total_seconds = std::max(0.0, total_seconds);
  const double mean = total_seconds / static_cast<double>(frames);
  std::vector<double> increments(bounds.size() + 1, 0.0);
  const size_t bucket = std::lower_bound(bounds.begin(), bounds.end(), mean) - bounds.begin();
  increments[bucket] = static_cast<double>(frames);
  histogram.ObserveMultiple(increments, total_seconds);
}

}  // namespace

WorkerMetrics::WorkerMetrics(prometheus::Registry& registry)
    : frames_processed_(BuildCounter()
                            .Name(kFramesProcessedMetric)
                            .Help("Output frames written by successful tasks, by model.")
                            .Register(registry)),
      tasks_processed_(BuildCounter()
                           .Name(kTasksProcessedMetric)
                           .Help("Successful model tasks, by model.")
                           .Register(registry)),
      inference_(BuildHistogram()
                     .Name(kInferenceMetric)
                     .Help("Compute time per output frame (colour conversion and the model's "
                           "forward passes), "
                           "by model.")
                     .Register(registry)),
      read_(BuildHistogram()
                .Name(kReadMetric)
                .Help("Input read time per output frame, by model.")
                .Register(registry)),
      write_(BuildHistogram()
                 .Name(kWriteMetric)
                 .Help("Output write time per output frame, by model.")
                 .Register(registry)),
      model_loads_(
          BuildCounter()
              .Name(kModelLoadsMetric)
              .Help("Models loaded into the cache (cache misses that loaded), by model and device.")
              .Register(registry)),
      model_load_failures_(BuildCounter()
                               .Name(kModelLoadFailuresMetric)
                               .Help("Model loads that failed, by model and device.")
                               .Register(registry)),
      model_load_seconds_(
          BuildHistogram()
              .Name(kModelLoadSecondsMetric)
              .Help("Time to load a model onto a device (successful or not), by model.")
              .Register(registry)),
      cache_hits_(BuildCounter()
                      .Name(kCacheHitsMetric)
                      .Help("Tasks that found their model already loaded, by model and device.")
                      .Register(registry)),
      evictions_(BuildCounter()
                     .Name(kEvictionsMetric)
                     .Help("Models evicted from the cache to make room, by model and device.")
                     .Register(registry)),
      models_loaded_(BuildGauge()
                         .Name(kModelsLoadedMetric)
                         .Help("Models resident in the cache, by device.")
                         .Register(registry)),
      device_memory_used_(
          BuildGauge()
              .Name(kDeviceMemoryUsedMetric)
              .Help("Device memory taken by loaded models (their manifest estimates), by device.")
              .Register(registry)),
      device_memory_total_(BuildGauge()
                               .Name(kDeviceMemoryTotalMetric)
                               .Help("Device memory (system memory for the CPU), by device.")
                               .Register(registry)),
      slots_(BuildGauge()
                 .Name(kSlotsMetric)
                 .Help("Task slots of this worker.")
                 .Register(registry)
                 .Add({})),
      busy_slots_(BuildGauge()
                      .Name(kBusySlotsMetric)
                      .Help("Task slots running an attempt.")
                      .Register(registry)
                      .Add({})),
      draining_(BuildGauge()
                    .Name(kDrainingMetric)
                    .Help("1 while the worker drains (takes no new work), else 0.")
                    .Register(registry)
                    .Add({})),
      connected_(BuildGauge()
                     .Name(kConnectedMetric)
                     .Help("1 while the worker's stream to the scheduler is up, else 0.")
                     .Register(registry)
                     .Add({})),
      leases_lost_(BuildCounter()
                       .Name(kLeasesLostMetric)
                       .Help("Attempts stopped because their lease ran out or the scheduler "
                             "took them back (docs/fencing.md).")
                       .Register(registry)
                       .Add({})),
      renames_refused_(BuildCounter()
                           .Name(kRenamesRefusedMetric)
                           .Help("Output frames not renamed into place because their attempt "
                                 "no longer held a lease.")
                           .Register(registry)
                           .Add({})),
      log_lines_dropped_(BuildCounter()
                             .Name(kLogLinesDroppedMetric)
                             .Help("Task log lines dropped because the buffer kept while cut "
                                   "off from the scheduler was full.")
                             .Register(registry)
                             .Add({})),
      tasks_failed_(BuildCounter()
                        .Name(kTasksFailedMetric)
                        .Help("Failed attempts, by failure reason.")
                        .Register(registry)) {}

void WorkerMetrics::OnCacheEvent(const CacheEvent& event) {
  const prometheus::Labels labels{{"model", event.model}, {"device", event.device}};
  switch (event.type) {
    case CacheEvent::Type::kHit:
      cache_hits_.Add(labels).Increment();
      break;
    case CacheEvent::Type::kLoad:
      model_loads_.Add(labels).Increment();
      model_load_seconds_.Add({{"model", event.model}}, kLoadBuckets)
          .Observe(std::max(0.0, event.load_seconds));
      break;
    case CacheEvent::Type::kLoadFailure:
      model_load_failures_.Add(labels).Increment();
      model_load_seconds_.Add({{"model", event.model}}, kLoadBuckets)
          .Observe(std::max(0.0, event.load_seconds));
      break;
    case CacheEvent::Type::kEviction:
      evictions_.Add(labels).Increment();
      break;
  }
}

void WorkerMetrics::OnTaskTimings(const TaskTimings& timings) {
  const prometheus::Labels labels{{"model", timings.model}};
  tasks_processed_.Add(labels).Increment();
  frames_processed_.Add(labels).Increment(
      static_cast<double>(std::max<int64_t>(0, timings.frames)));
  ObserveFrames(inference_.Add(labels, kFrameBuckets), kFrameBuckets, timings.frames,
                timings.compute_seconds);
  ObserveFrames(read_.Add(labels, kFrameBuckets), kFrameBuckets, timings.frames,
                timings.read_seconds);
  ObserveFrames(write_.Add(labels, kFrameBuckets), kFrameBuckets, timings.frames,
                timings.write_seconds);
}

void WorkerMetrics::Refresh(const WorkerSnapshot& snapshot) {
  slots_.Set(static_cast<double>(snapshot.slots));
  busy_slots_.Set(static_cast<double>(snapshot.busy_slots));
  draining_.Set(snapshot.draining ? 1 : 0);
  connected_.Set(snapshot.connected ? 1 : 0);
  for (const WorkerSnapshot::Device& d : snapshot.devices) {
    const prometheus::Labels labels{{"device", d.device}};
    device_memory_used_.Add(labels).Set(static_cast<double>(d.used_bytes));
    device_memory_total_.Add(labels).Set(static_cast<double>(d.total_bytes));
    models_loaded_.Add(labels).Set(static_cast<double>(d.models_loaded));
  }
}

void WorkerMetrics::OnLeaseLost() { leases_lost_.Increment(); }

void WorkerMetrics::OnRenameRefused() { renames_refused_.Increment(); }

void WorkerMetrics::OnLogLinesDropped(int64_t lines) {
  log_lines_dropped_.Increment(static_cast<double>(std::max<int64_t>(0, lines)));
}

void WorkerMetrics::OnTaskFailed(const std::string& reason) {
  tasks_failed_.Add({{"reason", reason}}).Increment();
}

}  // namespace genfarm::worker
