// The JobStore conformance suite: what every durable store must do, run against each of them
// (SQLite in a temp dir; PostgreSQL on a real server the test starts, both through the row
// statements and through the COPY path for big batches). A store that passes here can back
// the scheduler. Store-specific behaviour (SQLite's WAL and file checks, PostgreSQL's URL
// handling) is tested in that store's own test.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/store/job_store.h"
#include "scheduler/store/postgres_job_store.h"
#include "scheduler/store/sqlite_connection.h"
#include "scheduler/store/sqlite_job_store.h"
#include "tests/scheduler/store/postgres_fixture.h"
#include "tests/scheduler/store/store_test_util.h"

namespace genfarm::scheduler {
namespace {

using ::genfarm::scheduler::testing::ExpectJobEq;
using ::genfarm::scheduler::testing::ExpectLogEq;
using ::genfarm::scheduler::testing::ExpectTaskEq;
using ::genfarm::scheduler::testing::LogTexts;
using ::genfarm::scheduler::testing::MakeJob;
using ::genfarm::scheduler::testing::MakeLog;
using ::genfarm::scheduler::testing::MakeTask;
using ::genfarm::scheduler::testing::ScopedTempDir;
using ::genfarm::scheduler::testing::TestPostgres;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// One store under test: opens (and reopens, for recovery) the same database, and runs raw SQL
// on it behind the store's back to damage rows.
class StoreEnv {
 public:
  virtual ~StoreEnv() = default;
  virtual absl::StatusOr<std::unique_ptr<JobStore>> Open() = 0;
  virtual absl::Status ExecSql(const std::string& sql) = 0;
  // A literal of the store's blob type holding the bytes ff ff ff ff.
  virtual std::string BadBlobLiteral() const = 0;
};

class SqliteEnv : public StoreEnv {
 public:
  absl::StatusOr<std::unique_ptr<JobStore>> Open() override {
    absl::StatusOr<std::unique_ptr<SqliteJobStore>> store = SqliteJobStore::Open(dir_.path());
    if (!store.ok()) return store.status();
    return std::unique_ptr<JobStore>(std::move(*store));
  }
  absl::Status ExecSql(const std::string& sql) override {
    absl::StatusOr<std::unique_ptr<SqliteConnection>> conn =
        SqliteConnection::Open(dir_.path() + "/genfarm.db");
    if (!conn.ok()) return conn.status();
    return (*conn)->Exec(sql, "test sql");
  }
  std::string BadBlobLiteral() const override { return "x'ffffffff'"; }

 private:
  ScopedTempDir dir_;
};

// One server per test process (ctest runs each case in its own process), one fresh database
// per test.
TestPostgres* SharedServer(std::string* error) {
  static absl::StatusOr<std::unique_ptr<TestPostgres>>* server =
      new absl::StatusOr<std::unique_ptr<TestPostgres>>(TestPostgres::Start());
  static struct Stopper {
    ~Stopper() { delete server; }  // pg_ctl stop at exit
  } stopper;
  if (!server->ok()) {
    *error = server->status().ToString();
    return nullptr;
  }
  return server->value().get();
}

class PostgresEnv : public StoreEnv {
 public:
  PostgresEnv(TestPostgres& server, std::string db, size_t copy_threshold)
      : server_(server), db_(std::move(db)), copy_threshold_(copy_threshold) {}
  absl::Status Init() {
    absl::StatusOr<std::string> url = server_.CreateDatabase(db_);
    if (!url.ok()) return url.status();
    url_ = *url;
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<JobStore>> Open() override {
    absl::StatusOr<std::unique_ptr<PostgresJobStore>> store = PostgresJobStore::Open(url_);
    if (!store.ok()) return store.status();
    (*store)->set_copy_threshold(copy_threshold_);
    return std::unique_ptr<JobStore>(std::move(*store));
  }
  absl::Status ExecSql(const std::string& sql) override { return server_.Psql(db_, sql); }
  std::string BadBlobLiteral() const override { return "'\\xffffffff'::bytea"; }

 private:
  TestPostgres& server_;
  std::string db_;
  std::string url_;
  size_t copy_threshold_;
};

enum class Backend { kSqlite, kPostgres, kPostgresCopy };

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  switch (info.param) {
    case Backend::kSqlite:
      return "Sqlite";
    case Backend::kPostgres:
      return "Postgres";
    case Backend::kPostgresCopy:
      return "PostgresCopy";
  }
  return "Unknown";
}

class JobStoreConformanceTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      env_ = std::make_unique<SqliteEnv>();
      return;
    }
    if (!TestPostgres::Available()) GTEST_SKIP() << TestPostgres::MissingReason();
    std::string error;
    TestPostgres* server = SharedServer(&error);
    ASSERT_NE(server, nullptr) << "could not start a test PostgreSQL server: " << error;
    static int databases = 0;
    // Threshold 1: every task and log batch goes through COPY; 1 << 30: never.
    auto env = std::make_unique<PostgresEnv>(
        *server, absl::StrCat("conformance_", ++databases),
        GetParam() == Backend::kPostgresCopy ? size_t{1} : size_t{1} << 30);
    ASSERT_TRUE(env->Init().ok());
    env_ = std::move(env);
  }

  std::unique_ptr<JobStore> OpenStore() {
    absl::StatusOr<std::unique_ptr<JobStore>> store = env_->Open();
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  static StoreSnapshot LoadOrDie(JobStore& store) {
    absl::StatusOr<StoreSnapshot> snapshot = store.Load();
    EXPECT_TRUE(snapshot.ok()) << snapshot.status();
    return snapshot.ok() ? std::move(*snapshot) : StoreSnapshot{};
  }

  std::unique_ptr<StoreEnv> env_;
};

INSTANTIATE_TEST_SUITE_P(Stores, JobStoreConformanceTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres,
                                           Backend::kPostgresCopy),
                         BackendName);

TEST_P(JobStoreConformanceTest, AnEmptyStoreLoadsEmpty) {
  std::unique_ptr<JobStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  StoreSnapshot snapshot = LoadOrDie(*store);
  EXPECT_THAT(snapshot.jobs, IsEmpty());
  EXPECT_THAT(snapshot.tasks, IsEmpty());
  EXPECT_THAT(snapshot.workers, IsEmpty());
  EXPECT_THAT(snapshot.models, IsEmpty());
  EXPECT_THAT(snapshot.damaged, IsEmpty());
  EXPECT_EQ(snapshot.attempt_high_water, 0);
  EXPECT_EQ(snapshot.job_high_water, 0);
  EXPECT_TRUE(store->Commit(WriteBatch{}).ok());  // an empty batch is no error
}

TEST_P(JobStoreConformanceTest, EveryFieldSurvivesCloseAndReopen) {
  WriteBatch batch;
  batch.jobs = {MakeJob(1, "ci-dailies-42"), MakeJob(2)};
  batch.tasks = {MakeTask(1, 0), MakeTask(1, 1), MakeTask(2, 0)};
  // Frame lists that do not compress to one range must survive too.
  batch.tasks[1].frames = {1001, 1003, 1005, 1010, 1011, 999};
  batch.tasks[2].frames = {};
  // Characters COPY's text format escapes: tab, newline, backslash, and a \N look-alike.
  batch.tasks[2].message = "line one\nline\ttwo \\ back\\slash \\N not null";
  batch.tasks[2].worker = "";
  batch.logs = {MakeLog(1, 0, 5000, 1'800'000'000'123, "loading model"),
                MakeLog(1, 1, 5001, 1'800'000'000'456, "frame 1003 done\tok\r\n\\N")};
  batch.attempt_high_water = 5001;
  {
    std::unique_ptr<JobStore> store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Commit(batch).ok());
  }  // closed: what follows is recovery

  std::unique_ptr<JobStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  StoreSnapshot snapshot = LoadOrDie(*store);
  ASSERT_THAT(snapshot.jobs, SizeIs(2));
  ExpectJobEq(snapshot.jobs[0], batch.jobs[0]);
  ExpectJobEq(snapshot.jobs[1], batch.jobs[1]);
  ASSERT_THAT(snapshot.tasks, SizeIs(3));
  for (size_t i = 0; i < 3; ++i) ExpectTaskEq(snapshot.tasks[i], batch.tasks[i]);
  EXPECT_EQ(snapshot.attempt_high_water, 5001);
  EXPECT_THAT(snapshot.damaged, IsEmpty());

  absl::StatusOr<std::vector<LogRecord>> logs = store->ReadLogs(TaskId{JobId(1), -1}, 0);
  ASSERT_TRUE(logs.ok()) << logs.status();
  ASSERT_THAT(*logs, SizeIs(2));
  ExpectLogEq((*logs)[0], batch.logs[0]);
  ExpectLogEq((*logs)[1], batch.logs[1]);
}

TEST_P(JobStoreConformanceTest, LoadOrdersJobsAndTasksByKey) {
  std::unique_ptr<JobStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  batch.jobs = {MakeJob(3), MakeJob(1), MakeJob(2)};
  batch.tasks = {MakeTask(2, 10), MakeTask(1, 2), MakeTask(2, 9), MakeTask(1, 0)};
  ASSERT_TRUE(store->Commit(batch).ok());
  StoreSnapshot snapshot = LoadOrDie(*store);
  std::vector<int64_t> job_ids;
  for (const JobRecord& job : snapshot.jobs) job_ids.push_back(job.id.value());
  EXPECT_THAT(job_ids, ElementsAre(1, 2, 3));
  std::vector<std::string> task_ids;
  for (const TaskRecord& task : snapshot.tasks) task_ids.push_back(task.id.ToString());
  EXPECT_THAT(task_ids, ElementsAre("1/0", "1/2", "2/9", "2/10"));
}

TEST_P(JobStoreConformanceTest, UpsertOverwritesEveryField) {
  std::unique_ptr<JobStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  WriteBatch first;
  first.jobs = {MakeJob(1, "key-a")};
  first.tasks = {MakeTask(1, 0)};
  ASSERT_TRUE(store->Commit(first).ok());

  WriteBatch second;
  JobRecord job = MakeJob(1, "key-b");
  job.spec.set_priority(5);
  job.spec.mutable_stages(0)->set_frames("1-10");
  job.state = v1::JOB_STATE_SUCCEEDED;
  job.end_ms = 42;
  job.message = "";
  TaskRecord task = MakeTask(1, 0);
  task.stage = 0;
  task.frames = {7, 8};
  task.state = v1::TASK_STATE_SUCCEEDED;
  task.attempts = 3;
  task.attempt = AttemptId(9);
  task.worker = "cpu-node-1";
  task.start_ms = 1;
  task.end_ms = 2;
  task.not_before_ms = 0;
  task.failure_reason = v1::FAILURE_REASON_UNSPECIFIED;
  task.message = "";
  task.frames_done = 2;
  second.jobs = {job};
  second.tasks = {task};
  ASSERT_TRUE(store->Commit(second).ok());

  StoreSnapshot snapshot = LoadOrDie(*store);
  ASSERT_THAT(snapshot.jobs, SizeIs(1));
  ExpectJobEq(snapshot.jobs[0], job);
  ASSERT_THAT(snapshot.tasks, SizeIs(1));
  ExpectTaskEq(snapshot.tasks[0], task);

  // The old key is free again, so another job may take it.
  WriteBatch third;
  third.jobs = {MakeJob(2, "key-a")};
  EXPECT_TRUE(store->Commit(third).ok());
}

TEST_P(JobStoreConformanceTest, TheLastRecordOfATaskInOneBatchWins) {
  std::unique_ptr<JobStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  TaskRecord queued = MakeTask(1, 0);
  queued.state = v1::TASK_STATE_QUEUED;
  TaskRecord running = MakeTask(1, 0);
  running.state = v1::TASK_STATE_RUNNING;
  running.attempts = 7;
  batch.tasks = {queued, MakeTask(1, 1), running};
  ASSERT_TRUE(store->Commit(batch).ok());
  StoreSnapshot snapshot = LoadOrDie(*store);
  ASSERT_THAT(snapshot.tasks, SizeIs(2));
  ExpectTaskEq(snapshot.tasks[0], running);
}

TEST_P(JobStoreConformanceTest, IdempotencyKeyIsUniqueAndAFailedBatchChangesNothing) {
  std::unique_ptr<JobStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  WriteBatch first;
  first.jobs = {MakeJob(1, "ci-run-7"), MakeJob(2), MakeJob(3)};  // empty keys never clash
  ASSERT_TRUE(store->Commit(first).ok());

  WriteBatch clash;
  clash.tasks = {MakeTask(1, 0), MakeTask(1, 1)};
  clash.jobs = {MakeJob(4, "ci-run-7")};
  clash.logs = {MakeLog(1, 0, 1, 1, "must not appear")};
  clash.workers = {WorkerRecord{WorkerId("gpu-01"), true, 5}};
  clash.models = {testing::MakeModel("rife", "4.6", 100)};
  clash.deleted_jobs = {JobId(2)};
  clash.attempt_high_water = 77;
  clash.job_high_water = 4;
  absl::Status status = store->Commit(clash);
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists) << status;
  EXPECT_THAT(status.message(), HasSubstr("ci-run-7"));
  EXPECT_THAT(status.message(), HasSubstr("upsert job"));

  StoreSnapshot snapshot = LoadOrDie(*store);
  EXPECT_THAT(snapshot.jobs, SizeIs(3));
  EXPECT_THAT(snapshot.tasks, IsEmpty());
  EXPECT_THAT(snapshot.workers, IsEmpty());
  EXPECT_THAT(snapshot.models, IsEmpty());
  EXPECT_EQ(snapshot.attempt_high_water, 0);
  EXPECT_EQ(snapshot.job_high_water, 0);
  absl::StatusOr<std::vector<LogRecord>> logs = store->ReadLogs(TaskId{JobId(1), -1}, 0);
  ASSERT_TRUE(logs.ok());
  EXPECT_THAT(*logs, IsEmpty());

  // The store is still usable after the rollback, and re-putting the owner is fine.
  WriteBatch again;
  again.jobs = {MakeJob(1, "ci-run-7")};
  again.tasks = {MakeTask(1, 0)};
  EXPECT_TRUE(store->Commit(again).ok());
  EXPECT_THAT(LoadOrDie(*store).tasks, SizeIs(1));
}

TEST_P(JobStoreConformanceTest, AttemptHighWaterPersistsAndNeverGoesBack) {
  {
    std::unique_ptr<JobStore> store = OpenStore();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(LoadOrDie(*store).attempt_high_water, 0);
    WriteBatch batch;
    batch.attempt_high_water = 1000;
    ASSERT_TRUE(store->Commit(batch).ok());
    batch.attempt_high_water = 900;  // stale: ignored
    ASSERT_TRUE(store->Commit(batch).ok());
    WriteBatch unchanged;  // 0 = unchanged
    unchanged.jobs = {MakeJob(1)};
    ASSERT_TRUE(store->Commit(unchanged).ok());
  }
  std::unique_ptr<JobStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(LoadOrDie(*store).attempt_high_water, 1000);
}

TEST_P(JobStoreConformanceTest, JobHighWaterPersistsApartFromTheAttemptOneAndNeverGoesBack) {
  {
    std::unique_ptr<JobStore> store = OpenStore();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(LoadOrDie(*store).job_high_water, 0);
    WriteBatch batch;
    batch.jobs = {MakeJob(7)};
    batch.job_high_water = 7;
    ASSERT_TRUE(store->Commit(batch).ok());
    WriteBatch stale;
    stale.job_high_water = 3;  // never lowers it
    stale.attempt_high_water = 40;
    ASSERT_TRUE(store->Commit(stale).ok());
  }
  std::unique_ptr<JobStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  StoreSnapshot snapshot = LoadOrDie(*store);
  EXPECT_EQ(snapshot.job_high_water, 7);
  EXPECT_EQ(snapshot.attempt_high_water, 40);
}

TEST_P(JobStoreConformanceTest, DrainedWorkersPersistAndAnUndrainRemovesTheRow) {
  {
    std::unique_ptr<JobStore> store = OpenStore();
    ASSERT_NE(store, nullptr);
    WriteBatch batch;
    batch.workers = {WorkerRecord{WorkerId("gpu-07"), true, 1000},
                     WorkerRecord{WorkerId("gpu-02"), true, 2000}};
    ASSERT_TRUE(store->Commit(batch).ok());
    WriteBatch undrain;
    undrain.workers = {WorkerRecord{WorkerId("gpu-02"), false, 3000},
                       WorkerRecord{WorkerId("never-drained"), false, 3000}};
    ASSERT_TRUE(store->Commit(undrain).ok());
  }
  std::unique_ptr<JobStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  StoreSnapshot snapshot = LoadOrDie(*store);
  ASSERT_THAT(snapshot.workers, SizeIs(1));
  EXPECT_EQ(snapshot.workers[0].id, WorkerId("gpu-07"));
  EXPECT_TRUE(snapshot.workers[0].draining);
  EXPECT_EQ(snapshot.workers[0].updated_ms, 1000);
}

TEST_P(JobStoreConformanceTest, DeletingAJobRemovesItsTasksAndLogsAndNothingElse) {
  {
    std::unique_ptr<JobStore> store = OpenStore();
    ASSERT_NE(store, nullptr);
    WriteBatch batch;
    batch.jobs = {MakeJob(1), MakeJob(2), MakeJob(3)};
    batch.tasks = {MakeTask(1, 0), MakeTask(1, 1), MakeTask(2, 0), MakeTask(3, 0)};
    batch.logs = {MakeLog(1, 0, 1, 1, "one"), MakeLog(2, 0, 2, 2, "two"),
                  MakeLog(3, 0, 3, 3, "three")};
    batch.job_high_water = 3;
    ASSERT_TRUE(store->Commit(batch).ok());
    WriteBatch del;
    del.tasks = {MakeTask(1, 2)};  // a late update in the same batch does not bring it back
    del.deleted_jobs = {JobId(1), JobId(77), JobId(3)};  // an unknown job is no error
    ASSERT_TRUE(store->Commit(del).ok());
  }
  std::unique_ptr<JobStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  StoreSnapshot snapshot = LoadOrDie(*store);
  ASSERT_THAT(snapshot.jobs, SizeIs(1));
  ExpectJobEq(snapshot.jobs[0], MakeJob(2));
  ASSERT_THAT(snapshot.tasks, SizeIs(1));
  ExpectTaskEq(snapshot.tasks[0], MakeTask(2, 0));
  EXPECT_THAT(LogTexts(*store->ReadLogs(TaskId{JobId(1), -1}, 0)), IsEmpty());
  EXPECT_THAT(LogTexts(*store->ReadLogs(TaskId{JobId(3), -1}, 0)), IsEmpty());
  EXPECT_THAT(LogTexts(*store->ReadLogs(TaskId{JobId(2), -1}, 0)), ElementsAre("two"));
  EXPECT_EQ(snapshot.job_high_water, 3);  // deleted ids stay used
}

TEST_P(JobStoreConformanceTest, TheModelCatalogIsUpsertedByNameAndSurvivesReopen) {
  {
    std::unique_ptr<JobStore> store = OpenStore();
    ASSERT_NE(store, nullptr);
    testing::CommitModelCatalog(*store);
    testing::ExpectModelCatalog(LoadOrDie(*store));
  }
  std::unique_ptr<JobStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  testing::ExpectModelCatalog(LoadOrDie(*store));
}

TEST_P(JobStoreConformanceTest, ReadLogsForOneTaskAndForAWholeJob) {
  std::unique_ptr<JobStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  batch.logs = {MakeLog(1, 0, 1, 10, "t0 a"), MakeLog(1, 1, 2, 11, "t1 a"),
                MakeLog(2, 0, 3, 12, "other job"), MakeLog(1, 0, 1, 13, "t0 b")};
  ASSERT_TRUE(store->Commit(batch).ok());
  WriteBatch later;
  later.logs = {MakeLog(1, 0, 4, 14, "t0 c"), MakeLog(1, 1, 2, 15, "t1 b")};
  ASSERT_TRUE(store->Commit(later).ok());

  absl::StatusOr<std::vector<LogRecord>> task0 = store->ReadLogs(TaskId{JobId(1), 0}, 0);
  ASSERT_TRUE(task0.ok()) << task0.status();
  EXPECT_THAT(LogTexts(*task0), ElementsAre("t0 a", "t0 b", "t0 c"));
  EXPECT_EQ((*task0)[2].attempt, AttemptId(4));

  absl::StatusOr<std::vector<LogRecord>> job = store->ReadLogs(TaskId{JobId(1), -1}, 0);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_THAT(LogTexts(*job), ElementsAre("t0 a", "t1 a", "t0 b", "t0 c", "t1 b"));

  // A limit keeps the newest lines, still oldest first: the tail a user wants to see.
  absl::StatusOr<std::vector<LogRecord>> tail = store->ReadLogs(TaskId{JobId(1), 0}, 2);
  ASSERT_TRUE(tail.ok());
  EXPECT_THAT(LogTexts(*tail), ElementsAre("t0 b", "t0 c"));
  absl::StatusOr<std::vector<LogRecord>> job_tail = store->ReadLogs(TaskId{JobId(1), -1}, 3);
  ASSERT_TRUE(job_tail.ok());
  EXPECT_THAT(LogTexts(*job_tail), ElementsAre("t0 b", "t0 c", "t1 b"));

  absl::StatusOr<std::vector<LogRecord>> none = store->ReadLogs(TaskId{JobId(9), 0}, 0);
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(*none, IsEmpty());
}

TEST_P(JobStoreConformanceTest, ASecondConnectionReadsWhatTheFirstCommitted) {
  // The scheduler reads task logs on a connection of its own.
  std::unique_ptr<JobStore> writer = OpenStore();
  std::unique_ptr<JobStore> reader = OpenStore();
  ASSERT_NE(writer, nullptr);
  ASSERT_NE(reader, nullptr);
  WriteBatch batch;
  batch.logs = {MakeLog(1, 0, 1, 10, "hello")};
  ASSERT_TRUE(writer->Commit(batch).ok());
  absl::StatusOr<std::vector<LogRecord>> logs = reader->ReadLogs(TaskId{JobId(1), 0}, 0);
  ASSERT_TRUE(logs.ok()) << logs.status();
  EXPECT_THAT(LogTexts(*logs), ElementsAre("hello"));
}

TEST_P(JobStoreConformanceTest, ABigBatchRoundTrips) {
  std::unique_ptr<JobStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  for (int64_t job = 1; job <= 4; ++job) batch.jobs.push_back(MakeJob(job));
  for (int64_t job = 1; job <= 4; ++job) {
    for (int32_t i = 0; i < 1000; ++i) batch.tasks.push_back(MakeTask(job, i));
  }
  for (int i = 0; i < 2000; ++i) batch.logs.push_back(MakeLog(2, i % 5, i, i, absl::StrCat(i)));
  ASSERT_TRUE(store->Commit(batch).ok());
  // Then update half of them, some twice in the batch.
  WriteBatch update;
  for (int32_t i = 0; i < 1000; i += 2) {
    TaskRecord task = MakeTask(3, i);
    task.state = v1::TASK_STATE_SUCCEEDED;
    update.tasks.push_back(task);
    task.frames_done = 8;
    update.tasks.push_back(task);
  }
  ASSERT_TRUE(store->Commit(update).ok());
  StoreSnapshot snapshot = LoadOrDie(*store);
  ASSERT_THAT(snapshot.tasks, SizeIs(4000));
  ExpectTaskEq(snapshot.tasks[0], MakeTask(1, 0));
  ExpectTaskEq(snapshot.tasks[2001], MakeTask(3, 1));
  EXPECT_EQ(snapshot.tasks[2000].state, v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(snapshot.tasks[2000].frames_done, 8);
  ExpectTaskEq(snapshot.tasks[3999], MakeTask(4, 999));
  absl::StatusOr<std::vector<LogRecord>> logs = store->ReadLogs(TaskId{JobId(2), -1}, 3);
  ASSERT_TRUE(logs.ok());
  EXPECT_THAT(LogTexts(*logs), ElementsAre("1997", "1998", "1999"));
}

TEST_P(JobStoreConformanceTest, DamagedRowsAreReportedPerJobAndTheRestLoads) {
  std::unique_ptr<JobStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  for (int64_t job = 1; job <= 7; ++job) {
    batch.jobs.push_back(MakeJob(job));
    batch.tasks.push_back(MakeTask(job, 0));
    batch.tasks.push_back(MakeTask(job, 1));
  }
  ASSERT_TRUE(store->Commit(batch).ok());
  ASSERT_TRUE(env_->ExecSql(absl::StrCat(
                                "UPDATE jobs SET spec = ", env_->BadBlobLiteral(),
                                " WHERE id = 2;"
                                "UPDATE jobs SET state = 99 WHERE id = 3;"
                                "UPDATE tasks SET frames = '10-1' WHERE job_id = 4 AND idx = 1;"
                                "UPDATE tasks SET state = 42 WHERE job_id = 5 AND idx = 0;"
                                "UPDATE tasks SET failure_reason = -3 WHERE job_id = 6 AND idx = 1;"
                                "UPDATE tasks SET idx = 4294967296 WHERE job_id = 7 AND idx = 1;"))
                  .ok());
  absl::StatusOr<StoreSnapshot> snapshot = store->Load();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_THAT(snapshot->jobs, SizeIs(7));  // every job row comes back, damaged or not
  EXPECT_THAT(snapshot->damaged, SizeIs(6));
  EXPECT_EQ(snapshot->damaged.count(JobId(1)), 0u);
  EXPECT_THAT(snapshot->damaged[JobId(2)], HasSubstr("jobs row 2: spec is unreadable"));
  EXPECT_THAT(snapshot->damaged[JobId(3)], HasSubstr("jobs row 3: state 99 is not a job state"));
  EXPECT_THAT(snapshot->damaged[JobId(4)], HasSubstr("tasks row 4/1: frames \"10-1\""));
  EXPECT_THAT(snapshot->damaged[JobId(5)], HasSubstr("tasks row 5/0: state 42"));
  EXPECT_THAT(snapshot->damaged[JobId(6)], HasSubstr("tasks row 6/1: failure_reason -3"));
  EXPECT_THAT(snapshot->damaged[JobId(7)],
              HasSubstr("tasks row 7/4294967296: idx 4294967296 is out of range"));
  ExpectJobEq(snapshot->jobs[0], MakeJob(1));
  EXPECT_EQ(snapshot->jobs[1].spec.stages_size(), 0);  // the unreadable spec is left empty
  // Damaged task rows are left out; the readable ones are all there.
  ASSERT_THAT(snapshot->tasks, SizeIs(10));
  ExpectTaskEq(snapshot->tasks[0], MakeTask(1, 0));
  ExpectTaskEq(snapshot->tasks[6], MakeTask(4, 0));
  ExpectTaskEq(snapshot->tasks[7], MakeTask(5, 1));
  ExpectTaskEq(snapshot->tasks[9], MakeTask(7, 0));
  // The load left no transaction open.
  EXPECT_TRUE(store->Commit(batch).ok());
}

TEST_P(JobStoreConformanceTest, OpeningAgainKeepsEverything) {
  {
    std::unique_ptr<JobStore> store = OpenStore();
    ASSERT_NE(store, nullptr);
    WriteBatch batch;
    batch.jobs = {MakeJob(1)};
    ASSERT_TRUE(store->Commit(batch).ok());
  }
  for (int i = 0; i < 2; ++i) {  // schema creation is idempotent
    std::unique_ptr<JobStore> store = OpenStore();
    ASSERT_NE(store, nullptr);
    EXPECT_THAT(LoadOrDie(*store).jobs, SizeIs(1));
  }
}

}  // namespace
}  // namespace genfarm::scheduler
