#include "scheduler/bench/core_bench.h"

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/enum_names.h"
#include "common/ids.h"
#include "common/job_spec.h"
#include "common/status_macros.h"
#include "genfarm/v1/types.pb.h"
#include "genfarm/v1/worker_service.pb.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/core/state_sink.h"
#include "scheduler/core/store_writer_sink.h"
#include "scheduler/core/worker_channel.h"
#include "scheduler/policy/genfarm_policy.h"
#include "scheduler/store/sqlite_job_store.h"
#include "scheduler/store/store_writer.h"

namespace genfarm::scheduler {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;
constexpr char kModel[] = "esrgan-bench";

// The baseline: what the core costs when durability costs nothing.
class NullSink : public StateSink {
 public:
  void PutJob(const JobRecord&) override {}
  void PutTask(const TaskRecord&) override {}
  void AppendLog(const LogRecord&) override {}
  void SetAttemptHighWater(int64_t) override {}
  void SetJobHighWater(int64_t) override {}
  void DeleteJob(JobId) override {}
  void PutWorker(const WorkerRecord&) override {}
  void PutModel(const ModelRecord&) override {}
  void BeginUnit() override {}
  void EndUnit() override {}
  // Nothing is stored: everything is as durable as it will ever be.
  void WhenDurable(std::function<void(absl::Status)> done) override { done(absl::OkStatus()); }
};

using Outbox = std::vector<std::pair<WorkerId, v1::Result>>;

// A worker that finishes every assignment instantly: the result is queued for the bench
// loop to deliver (the core must not be re-entered from inside Send).
class InstantWorkerChannel : public WorkerChannel {
 public:
  InstantWorkerChannel(WorkerId id, Outbox& outbox) : id_(std::move(id)), outbox_(outbox) {}
  void Send(const v1::SchedulerMessage& message) override {
    if (!message.has_assign()) return;
    const v1::Assignment& a = message.assign();
    v1::Result result;
    result.set_attempt_id(a.attempt_id());
    result.set_success(true);
    result.set_job_id(a.job_id());
    result.set_task_index(a.task_index());
    result.mutable_frames_done()->Add(a.frames().begin(), a.frames().end());
    outbox_.emplace_back(id_, std::move(result));
  }
  void Close() override {}

 private:
  WorkerId id_;
  Outbox& outbox_;
};

// The one model every bench worker has; the catalog knows it before the job is submitted.
v1::ModelInfo BenchModel() {
  v1::ModelInfo model;
  model.set_name(kModel);
  model.set_version("1");
  model.set_kind("upscale");
  model.set_memory_bytes(kGiB);
  model.set_loaded(true);
  return model;
}

v1::Hello BenchHello(const std::string& id, int slots) {
  v1::Hello hello;
  hello.set_worker_id(id);
  hello.set_hostname(id);
  hello.set_slots(slots);
  v1::Device* cpu = hello.add_devices();
  cpu->set_name("cpu");
  cpu->set_kind("cpu");
  cpu->set_index(0);
  cpu->set_memory_total_bytes(64 * kGiB);
  *hello.add_models() = BenchModel();
  return hello;
}

absl::StatusOr<v1::JobSpec> BenchSpec(const std::string& name, int64_t frames) {
  return ParseJobSpecYaml(absl::StrCat("name: ", name,
                                       "\n"
                                       "project: bench\n"
                                       "stages:\n"
                                       "  - name: upres\n"
                                       "    model: ",
                                       kModel,
                                       "\n"
                                       "    input: /shots/bench/plate.%07d.exr\n"
                                       "    output: /shots/bench/upres.%07d.exr\n"
                                       "    frames: 1-",
                                       frames,
                                       "\n"
                                       "    chunk: 1\n"));
}

double Since(const Clock& clock, absl::Time start) {
  return absl::ToDoubleSeconds(clock.Now() - start);
}

struct CommitCounter {
  absl::Mutex mu;
  int64_t commits ABSL_GUARDED_BY(mu) = 0;
  int64_t records ABSL_GUARDED_BY(mu) = 0;
  void Add(const CommitStats& stats) {
    absl::MutexLock lock(&mu);
    ++commits;
    records += static_cast<int64_t>(stats.records);
  }
  std::pair<int64_t, int64_t> Read() {
    absl::MutexLock lock(&mu);
    return {commits, records};
  }
};

// Drives one job of `options.tasks` tasks to success through `core`. `flush` makes
// everything durable (a no-op for the baseline).
absl::StatusOr<DispatchRun> DriveJob(const CoreBenchOptions& options, Clock& clock,
                                     SchedulerCore& core,
                                     const std::function<absl::Status()>& flush,
                                     CommitCounter* counter) {
  DispatchRun run;
  GENFARM_ASSIGN_OR_RETURN(v1::JobSpec spec, BenchSpec("dispatch_bench", options.tasks));
  core.LearnModels({BenchModel()});
  absl::Time start = clock.Now();
  GENFARM_ASSIGN_OR_RETURN(SubmitResult submitted, core.SubmitJob(std::move(spec), ""));
  while (core.RunBackgroundWork()) {
  }
  GENFARM_RETURN_IF_ERROR(flush());
  run.submit_seconds = Since(clock, start);

  Outbox outbox;
  Outbox delivering;
  std::vector<std::shared_ptr<InstantWorkerChannel>> channels;
  for (int w = 0; w < options.workers; ++w) {
    const std::string id = absl::StrFormat("bench-%04d", w);
    channels.push_back(std::make_shared<InstantWorkerChannel>(WorkerId(id), outbox));
    GENFARM_RETURN_IF_ERROR(core.WorkerHello(BenchHello(id, options.slots), channels.back()));
  }
  std::pair<int64_t, int64_t> commits_before{0, 0};
  if (counter != nullptr) commits_before = counter->Read();

  start = clock.Now();
  core.Dispatch();
  while (!outbox.empty()) {
    delivering.swap(outbox);
    for (const auto& [worker, result] : delivering) {
      core.WorkerResult(worker, result);
      ++run.dispatches;
    }
    delivering.clear();
    core.Dispatch();
  }
  GENFARM_RETURN_IF_ERROR(flush());
  run.seconds = Since(clock, start);

  GENFARM_ASSIGN_OR_RETURN(v1::Job job, core.GetJob(submitted.id));
  if (job.state() != v1::JOB_STATE_SUCCEEDED || run.dispatches != options.tasks) {
    return absl::InternalError(absl::StrCat("dispatch bench stalled: job is ",
                                            JobStateName(job.state()), " after ", run.dispatches,
                                            " of ", options.tasks, " tasks"));
  }
  if (counter != nullptr) {
    auto [commits, records] = counter->Read();
    run.commits = commits - commits_before.first;
    run.records = records - commits_before.second;
  }
  return run;
}

absl::StatusOr<DispatchRun> RunNullSink(const CoreBenchOptions& options, Clock& clock) {
  NullSink sink;
  GenFarmPolicy policy(PolicyConfig{});
  SchedulerCore core(clock, sink, policy, CoreOptions{});
  return DriveJob(
      options, clock, core, [] { return absl::OkStatus(); }, nullptr);
}

absl::StatusOr<DispatchRun> RunDurable(const CoreBenchOptions& options, Clock& clock) {
  const std::string dir = options.dir + "/dispatch";
  GENFARM_ASSIGN_OR_RETURN(std::unique_ptr<SqliteJobStore> store, SqliteJobStore::Open(dir));
  CommitCounter counter;
  StoreWriter::Options writer_options;
  writer_options.on_commit = [&counter](const CommitStats& stats) { counter.Add(stats); };
  StoreWriter writer(*store, clock, writer_options);
  StoreWriterSink sink(writer);
  GenFarmPolicy policy(PolicyConfig{});
  SchedulerCore core(clock, sink, policy, CoreOptions{});
  absl::StatusOr<DispatchRun> run = DriveJob(
      options, clock, core, [&writer] { return writer.Flush(); }, &counter);
  GENFARM_RETURN_IF_ERROR(writer.Stop());
  return run;
}

absl::StatusOr<RestartRun> RunRestart(const CoreBenchOptions& options, Clock& clock) {
  RestartRun run;
  const std::string dir = options.dir + "/restart";
  {
    GENFARM_ASSIGN_OR_RETURN(std::unique_ptr<SqliteJobStore> store, SqliteJobStore::Open(dir));
    StoreWriter writer(*store, clock);
    StoreWriterSink sink(writer);
    GenFarmPolicy policy(PolicyConfig{});
    SchedulerCore core(clock, sink, policy, CoreOptions{});
    core.LearnModels({BenchModel()});
    absl::Time start = clock.Now();
    for (int64_t j = 0; j < options.restart_jobs; ++j) {
      GENFARM_ASSIGN_OR_RETURN(
          v1::JobSpec spec, BenchSpec(absl::StrCat("restart_", j), options.restart_tasks_per_job));
      GENFARM_RETURN_IF_ERROR(
          core.SubmitJob(std::move(spec), absl::StrCat("restart-", j)).status());
      while (core.RunBackgroundWork()) {
      }
    }
    GENFARM_RETURN_IF_ERROR(writer.Flush());
    run.fill_seconds = Since(clock, start);
    GENFARM_RETURN_IF_ERROR(writer.Stop());
  }
  // Closing the last connection checkpointed the WAL into the database file.
  std::error_code ec;
  const uintmax_t bytes = std::filesystem::file_size(dir + "/genfarm.db", ec);
  run.db_mib = ec ? 0 : static_cast<double>(bytes) / (1 << 20);

  absl::Time start = clock.Now();
  GENFARM_ASSIGN_OR_RETURN(std::unique_ptr<SqliteJobStore> store, SqliteJobStore::Open(dir));
  run.open_seconds = Since(clock, start);
  start = clock.Now();
  GENFARM_ASSIGN_OR_RETURN(StoreSnapshot snapshot, store->Load());
  run.load_seconds = Since(clock, start);
  StoreWriter writer(*store, clock);
  StoreWriterSink sink(writer);
  GenFarmPolicy policy(PolicyConfig{});
  SchedulerCore core(clock, sink, policy, CoreOptions{});
  start = clock.Now();
  GENFARM_RETURN_IF_ERROR(core.Recover(snapshot));
  run.recover_seconds = Since(clock, start);
  run.jobs = static_cast<int64_t>(snapshot.jobs.size());
  run.tasks = core.task_count();
  GENFARM_RETURN_IF_ERROR(writer.Stop());
  const int64_t expected = options.restart_jobs * options.restart_tasks_per_job;
  if (run.tasks != expected) {
    return absl::InternalError(
        absl::StrCat("restart recovered ", run.tasks, " tasks, expected ", expected));
  }
  return run;
}

}  // namespace

absl::StatusOr<CoreBenchReport> RunCoreBench(const CoreBenchOptions& options, Clock& clock) {
  if (options.tasks < 1 || options.workers < 1 || options.slots < 1 || options.restart_jobs < 0 ||
      options.restart_tasks_per_job < 1) {
    return absl::InvalidArgumentError(
        "tasks, workers, slots and restart_tasks_per_job must be >= 1, restart_jobs >= 0");
  }
  auto step = [&](const std::string& line) {
    if (options.on_step) options.on_step(line);
  };
  CoreBenchReport report;
  report.options = options;
  report.cores = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  step(absl::StrCat("dispatch: null sink, ", options.tasks, " tasks"));
  GENFARM_ASSIGN_OR_RETURN(report.null_sink, RunNullSink(options, clock));
  step(absl::StrCat("dispatch: SQLite + StoreWriter, ", options.tasks, " tasks"));
  GENFARM_ASSIGN_OR_RETURN(report.durable, RunDurable(options, clock));
  if (options.restart_jobs > 0) {
    step(absl::StrCat("restart: ", options.restart_jobs, " x ", options.restart_tasks_per_job,
                      " tasks"));
    GENFARM_ASSIGN_OR_RETURN(report.restart, RunRestart(options, clock));
    report.restart_ran = true;
  }
  return report;
}

std::string FormatCoreBenchReport(const CoreBenchReport& r) {
  const CoreBenchOptions& o = r.options;
  std::string out = absl::StrFormat(
      "genfarm-core-bench: %d cores; dispatch: 1 job x %d single-frame tasks, %d workers x %d "
      "slots, GenFarmPolicy\n\n",
      r.cores, o.tasks, o.workers, o.slots);
  absl::StrAppendFormat(&out, "%-34s %12s %10s %10s %9s %12s %8s\n",
                        "dispatch (assign+result+commit)", "dispatches/s", "seconds", "submit s",
                        "commits", "records/cmt", "ratio");
  auto row = [&](const char* label, const DispatchRun& d, bool durable) {
    absl::StrAppendFormat(&out, "%-34s %12.0f %10.2f %10.2f %9s %12s %7.2fx\n", label,
                          d.DispatchesPerSecond(), d.seconds, d.submit_seconds,
                          durable ? absl::StrCat(d.commits) : "-",
                          durable ? absl::StrFormat("%.0f", d.RecordsPerCommit()) : "-",
                          r.null_sink.DispatchesPerSecond() > 0
                              ? d.DispatchesPerSecond() / r.null_sink.DispatchesPerSecond()
                              : 0.0);
  };
  row("baseline: core, null sink", r.null_sink, false);
  row("durable: SQLite WAL + StoreWriter", r.durable, true);
  if (r.restart_ran) {
    const RestartRun& s = r.restart;
    absl::StrAppendFormat(&out,
                          "\nrestart over %d tasks (%d jobs x %d; filled by SubmitJob + Flush in "
                          "%.2f s, genfarm.db %.1f MiB)\n",
                          s.tasks, s.jobs, o.restart_tasks_per_job, s.fill_seconds, s.db_mib);
    absl::StrAppendFormat(&out, "%-34s %10s\n", "step", "seconds");
    absl::StrAppendFormat(&out, "%-34s %10.3f\n", "SqliteJobStore::Open", s.open_seconds);
    absl::StrAppendFormat(&out, "%-34s %10.3f\n", "SqliteJobStore::Load", s.load_seconds);
    absl::StrAppendFormat(&out, "%-34s %10.3f\n", "SchedulerCore::Recover", s.recover_seconds);
    absl::StrAppendFormat(&out, "%-34s %10.3f\n", "total", s.TotalSeconds());
  }
  return out;
}

}  // namespace genfarm::scheduler
