#include "scheduler/store/sqlite_job_store.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/store/sqlite_connection.h"
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
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

std::unique_ptr<SqliteJobStore> OpenStore(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<SqliteJobStore>> store = SqliteJobStore::Open(dir);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

StoreSnapshot LoadOrDie(JobStore& store) {
  absl::StatusOr<StoreSnapshot> snapshot = store.Load();
  EXPECT_TRUE(snapshot.ok()) << snapshot.status();
  return snapshot.ok() ? std::move(*snapshot) : StoreSnapshot{};
}

class SqliteJobStoreTest : public ::testing::Test {
 protected:
  ScopedTempDir dir_;
};

TEST_F(SqliteJobStoreTest, EveryFieldSurvivesCloseAndReopen) {
  WriteBatch batch;
  batch.jobs = {MakeJob(1, "ci-dailies-42"), MakeJob(2)};
  batch.tasks = {MakeTask(1, 0), MakeTask(1, 1), MakeTask(2, 0)};
  // Frame lists that do not compress to one range must survive too.
  batch.tasks[1].frames = {1001, 1003, 1005, 1010, 1011, 999};
  batch.tasks[2].frames = {};
  batch.logs = {MakeLog(1, 0, 5000, 1'800'000'000'123, "loading model"),
                MakeLog(1, 1, 5001, 1'800'000'000'456, "frame 1003 done")};
  batch.attempt_high_water = 5001;
  {
    std::unique_ptr<SqliteJobStore> store = OpenStore(dir_.path());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Commit(batch).ok());
  }  // closed: what follows is recovery

  std::unique_ptr<SqliteJobStore> store = OpenStore(dir_.path());
  ASSERT_NE(store, nullptr);
  StoreSnapshot snapshot = LoadOrDie(*store);
  ASSERT_THAT(snapshot.jobs, SizeIs(2));
  ExpectJobEq(snapshot.jobs[0], batch.jobs[0]);
  ExpectJobEq(snapshot.jobs[1], batch.jobs[1]);
  ASSERT_THAT(snapshot.tasks, SizeIs(3));
  for (size_t i = 0; i < 3; ++i) ExpectTaskEq(snapshot.tasks[i], batch.tasks[i]);
  EXPECT_EQ(snapshot.attempt_high_water, 5001);

  absl::StatusOr<std::vector<LogRecord>> logs = store->ReadLogs(TaskId{JobId(1), -1}, 0);
  ASSERT_TRUE(logs.ok()) << logs.status();
  ASSERT_THAT(*logs, SizeIs(2));
  ExpectLogEq((*logs)[0], batch.logs[0]);
  ExpectLogEq((*logs)[1], batch.logs[1]);
}

TEST_F(SqliteJobStoreTest, LoadOrdersJobsAndTasksByKey) {
  std::unique_ptr<SqliteJobStore> store = OpenStore(dir_.path());
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

TEST_F(SqliteJobStoreTest, UpsertOverwritesEveryField) {
  std::unique_ptr<SqliteJobStore> store = OpenStore(dir_.path());
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

TEST_F(SqliteJobStoreTest, IdempotencyKeyIsUniqueAndAFailedBatchChangesNothing) {
  std::unique_ptr<SqliteJobStore> store = OpenStore(dir_.path());
  ASSERT_NE(store, nullptr);
  WriteBatch first;
  first.jobs = {MakeJob(1, "ci-run-7"), MakeJob(2), MakeJob(3)};  // empty keys never clash
  ASSERT_TRUE(store->Commit(first).ok());

  WriteBatch clash;
  clash.tasks = {MakeTask(1, 0)};
  clash.jobs = {MakeJob(4, "ci-run-7")};
  clash.logs = {MakeLog(1, 0, 1, 1, "must not appear")};
  clash.attempt_high_water = 77;
  absl::Status status = store->Commit(clash);
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists) << status;
  EXPECT_THAT(status.message(), HasSubstr("ci-run-7"));
  EXPECT_THAT(status.message(), HasSubstr("upsert job"));

  StoreSnapshot snapshot = LoadOrDie(*store);
  EXPECT_THAT(snapshot.jobs, SizeIs(3));
  EXPECT_THAT(snapshot.tasks, IsEmpty());
  EXPECT_EQ(snapshot.attempt_high_water, 0);
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

TEST_F(SqliteJobStoreTest, UsesWriteAheadLog) {
  std::unique_ptr<SqliteJobStore> store = OpenStore(dir_.path());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::string> mode = store->JournalMode();
  ASSERT_TRUE(mode.ok()) << mode.status();
  EXPECT_EQ(*mode, "wal");
  WriteBatch batch;
  batch.jobs = {MakeJob(1)};
  ASSERT_TRUE(store->Commit(batch).ok());
  EXPECT_EQ(store->path(), (std::filesystem::path(dir_.path()) / "genfarm.db").string());
  EXPECT_TRUE(std::filesystem::exists(store->path() + "-wal"));
}

TEST_F(SqliteJobStoreTest, FullSynchronousOptionWorks) {
  SqliteJobStore::Options options;
  options.synchronous = SqliteJobStore::Synchronous::kFull;
  absl::StatusOr<std::unique_ptr<SqliteJobStore>> store =
      SqliteJobStore::Open(dir_.path(), options);
  ASSERT_TRUE(store.ok()) << store.status();
  WriteBatch batch;
  batch.tasks = {MakeTask(1, 0)};
  ASSERT_TRUE((*store)->Commit(batch).ok());
  EXPECT_THAT(LoadOrDie(**store).tasks, SizeIs(1));
}

TEST_F(SqliteJobStoreTest, AttemptHighWaterPersistsAndNeverGoesBack) {
  {
    std::unique_ptr<SqliteJobStore> store = OpenStore(dir_.path());
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
  std::unique_ptr<SqliteJobStore> store = OpenStore(dir_.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(LoadOrDie(*store).attempt_high_water, 1000);
}

TEST_F(SqliteJobStoreTest, JobHighWaterPersistsApartFromTheAttemptOneAndNeverGoesBack) {
  {
    std::unique_ptr<SqliteJobStore> store = OpenStore(dir_.path());
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
  std::unique_ptr<SqliteJobStore> store = OpenStore(dir_.path());
  ASSERT_NE(store, nullptr);
  StoreSnapshot snapshot = LoadOrDie(*store);
  EXPECT_EQ(snapshot.job_high_water, 7);
  EXPECT_EQ(snapshot.attempt_high_water, 40);
}

TEST_F(SqliteJobStoreTest, DrainedWorkersPersistAndAnUndrainRemovesTheRow) {
  {
    std::unique_ptr<SqliteJobStore> store = OpenStore(dir_.path());
    ASSERT_NE(store, nullptr);
    WriteBatch batch;
    batch.workers = {WorkerRecord{WorkerId("gpu-07"), true, 1000},
                     WorkerRecord{WorkerId("gpu-02"), true, 2000}};
    ASSERT_TRUE(store->Commit(batch).ok());
    WriteBatch undrain;
    undrain.workers = {WorkerRecord{WorkerId("gpu-02"), false, 3000}};
    ASSERT_TRUE(store->Commit(undrain).ok());
  }
  std::unique_ptr<SqliteJobStore> store = OpenStore(dir_.path());
  ASSERT_NE(store, nullptr);
  StoreSnapshot snapshot = LoadOrDie(*store);
  ASSERT_THAT(snapshot.workers, SizeIs(1));
  EXPECT_EQ(snapshot.workers[0].id, WorkerId("gpu-07"));
  EXPECT_TRUE(snapshot.workers[0].draining);
  EXPECT_EQ(snapshot.workers[0].updated_ms, 1000);
}

TEST_F(SqliteJobStoreTest, DeletingAJobRemovesItsTasksAndLogsAndNothingElse) {
  {
    std::unique_ptr<SqliteJobStore> store = OpenStore(dir_.path());
    ASSERT_NE(store, nullptr);
    WriteBatch batch;
    batch.jobs = {MakeJob(1), MakeJob(2)};
    batch.tasks = {MakeTask(1, 0), MakeTask(1, 1), MakeTask(2, 0)};
    batch.logs = {MakeLog(1, 0, 1, 1, "one"), MakeLog(2, 0, 2, 2, "two")};
    batch.job_high_water = 2;
    ASSERT_TRUE(store->Commit(batch).ok());
    WriteBatch del;
    del.tasks = {MakeTask(1, 2)};  // a late update in the same batch does not bring it back
    del.deleted_jobs = {JobId(1), JobId(77)};  // an unknown job is no error
    ASSERT_TRUE(store->Commit(del).ok());
  }
  std::unique_ptr<SqliteJobStore> store = OpenStore(dir_.path());
  ASSERT_NE(store, nullptr);
  StoreSnapshot snapshot = LoadOrDie(*store);
  ASSERT_THAT(snapshot.jobs, SizeIs(1));
  ExpectJobEq(snapshot.jobs[0], MakeJob(2));
  ASSERT_THAT(snapshot.tasks, SizeIs(1));
  ExpectTaskEq(snapshot.tasks[0], MakeTask(2, 0));
  EXPECT_THAT(LogTexts(*store->ReadLogs(TaskId{JobId(1), -1}, 0)), IsEmpty());
  EXPECT_THAT(LogTexts(*store->ReadLogs(TaskId{JobId(2), -1}, 0)), ElementsAre("two"));
  EXPECT_EQ(snapshot.job_high_water, 2);
}

TEST_F(SqliteJobStoreTest, TheModelCatalogIsUpsertedByNameAndSurvivesReopen) {
  {
    std::unique_ptr<SqliteJobStore> store = OpenStore(dir_.path());
    ASSERT_NE(store, nullptr);
    testing::CommitModelCatalog(*store);
    testing::ExpectModelCatalog(LoadOrDie(*store));
  }
  std::unique_ptr<SqliteJobStore> store = OpenStore(dir_.path());
  ASSERT_NE(store, nullptr);
  testing::ExpectModelCatalog(LoadOrDie(*store));
}

TEST_F(SqliteJobStoreTest, ReadLogsForOneTaskAndForAWholeJob) {
  std::unique_ptr<SqliteJobStore> store = OpenStore(dir_.path());
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

TEST_F(SqliteJobStoreTest, ReopeningKeepsTheSchemaVersion) {
  { ASSERT_NE(OpenStore(dir_.path()), nullptr); }
  ASSERT_NE(OpenStore(dir_.path()), nullptr);  // migrations do not run twice
  absl::StatusOr<std::unique_ptr<SqliteConnection>> conn =
      SqliteConnection::Open(dir_.path() + "/genfarm.db");
  ASSERT_TRUE(conn.ok());
  absl::StatusOr<int64_t> version =
      (*conn)->QueryInt64("SELECT version FROM schema_version", "read version");
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, SqliteJobStore::CurrentSchemaVersion());
  absl::StatusOr<int64_t> rows =
      (*conn)->QueryInt64("SELECT count(*) FROM schema_version", "count versions");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(*rows, 1);
}

TEST_F(SqliteJobStoreTest, RefusesADatabaseFromANewerVersion) {
  { ASSERT_NE(OpenStore(dir_.path()), nullptr); }
  {
    absl::StatusOr<std::unique_ptr<SqliteConnection>> conn =
        SqliteConnection::Open(dir_.path() + "/genfarm.db");
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE((*conn)->Exec("UPDATE schema_version SET version = 99", "bump").ok());
  }
  absl::StatusOr<std::unique_ptr<SqliteJobStore>> store = SqliteJobStore::Open(dir_.path());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("schema version 99"));
}

TEST_F(SqliteJobStoreTest, DamagedRowsAreReportedPerJobAndTheRestLoads) {
  std::unique_ptr<SqliteJobStore> store = OpenStore(dir_.path());
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  for (int64_t job = 1; job <= 6; ++job) {
    batch.jobs.push_back(MakeJob(job));
    batch.tasks.push_back(MakeTask(job, 0));
    batch.tasks.push_back(MakeTask(job, 1));
  }
  ASSERT_TRUE(store->Commit(batch).ok());
  {
    absl::StatusOr<std::unique_ptr<SqliteConnection>> conn = SqliteConnection::Open(store->path());
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE((*conn)
                    ->Exec("UPDATE jobs SET spec = x'ffffffff' WHERE id = 2;"
                           "UPDATE jobs SET state = 99 WHERE id = 3;"
                           "UPDATE tasks SET frames = '10-1' WHERE job_id = 4 AND idx = 1;"
                           "UPDATE tasks SET state = 42 WHERE job_id = 5 AND idx = 0;"
                           "UPDATE tasks SET failure_reason = -3 WHERE job_id = 6 AND idx = 1;",
                           "corrupt")
                    .ok());
  }
  absl::StatusOr<StoreSnapshot> snapshot = store->Load();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_THAT(snapshot->jobs, SizeIs(6));  // every job row comes back, damaged or not
  EXPECT_THAT(snapshot->damaged, SizeIs(5));
  EXPECT_EQ(snapshot->damaged.count(JobId(1)), 0u);
  EXPECT_THAT(snapshot->damaged[JobId(2)], HasSubstr("jobs row 2: spec is unreadable"));
  EXPECT_THAT(snapshot->damaged[JobId(3)], HasSubstr("jobs row 3: state 99 is not a job state"));
  EXPECT_THAT(snapshot->damaged[JobId(4)], HasSubstr("tasks row 4/1: frames \"10-1\""));
  EXPECT_THAT(snapshot->damaged[JobId(5)], HasSubstr("tasks row 5/0: state 42"));
  EXPECT_THAT(snapshot->damaged[JobId(6)], HasSubstr("tasks row 6/1: failure_reason -3"));
  ExpectJobEq(snapshot->jobs[0], MakeJob(1));
  EXPECT_EQ(snapshot->jobs[1].spec.stages_size(), 0);  // the unreadable spec is left empty
  // Damaged task rows are left out; the readable ones are all there.
  ASSERT_THAT(snapshot->tasks, SizeIs(9));
  ExpectTaskEq(snapshot->tasks[0], MakeTask(1, 0));
  ExpectTaskEq(snapshot->tasks[6], MakeTask(4, 0));
  ExpectTaskEq(snapshot->tasks[7], MakeTask(5, 1));
  // The load left no transaction open.
  EXPECT_TRUE(store->Commit(batch).ok());
}

TEST_F(SqliteJobStoreTest, DataDirThatIsAFileIsAnErrorNotACrash) {
  std::string file = dir_.path() + "/not-a-dir";
  std::ofstream(file) << "x";
  absl::StatusOr<std::unique_ptr<SqliteJobStore>> store = SqliteJobStore::Open(file);
  EXPECT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr(file));
}

TEST_F(SqliteJobStoreTest, NotADatabaseIsDataLoss) {
  std::ofstream(dir_.path() + "/genfarm.db") << std::string(4096, 'z');
  absl::StatusOr<std::unique_ptr<SqliteJobStore>> store = SqliteJobStore::Open(dir_.path());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
}

}  // namespace
}  // namespace genfarm::scheduler
