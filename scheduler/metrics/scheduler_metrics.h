// SchedulerMetrics: the scheduler's Prometheus metrics (genfarm_scheduler_*). Counters and
// histograms are fed by the core's events (it is the core's CoreObserver) and by the store
// writer's commits; gauges (jobs, tasks, queue depth, workers, slots) are set from a
// FarmSnapshot taken on the core's executor, normally right before each scrape.
//
//   prometheus::Registry registry;
//   SchedulerMetrics metrics(registry);
//   SchedulerCore core(clock, sink, policy, options, &metrics);
//   writer_options.on_commit = [&](const CommitStats& s) { metrics.OnCommit(s); };
//   // in the /metrics handler:
//   metrics.Refresh(executor.Run([&] { return TakeFarmSnapshot(core); }));
//
// Labels are bounded (state, project, tier, model, reason): never job, task or attempt
// ids. Ownership: registers its families in the borrowed registry, which must outlive it.
// Thread-safety: every method is safe from any thread (prometheus-cpp metrics are atomic
// and families lock); TakeFarmSnapshot must run on the core's executor.
#ifndef GENFARM_SCHEDULER_METRICS_SCHEDULER_METRICS_H_
#define GENFARM_SCHEDULER_METRICS_SCHEDULER_METRICS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "genfarm/v1/farm_service.pb.h"
#include "genfarm/v1/types.pb.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "scheduler/core/core_observer.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/store/store_writer.h"

namespace genfarm::scheduler {

// Metric family names, kept here so tests and docs can refer to them.
inline constexpr char kJobsMetric[] = "genfarm_scheduler_jobs";
inline constexpr char kTasksMetric[] = "genfarm_scheduler_tasks";
inline constexpr char kQueueDepthMetric[] = "genfarm_scheduler_queue_depth";
inline constexpr char kConnectedWorkersMetric[] = "genfarm_scheduler_connected_workers";
inline constexpr char kDrainingWorkersMetric[] = "genfarm_scheduler_draining_workers";
inline constexpr char kSlotsMetric[] = "genfarm_scheduler_slots";
inline constexpr char kFreeSlotsMetric[] = "genfarm_scheduler_free_slots";
inline constexpr char kBusySlotsMetric[] = "genfarm_scheduler_busy_slots";
inline constexpr char kDispatchLatencyMetric[] = "genfarm_scheduler_dispatch_latency_seconds";
inline constexpr char kTaskRunMetric[] = "genfarm_scheduler_task_run_seconds";
inline constexpr char kAttemptsMetric[] = "genfarm_scheduler_attempts_total";
inline constexpr char kFramesCompletedMetric[] = "genfarm_scheduler_frames_completed_total";
inline constexpr char kFramesFailedMetric[] = "genfarm_scheduler_frames_failed_total";
inline constexpr char kRequeuesMetric[] = "genfarm_scheduler_requeues_total";
inline constexpr char kRetriesMetric[] = "genfarm_scheduler_retries_total";
inline constexpr char kWorkersLostMetric[] = "genfarm_scheduler_workers_lost_total";
inline constexpr char kWorkerMessagesIgnoredMetric[] =
    "genfarm_scheduler_worker_messages_ignored_total";
inline constexpr char kStoreCommitMetric[] = "genfarm_scheduler_store_commit_seconds";
inline constexpr char kCoreRunMetric[] = "genfarm_scheduler_core_run_seconds";
inline constexpr char kStoreCommitFailuresMetric[] =
    "genfarm_scheduler_store_commit_failures_total";
inline constexpr char kStoreCommitRecordsMetric[] =
    "genfarm_scheduler_store_committed_records_total";

// What the gauges show, read from the core on its executor.
struct FarmSnapshot {
  v1::FarmStats stats;
  std::map<std::pair<std::string, v1::Tier>, int64_t>
      queue_depths;  // (project, tier) -> runnable tasks
  int64_t connected_workers = 0;
  int64_t draining_workers = 0;
  int64_t slots = 0;       // on connected workers
  int64_t busy_slots = 0;  // running attempts
  int64_t free_slots = 0;  // idle slots on connected workers that are not draining
};

// Reads the core. Call on the core's executor only.
FarmSnapshot TakeFarmSnapshot(const SchedulerCore& core);

class SchedulerMetrics : public CoreObserver {
 public:
  explicit SchedulerMetrics(prometheus::Registry& registry);
  SchedulerMetrics(const SchedulerMetrics&) = delete;
  SchedulerMetrics& operator=(const SchedulerMetrics&) = delete;

  // CoreObserver (called on the core's executor).
  void OnDispatch(const std::string& project, double wait_seconds) override;
  void OnAttemptEnded(const std::string& project, const std::string& model, bool success,
                      int64_t frames, double run_seconds) override;
  void OnRequeue(const std::string& reason) override;
  void OnRetry(const std::string& reason) override;
  void OnTaskFailed(const std::string& project, const std::string& model, int64_t frames) override;
  void OnWorkerLost(const std::string& why) override;
  void OnWorkerMessageIgnored(const std::string& kind, const std::string& reason) override;

  // StoreWriter::Options::on_commit (called on the writer thread).
  void OnCommit(const CommitStats& stats);
  // SerialExecutor::Options::on_run of the core's executor: how long one closure (a
  // request, a worker event, a tick, a slice of background work) held the core thread.
  void OnCoreRun(absl::Duration held);

  // Sets every gauge from `snapshot`. Series seen before but absent now drop to 0.
  void Refresh(const FarmSnapshot& snapshot);

 private:
  prometheus::Family<prometheus::Gauge>& jobs_;
  prometheus::Family<prometheus::Gauge>& tasks_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Gauge& connected_workers_;
  prometheus::Gauge& draining_workers_;
  prometheus::Gauge& slots_;
  prometheus::Gauge& free_slots_;
  prometheus::Gauge& busy_slots_;
  prometheus::Family<prometheus::Histogram>& dispatch_latency_;
  prometheus::Family<prometheus::Histogram>& task_run_;
  prometheus::Family<prometheus::Counter>& attempts_;
  prometheus::Family<prometheus::Counter>& frames_completed_;
  prometheus::Family<prometheus::Counter>& frames_failed_;
  prometheus::Family<prometheus::Counter>& requeues_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Family<prometheus::Counter>& workers_lost_;
  prometheus::Family<prometheus::Counter>& worker_messages_ignored_;
  prometheus::Histogram& store_commit_;
  prometheus::Histogram& core_run_;
  prometheus::Counter& store_commit_failures_;
  prometheus::Counter& store_committed_records_;

  absl::Mutex mu_;  // serialises Refresh (the scrape handler may run on several threads)
  std::set<std::pair<std::string, std::string>> queue_series_ ABSL_GUARDED_BY(mu_);
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_METRICS_SCHEDULER_METRICS_H_
