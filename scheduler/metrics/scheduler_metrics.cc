#include "scheduler/metrics/scheduler_metrics.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_replace.h"
#include "common/enum_names.h"

namespace genfarm::scheduler {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

// Runnable -> assigned: milliseconds on an idle farm, hours on a saturated one.
const Histogram::BucketBoundaries kDispatchBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600};
// One attempt on a worker: a chunk of frames through a model.
const Histogram::BucketBoundaries kRunBuckets = {0.1, 0.25, 0.5, 1,   2.5, 5,    10,
                                                 30,  60,   120, 300, 600, 1800, 3600};
// One group commit (SQLite WAL on local disk: ~1 ms; a slow disk or PostgreSQL: more).
const Histogram::BucketBoundaries kCommitBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                    0.1,    0.25,  0.5,    1,     2.5,  5,     10};
// One closure on the core thread: well under a millisecond normally; 0.1 s is the bound
// no request may exceed (docs/benchmarks.md, core hold).
const Histogram::BucketBoundaries kCoreRunBuckets = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025,
                                                     0.05,   0.1,    0.25,  0.5,   1,    5};

// Stages without a model (dailies) still need a label value.
std::string ModelLabel(const std::string& model) { return model.empty() ? "none" : model; }

// "missed heartbeats" -> "missed_heartbeats": a Prometheus-friendly label value.
std::string ReasonLabel(const std::string& why) {
  std::string out = absl::AsciiStrToLower(absl::StrReplaceAll(why, {{" ", "_"}, {"-", "_"}}));
  return out.empty() ? "unknown" : out;
}

}  // namespace

FarmSnapshot TakeFarmSnapshot(const SchedulerCore& core) {
  FarmSnapshot out;
  out.stats = core.Stats();
  out.queue_depths = core.QueueDepths();
  for (const v1::Worker& worker : core.ListWorkers(/*include_offline=*/false)) {
    out.connected_workers++;
    out.slots += worker.slots();
    out.busy_slots += worker.busy_slots();
    if (worker.state() == v1::WORKER_STATE_DRAINING) {
      out.draining_workers++;
    } else {
      out.free_slots += std::max<int64_t>(0, worker.slots() - worker.busy_slots());
    }
  }
  return out;
}

SchedulerMetrics::SchedulerMetrics(prometheus::Registry& registry)
    : jobs_(BuildGauge()
                .Name(kJobsMetric)
                .Help("Jobs known to the scheduler, by state.")
                .Register(registry)),
      tasks_(BuildGauge()
                 .Name(kTasksMetric)
                 .Help("Tasks of all known jobs, by state.")
                 .Register(registry)),
      queue_depth_(BuildGauge()
                       .Name(kQueueDepthMetric)
                       .Help("Runnable tasks waiting for a worker (queued, not backing off), by "
                             "project and tier.")
                       .Register(registry)),
      connected_workers_(BuildGauge()
                             .Name(kConnectedWorkersMetric)
                             .Help("Workers with an open stream to the scheduler.")
                             .Register(registry)
                             .Add({})),
      draining_workers_(BuildGauge()
                            .Name(kDrainingWorkersMetric)
                            .Help("Connected workers that are draining (take no new work).")
                            .Register(registry)
                            .Add({})),
      slots_(BuildGauge()
                 .Name(kSlotsMetric)
                 .Help("Task slots on connected workers.")
                 .Register(registry)
                 .Add({})),
      free_slots_(BuildGauge()
                      .Name(kFreeSlotsMetric)
                      .Help("Idle task slots on connected workers that are not draining.")
                      .Register(registry)
                      .Add({})),
      busy_slots_(BuildGauge()
                      .Name(kBusySlotsMetric)
                      .Help("Task slots running an attempt.")
                      .Register(registry)
                      .Add({})),
      dispatch_latency_(
          BuildHistogram()
              .Name(kDispatchLatencyMetric)
              .Help("Time from a task becoming runnable to its assignment to a worker, by project.")
              .Register(registry)),
      task_run_(BuildHistogram()
                    .Name(kTaskRunMetric)
                    .Help("Wall time of ended attempts on workers, by model and outcome state "
                          "(succeeded, failed).")
                    .Register(registry)),
      attempts_(
          BuildCounter()
              .Name(kAttemptsMetric)
              .Help("Ended attempts, by project, model and outcome state (succeeded, failed).")
              .Register(registry)),
      frames_completed_(BuildCounter()
                            .Name(kFramesCompletedMetric)
                            .Help("Frames of successful attempts, by project and model.")
                            .Register(registry)),
      frames_failed_(
          BuildCounter()
              .Name(kFramesFailedMetric)
              .Help("Frames of tasks that failed for good (retries used up), by project and model.")
              .Register(registry)),
      requeues_(BuildCounter()
                    .Name(kRequeuesMetric)
                    .Help("Failed attempts whose task was queued again, by failure reason.")
                    .Register(registry)),
      retries_(BuildCounter()
                   .Name(kRetriesMetric)
                   .Help("Requeues charged to the task's retries (real failures, not lost workers, "
                         "cancels or preemption), by failure reason.")
                   .Register(registry)),
      workers_lost_(
          BuildCounter()
              .Name(kWorkersLostMetric)
              .Help("Connected workers lost, by reason (stream_closed, missed_heartbeats).")
              .Register(registry)),
      worker_messages_ignored_(
          BuildCounter()
              .Name(kWorkerMessagesIgnoredMetric)
              .Help("Worker messages ignored or cut to size, by kind (progress, result, "
                    "heartbeat, log) and reason (stale_attempt, wrong_task, "
                    "not_current_stream, out_of_range, truncated).")
              .Register(registry)),
      store_commit_(BuildHistogram()
                        .Name(kStoreCommitMetric)
                        .Help("Duration of store group commits (successful or not).")
                        .Register(registry)
                        .Add({}, kCommitBuckets)),
      core_run_(BuildHistogram()
                    .Name(kCoreRunMetric)
                    .Help("How long one request, worker event, tick or slice of background "
                          "work held the scheduler core's thread.")
                    .Register(registry)
                    .Add({}, kCoreRunBuckets)),
      store_commit_failures_(BuildCounter()
                                 .Name(kStoreCommitFailuresMetric)
                                 .Help("Store commits that failed (they are retried).")
                                 .Register(registry)
                                 .Add({})),
      store_committed_records_(BuildCounter()
                                   .Name(kStoreCommitRecordsMetric)
                                   .Help("Job, task and log records made durable.")
                                   .Register(registry)
                                   .Add({})) {
  // Every state exists from the start, so dashboards and alerts see 0 rather than no data.
  for (absl::string_view s : JobStateNames()) jobs_.Add({{"state", std::string(s)}});
  for (absl::string_view s : TaskStateNames()) tasks_.Add({{"state", std::string(s)}});
}

void SchedulerMetrics::OnDispatch(const std::string& project, double wait_seconds) {
  dispatch_latency_.Add({{"project", project}}, kDispatchBuckets)
      .Observe(std::max(0.0, wait_seconds));
}

void SchedulerMetrics::OnAttemptEnded(const std::string& project, const std::string& model,
                                      bool success, int64_t frames, double run_seconds) {
  const std::string state(
      TaskStateName(success ? v1::TASK_STATE_SUCCEEDED : v1::TASK_STATE_FAILED));
  const std::string model_label = ModelLabel(model);
  task_run_.Add({{"model", model_label}, {"state", state}}, kRunBuckets)
      .Observe(std::max(0.0, run_seconds));
  attempts_.Add({{"project", project}, {"model", model_label}, {"state", state}}).Increment();
  if (success && frames > 0) {
    frames_completed_.Add({{"project", project}, {"model", model_label}})
        .Increment(static_cast<double>(frames));
  }
}

void SchedulerMetrics::OnRequeue(const std::string& reason) {
  requeues_.Add({{"reason", ReasonLabel(reason)}}).Increment();
}

void SchedulerMetrics::OnRetry(const std::string& reason) {
  retries_.Add({{"reason", ReasonLabel(reason)}}).Increment();
}

void SchedulerMetrics::OnTaskFailed(const std::string& project, const std::string& model,
                                    int64_t frames) {
  auto& counter = frames_failed_.Add({{"project", project}, {"model", ModelLabel(model)}});
  if (frames > 0) counter.Increment(static_cast<double>(frames));
}

void SchedulerMetrics::OnWorkerLost(const std::string& why) {
  workers_lost_.Add({{"reason", ReasonLabel(why)}}).Increment();
}

void SchedulerMetrics::OnWorkerMessageIgnored(const std::string& kind, const std::string& reason) {
  // Both come from fixed sets in WorkerEvents: bounded labels.
  worker_messages_ignored_.Add({{"kind", kind}, {"reason", reason}}).Increment();
}

void SchedulerMetrics::OnCommit(const CommitStats& stats) {
  store_commit_.Observe(std::max(0.0, stats.seconds));
  if (stats.ok) {
    store_committed_records_.Increment(static_cast<double>(stats.records));
  } else {
    store_commit_failures_.Increment();
  }
}

void SchedulerMetrics::OnCoreRun(absl::Duration held) {
  core_run_.Observe(absl::ToDoubleSeconds(held));
}

void SchedulerMetrics::Refresh(const FarmSnapshot& snapshot) {
  absl::MutexLock lock(&mu_);
  for (absl::string_view name : JobStateNames()) {
    const std::string s(name);
    auto it = snapshot.stats.jobs_by_state().find(s);
    jobs_.Add({{"state", s}})
        .Set(it == snapshot.stats.jobs_by_state().end() ? 0 : static_cast<double>(it->second));
  }
  for (absl::string_view name : TaskStateNames()) {
    const std::string s(name);
    auto it = snapshot.stats.tasks_by_state().find(s);
    tasks_.Add({{"state", s}})
        .Set(it == snapshot.stats.tasks_by_state().end() ? 0 : static_cast<double>(it->second));
  }
  std::set<std::pair<std::string, std::string>> now;
  for (const auto& [key, depth] : snapshot.queue_depths) {
    std::pair<std::string, std::string> series{key.first, std::string(TierName(key.second))};
    queue_depth_.Add({{"project", series.first}, {"tier", series.second}})
        .Set(static_cast<double>(depth));
    now.insert(series);
  }
  // A project whose queue drained keeps its series at 0 (a falling queue, not a vanished one).
  for (const auto& series : queue_series_) {
    if (!now.count(series))
      queue_depth_.Add({{"project", series.first}, {"tier", series.second}}).Set(0);
  }
  queue_series_.insert(now.begin(), now.end());
  connected_workers_.Set(static_cast<double>(snapshot.connected_workers));
  draining_workers_.Set(static_cast<double>(snapshot.draining_workers));
  slots_.Set(static_cast<double>(snapshot.slots));
  free_slots_.Set(static_cast<double>(snapshot.free_slots));
  busy_slots_.Set(static_cast<double>(snapshot.busy_slots));
}

}  // namespace genfarm::scheduler
