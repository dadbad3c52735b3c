// genfarm-store-bench: figures for the scheduler store, printed, never asserted.
//   1. Task updates/s and commits/s through StoreWriter (group commit) against one transaction
//      per update (the baseline), same run, same disk, for synchronous=NORMAL and FULL.
//   2. Recovery: Open + Load() over a store of 1,000,000 tasks.
//   3. Retention: deleting half of those jobs in one commit, and Load() after it.
//
//   genfarm-store-bench [--dir=/path] [--load_tasks=1000000] [--updates=200000]
//
// The data directory defaults to a fresh one under $TMPDIR (or /tmp) and is removed at the end.
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "scheduler/store/postgres_job_store.h"
#include "scheduler/store/sqlite_job_store.h"
#include "scheduler/store/store_writer.h"
#include "tests/scheduler/store/postgres_fixture.h"

namespace genfarm::scheduler {
namespace {

struct Flags {
  std::string dir;
  int64_t load_tasks = 1'000'000;
  int64_t updates = 200'000;
  std::string postgres = "auto";
};

TaskRecord BenchTask(int64_t job, int32_t index, int64_t version) {
  TaskRecord task;
  task.id = TaskId{JobId(job), index};
  task.stage = 0;
  for (int64_t f = 0; f < 8; ++f) task.frames.push_back(1001 + 8 * index + f);
  task.state = version % 2 == 0 ? v1::TASK_STATE_RUNNING : v1::TASK_STATE_QUEUED;
  task.attempts = 1;
  task.attempt = AttemptId(job * 100'000 + index);
  task.worker = absl::StrCat("gpu-node-", index % 64);
  task.start_ms = 1'800'000'000'000 + version;
  task.frames_done = version % 9;
  return task;
}

double Seconds(absl::Time start) { return absl::ToDoubleSeconds(RealClock::Get().Now() - start); }

std::unique_ptr<SqliteJobStore> OpenOrDie(const std::string& dir,
                                          SqliteJobStore::Synchronous sync) {
  SqliteJobStore::Options options;
  options.synchronous = sync;
  absl::StatusOr<std::unique_ptr<SqliteJobStore>> store = SqliteJobStore::Open(dir, options);
  if (!store.ok()) {
    std::fprintf(stderr, "open %s: %s\n", dir.c_str(), store.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*store);
}

void CheckOk(const absl::Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, status.ToString().c_str());
    std::exit(1);
  }
}

// One transaction per update: what a store without group commit would do.
double BaselineUpdatesPerSecond(JobStore& store, int64_t updates) {
  absl::Time start = RealClock::Get().Now();
  WriteBatch batch;
  batch.tasks.resize(1);
  for (int64_t i = 0; i < updates; ++i) {
    batch.tasks[0] = BenchTask(1, static_cast<int32_t>(i % 10'000), i);
    CheckOk(store.Commit(batch), "baseline commit");
  }
  return static_cast<double>(updates) / Seconds(start);
}

struct GroupResult {
  double updates_per_second = 0;
  double commits_per_second = 0;
  double records_per_commit = 0;
  int64_t commits = 0;
};

// A producer as fast as the scheduler core can go; `distinct_tasks` bounds how many different
// tasks the updates touch (updates / distinct_tasks updates per task coalesce).
GroupResult GroupCommit(JobStore& store, int64_t updates, int64_t distinct_tasks, int64_t job) {
  absl::Mutex mu;
  int64_t commits = 0;
  int64_t records = 0;
  StoreWriter::Options options;
  options.on_commit = [&](const CommitStats& stats) {
    absl::MutexLock lock(&mu);
    ++commits;
    records += static_cast<int64_t>(stats.records);
  };
  StoreWriter writer(store, RealClock::Get(), options);
  absl::Time start = RealClock::Get().Now();
  for (int64_t i = 0; i < updates; ++i) {
    writer.PutTask(BenchTask(job, static_cast<int32_t>(i % distinct_tasks), i));
  }
  CheckOk(writer.Flush(), "flush");
  double seconds = Seconds(start);
  CheckOk(writer.Stop(), "stop");
  absl::MutexLock lock(&mu);
  GroupResult result;
  result.updates_per_second = static_cast<double>(updates) / seconds;
  result.commits_per_second = static_cast<double>(commits) / seconds;
  result.records_per_commit = commits > 0 ? static_cast<double>(records) / commits : 0;
  result.commits = commits;
  return result;
}

struct Throughput {
  double baseline = 0;
  GroupResult distinct;
  GroupResult hot;
};

Throughput RunThroughput(JobStore& store, const std::string& name, int64_t updates,
                         int64_t baseline_updates) {
  Throughput t;
  t.baseline = BaselineUpdatesPerSecond(store, baseline_updates);
  const double baseline = t.baseline;
  std::printf("%s\n", name.c_str());
  std::printf(
      "  baseline, 1 txn per update      : %10.0f updates/s = %10.0f commits/s (%lld updates)\n",
      baseline, baseline, static_cast<long long>(baseline_updates));
  // Every update a different task: group commit alone, no coalescing.
  GroupResult distinct = GroupCommit(store, updates, updates, 2);
  std::printf(
      "  StoreWriter, all tasks distinct : %10.0f updates/s, %8.0f commits/s, "
      "%7.0f records/commit (%lld commits)  -> %.1fx baseline\n",
      distinct.updates_per_second, distinct.commits_per_second, distinct.records_per_commit,
      static_cast<long long>(distinct.commits), distinct.updates_per_second / baseline);
  // 10 updates per task (queued, running, progress ...): coalescing on top.
  GroupResult hot = GroupCommit(store, updates, updates / 10, 3);
  std::printf(
      "  StoreWriter, 10 updates/task    : %10.0f updates/s, %8.0f commits/s, "
      "%7.0f records/commit (%lld commits)  -> %.1fx baseline\n",
      hot.updates_per_second, hot.commits_per_second, hot.records_per_commit,
      static_cast<long long>(hot.commits), hot.updates_per_second / baseline);
  t.distinct = distinct;
  t.hot = hot;
  return t;
}

Throughput RunSqliteThroughput(const std::string& dir, SqliteJobStore::Synchronous sync,
                               const char* name, int64_t updates, int64_t baseline_updates) {
  std::string sub = absl::StrCat(dir, "/throughput-", name);
  std::unique_ptr<SqliteJobStore> store = OpenOrDie(sub, sync);
  return RunThroughput(*store, absl::StrCat("synchronous=", name), updates, baseline_updates);
}

std::unique_ptr<PostgresJobStore> OpenPostgresOrDie(const std::string& url) {
  absl::StatusOr<std::unique_ptr<PostgresJobStore>> store = PostgresJobStore::Open(url);
  if (!store.ok()) {
    std::fprintf(stderr, "open %s: %s\n", PostgresJobStore::RedactUrl(url).c_str(),
                 store.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*store);
}

// The group-commit figures of every store in one table, PostgreSQL as a ratio of each SQLite.
void PrintSideBySide(const Throughput& normal, const Throughput& full, const Throughput& pg) {
  std::printf("side by side (updates/s; ratio = PostgreSQL / SQLite):\n");
  std::printf("  %-34s %12s %12s %12s %10s %10s\n", "", "sqlite NORMAL", "sqlite FULL", "postgres",
              "pg/NORMAL", "pg/FULL");
  auto row = [](const char* name, double a, double b, double c) {
    std::printf("  %-34s %12.0f %12.0f %12.0f %9.2fx %9.2fx\n", name, a, b, c, c / a, c / b);
  };
  row("baseline, 1 txn per update", normal.baseline, full.baseline, pg.baseline);
  row("StoreWriter, all tasks distinct", normal.distinct.updates_per_second,
      full.distinct.updates_per_second, pg.distinct.updates_per_second);
  row("StoreWriter, 10 updates/task", normal.hot.updates_per_second, full.hot.updates_per_second,
      pg.hot.updates_per_second);
  row("  commits/s, all tasks distinct", normal.distinct.commits_per_second,
      full.distinct.commits_per_second, pg.distinct.commits_per_second);
}

// The recovery benchmarks' jobs have this many tasks each.
constexpr int64_t kTasksPerJob = 1000;

// The recovery benchmarks' fill: task `i` of a store of kTasksPerJob-task jobs numbered from
// `first_job`, with its job's row ahead of the job's first task.
void AddLoadTask(WriteBatch& batch, int64_t first_job, int64_t i) {
  const int64_t job = first_job + i / kTasksPerJob;
  if (i % kTasksPerJob == 0) {
    JobRecord& record = batch.jobs.emplace_back();
    record.id = JobId(job);
    record.spec.set_name(absl::StrCat("job", job));
    record.spec.set_project("bench");
    record.spec.add_stages()->set_frames("1001-9000");
  }
  batch.tasks.push_back(BenchTask(job, static_cast<int32_t>(i % kTasksPerJob), i));
}

// PostgreSQL recovery: a million tasks committed in one batch, then Open + Load().
void RunPostgresLoad(const std::string& url, int64_t tasks) {
  {
    std::unique_ptr<PostgresJobStore> store = OpenPostgresOrDie(url);
    WriteBatch batch;
    // Jobs from 1,000,000: clear of the throughput runs' jobs.
    for (int64_t i = 0; i < tasks; ++i) AddLoadTask(batch, 1'000'000, i);
    batch.attempt_high_water = tasks;
    absl::Time start = RealClock::Get().Now();
    CheckOk(store->Commit(batch), "postgres fill");
    std::printf("postgres load: wrote %lld tasks in %.2f s (ONE transaction, COPY)\n",
                static_cast<long long>(tasks), Seconds(start));
  }
  absl::Time start = RealClock::Get().Now();
  std::unique_ptr<PostgresJobStore> store = OpenPostgresOrDie(url);
  double open_seconds = Seconds(start);
  absl::Time load_start = RealClock::Get().Now();
  absl::StatusOr<StoreSnapshot> snapshot = store->Load();
  CheckOk(snapshot.status(), "postgres load");
  double load_seconds = Seconds(load_start);
  std::printf(
      "postgres load: restart over %zu tasks / %zu jobs: open %.3f s + Load() %.3f s "
      "(%.0f tasks/s)\n",
      snapshot->tasks.size(), snapshot->jobs.size(), open_seconds, load_seconds,
      static_cast<double>(snapshot->tasks.size()) / load_seconds);
}

void RunLoad(const std::string& dir, int64_t tasks) {
  std::string sub = dir + "/load";
  {
    std::unique_ptr<SqliteJobStore> store = OpenOrDie(sub, SqliteJobStore::Synchronous::kNormal);
    absl::Time start = RealClock::Get().Now();
    WriteBatch batch;
    for (int64_t i = 0; i < tasks; ++i) {
      AddLoadTask(batch, 1, i);
      if (batch.tasks.size() == 50'000) {
        CheckOk(store->Commit(batch), "fill");
        batch = WriteBatch();
      }
    }
    batch.attempt_high_water = tasks;
    CheckOk(store->Commit(batch), "fill");
    std::printf("load: wrote %lld tasks in %.2f s (50k-task transactions)\n",
                static_cast<long long>(tasks), Seconds(start));
  }
  // Closing the last connection checkpoints the WAL into the database and removes it.
  std::error_code ec;
  uintmax_t db_bytes = std::filesystem::file_size(sub + "/genfarm.db", ec);
  if (ec) db_bytes = 0;
  absl::Time start = RealClock::Get().Now();
  std::unique_ptr<SqliteJobStore> store = OpenOrDie(sub, SqliteJobStore::Synchronous::kNormal);
  double open_seconds = Seconds(start);
  absl::Time load_start = RealClock::Get().Now();
  absl::StatusOr<StoreSnapshot> snapshot = store->Load();
  CheckOk(snapshot.status(), "load");
  double load_seconds = Seconds(load_start);
  std::printf(
      "load: restart over %zu tasks / %zu jobs: open %.3f s + Load() %.3f s "
      "(%.0f tasks/s); database file %.1f MiB\n",
      snapshot->tasks.size(), snapshot->jobs.size(), open_seconds, load_seconds,
      static_cast<double>(snapshot->tasks.size()) / load_seconds,
      static_cast<double>(db_bytes) / (1 << 20));

  // Retention: the older half of the jobs, with their tasks, deleted in one commit (what the
  // store writer does with the deletes of one backlog).
  WriteBatch retire;
  for (size_t j = 0; j < snapshot->jobs.size() / 2; ++j)
    retire.deleted_jobs.push_back(snapshot->jobs[j].id);
  const size_t retired_tasks = retire.deleted_jobs.size() * static_cast<size_t>(kTasksPerJob);
  absl::Time retire_start = RealClock::Get().Now();
  CheckOk(store->Commit(retire), "delete");
  const double retire_seconds = Seconds(retire_start);
  absl::Time reload_start = RealClock::Get().Now();
  absl::StatusOr<StoreSnapshot> after = store->Load();
  CheckOk(after.status(), "load after delete");
  std::printf(
      "retention: deleted %zu jobs (%zu tasks) in one commit in %.3f s (%.0f tasks/s); "
      "Load() then %.3f s over %zu tasks\n",
      retire.deleted_jobs.size(), retired_tasks, retire_seconds,
      static_cast<double>(retired_tasks) / retire_seconds, Seconds(reload_start),
      after->tasks.size());
}

}  // namespace
}  // namespace genfarm::scheduler

int main(int argc, char** argv) {
  using namespace genfarm::scheduler;  // NOLINT(build/namespaces): main only
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    bool ok = true;
    if (absl::StartsWith(arg, "--dir=")) {
      flags.dir = arg.substr(6);
    } else if (absl::StartsWith(arg, "--load_tasks=")) {
      ok = absl::SimpleAtoi(arg.substr(13), &flags.load_tasks);
    } else if (absl::StartsWith(arg, "--updates=")) {
      ok = absl::SimpleAtoi(arg.substr(10), &flags.updates);
    } else if (absl::StartsWith(arg, "--postgres=")) {
      flags.postgres = arg.substr(11);
    } else {
      ok = false;
    }
    if (!ok || flags.updates < 10 || flags.load_tasks < 1) {
      std::fprintf(stderr,
                   "usage: %s [--dir=PATH] [--load_tasks=N] [--updates=N>=10] "
                   "[--postgres=auto|none|URL]\n",
                   argv[0]);
      return 2;
    }
  }
  bool temporary = flags.dir.empty();
  if (temporary) {
    const char* tmp = getenv("TMPDIR");
    std::string pattern =
        absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/genfarm-store-bench-XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    flags.dir = pattern;
  }
  std::printf("genfarm-store-bench: dir %s\n", flags.dir.c_str());
  const Throughput normal = RunSqliteThroughput(flags.dir, SqliteJobStore::Synchronous::kNormal,
                                                "NORMAL", flags.updates, flags.updates / 10);
  const int64_t few = std::max<int64_t>(flags.updates / 100, 100);
  const Throughput full = RunSqliteThroughput(flags.dir, SqliteJobStore::Synchronous::kFull, "FULL",
                                              flags.updates, few);
  RunLoad(flags.dir, flags.load_tasks);

  std::unique_ptr<testing::TestPostgres> server;
  std::string url = flags.postgres;
  if (flags.postgres == "auto") {
    url.clear();
    if (!testing::TestPostgres::Available()) {
      std::printf("postgres: skipped: %s\n", testing::TestPostgres::MissingReason().c_str());
    } else {
      testing::TestPostgres::Options options;
      options.durable = true;  // server defaults: fsync, synchronous_commit on
      absl::StatusOr<std::unique_ptr<testing::TestPostgres>> started =
          testing::TestPostgres::Start(options);
      CheckOk(started.status(), "start a PostgreSQL server");
      server = std::move(*started);
      absl::StatusOr<std::string> created = server->CreateDatabase("bench");
      CheckOk(created.status(), "createdb bench");
      url = *created;
      std::printf("postgres: throwaway server %s (fsync on, synchronous_commit on), data %s\n",
                  url.c_str(), server->dir().c_str());
    }
  } else if (flags.postgres == "none") {
    url.clear();
  }
  if (!url.empty()) {
    Throughput pg;
    {
      std::unique_ptr<PostgresJobStore> store = OpenPostgresOrDie(url);
      // As many one-transaction updates as SQLite FULL got: each is a WAL flush here too.
      pg = RunThroughput(*store, "postgres (synchronous_commit=on)", flags.updates, few);
    }
    PrintSideBySide(normal, full, pg);
    RunPostgresLoad(url, flags.load_tasks);
  }
  server.reset();
  if (temporary) {
    std::error_code ec;
    std::filesystem::remove_all(flags.dir, ec);
  }
  return 0;
}
