// CoreBench: how many task dispatches per second the scheduler core sustains with its
// real durable path, and how long a restart over a million tasks takes. Figures only,
// never asserted (see genfarm-core-bench and docs in the README).
//
//   (1) Dispatch: one SchedulerCore with GenFarmPolicy over one job of `tasks`
//       single-frame tasks, `workers` in-process workers that answer every Assignment
//       at once with a success Result. The loop feeds the queued results to
//       WorkerResult, then calls Dispatch, until the job succeeds. Timed end to end:
//       assign + result + durable commit, including the final StoreWriter::Flush.
//       Run twice in the same process: with SqliteJobStore + StoreWriter behind the
//       StateSink (as the server wires it), and with a sink that drops everything (the
//       baseline: the core alone). Also reports the writer's commits and records/commit.
//   (2) Restart: fills a store with `restart_jobs` x `restart_tasks_per_job` tasks by
//       SubmitJob through a core + StoreWriter + Flush (the records the server writes),
//       then times SqliteJobStore::Open, Load and SchedulerCore::Recover separately.
//
//   CoreBenchOptions options;
//   options.dir = "/tmp/genfarm-core-bench";   // must exist; sub-folders are created
//   GENFARM_ASSIGN_OR_RETURN(CoreBenchReport report, RunCoreBench(options, RealClock::Get()));
//   std::cout << FormatCoreBenchReport(report);
//
// Not thread-safe; one benchmark at a time (the StoreWriter runs its own thread).
#ifndef GENFARM_SCHEDULER_BENCH_CORE_BENCH_H_
#define GENFARM_SCHEDULER_BENCH_CORE_BENCH_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"

namespace genfarm::scheduler {

struct CoreBenchOptions {
  std::string dir;             // data directories go under it; must exist
  int64_t tasks = 200'000;     // (1): single-frame tasks of the one job
  int workers = 64;            // (1): simulated workers
  int slots = 1;               // (1): slots per worker
  int64_t restart_jobs = 100;  // (2): 0 skips the restart measurement
  int64_t restart_tasks_per_job = 10'000;
  std::function<void(const std::string&)> on_step;  // progress lines (optional)
};

struct DispatchRun {
  int64_t dispatches = 0;     // assignments answered by a success result
  double submit_seconds = 0;  // SubmitJob (+ Flush when durable), not in `seconds`
  double seconds = 0;         // first Dispatch .. job succeeded and final Flush returned
  int64_t commits = 0;        // StoreWriter commits during `seconds` (durable only)
  int64_t records = 0;        // records in those commits
  double DispatchesPerSecond() const { return seconds > 0 ? dispatches / seconds : 0; }
  double RecordsPerCommit() const { return commits > 0 ? double(records) / double(commits) : 0; }
};

struct RestartRun {
  int64_t jobs = 0;
  int64_t tasks = 0;
  double fill_seconds = 0;     // SubmitJob of every job + Flush
  double db_mib = 0;           // genfarm.db after the fill
  double open_seconds = 0;     // SqliteJobStore::Open
  double load_seconds = 0;     // SqliteJobStore::Load
  double recover_seconds = 0;  // SchedulerCore::Recover
  double TotalSeconds() const { return open_seconds + load_seconds + recover_seconds; }
};

struct CoreBenchReport {
  CoreBenchOptions options;
  int cores = 0;
  DispatchRun null_sink;  // baseline
  DispatchRun durable;
  bool restart_ran = false;
  RestartRun restart;
};

absl::StatusOr<CoreBenchReport> RunCoreBench(const CoreBenchOptions& options, Clock& clock);

// The figures as a plain-text table, with the durable/baseline ratio.
std::string FormatCoreBenchReport(const CoreBenchReport& report);

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_BENCH_CORE_BENCH_H_
