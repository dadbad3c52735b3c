#include "scheduler/store/in_memory_job_store.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/scheduler/store/store_test_util.h"

namespace genfarm::scheduler {
namespace {

using ::genfarm::scheduler::testing::ExpectJobEq;
using ::genfarm::scheduler::testing::ExpectTaskEq;
using ::genfarm::scheduler::testing::LogTexts;
using ::genfarm::scheduler::testing::MakeJob;
using ::genfarm::scheduler::testing::MakeLog;
using ::genfarm::scheduler::testing::MakeTask;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

TEST(InMemoryJobStoreTest, BehavesLikeTheSqliteStore) {
  InMemoryJobStore store;
  WriteBatch batch;
  batch.jobs = {MakeJob(2), MakeJob(1, "k")};
  batch.tasks = {MakeTask(1, 1), MakeTask(1, 0)};
  batch.logs = {MakeLog(1, 0, 1, 1, "a"), MakeLog(1, 1, 1, 2, "b"), MakeLog(1, 0, 1, 3, "c")};
  batch.attempt_high_water = 10;
  ASSERT_TRUE(store.Commit(batch).ok());
  WriteBatch stale;
  stale.attempt_high_water = 5;
  ASSERT_TRUE(store.Commit(stale).ok());

  absl::StatusOr<StoreSnapshot> snapshot = store.Load();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_THAT(snapshot->jobs, SizeIs(2));
  ExpectJobEq(snapshot->jobs[0], batch.jobs[1]);  // ordered by id
  ASSERT_THAT(snapshot->tasks, SizeIs(2));
  ExpectTaskEq(snapshot->tasks[0], batch.tasks[1]);
  EXPECT_EQ(snapshot->attempt_high_water, 10);

  EXPECT_THAT(LogTexts(*store.ReadLogs(TaskId{JobId(1), 0}, 0)), ElementsAre("a", "c"));
  EXPECT_THAT(LogTexts(*store.ReadLogs(TaskId{JobId(1), -1}, 2)), ElementsAre("b", "c"));

  WriteBatch clash;
  clash.jobs = {MakeJob(3, "k")};
  clash.tasks = {MakeTask(3, 0)};
  EXPECT_EQ(store.Commit(clash).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(store.Load()->tasks, SizeIs(2));
}

TEST(InMemoryJobStoreTest, KeepsTheModelCatalogLikeTheSqliteStore) {
  InMemoryJobStore store;
  testing::CommitModelCatalog(store);
  absl::StatusOr<StoreSnapshot> snapshot = store.Load();
  ASSERT_TRUE(snapshot.ok());
  testing::ExpectModelCatalog(*snapshot);
}

TEST(InMemoryJobStoreTest, DeletesJobsDrainsAndHighWatersLikeTheSqliteStore) {
  InMemoryJobStore store;
  WriteBatch batch;
  batch.jobs = {MakeJob(1), MakeJob(2)};
  batch.tasks = {MakeTask(1, 0), MakeTask(2, 0)};
  batch.logs = {MakeLog(1, 0, 1, 1, "a")};
  batch.workers = {WorkerRecord{WorkerId("w1"), true, 1}, WorkerRecord{WorkerId("w2"), true, 1}};
  batch.job_high_water = 2;
  ASSERT_TRUE(store.Commit(batch).ok());
  WriteBatch del;
  del.deleted_jobs = {JobId(1)};
  del.workers = {WorkerRecord{WorkerId("w1"), false, 2}};
  del.job_high_water = 1;  // never lowers it
  ASSERT_TRUE(store.Commit(del).ok());
  absl::StatusOr<StoreSnapshot> snapshot = store.Load();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_THAT(snapshot->jobs, SizeIs(1));
  EXPECT_EQ(snapshot->jobs[0].id, JobId(2));
  ASSERT_THAT(snapshot->tasks, SizeIs(1));
  EXPECT_THAT(*store.ReadLogs(TaskId{JobId(1), -1}, 0), IsEmpty());
  ASSERT_THAT(snapshot->workers, SizeIs(1));
  EXPECT_EQ(snapshot->workers[0].id, WorkerId("w2"));
  EXPECT_EQ(snapshot->job_high_water, 2);
}

TEST(InMemoryJobStoreTest, InjectedFailuresChangeNothingAndAreRecorded) {
  InMemoryJobStore store;
  store.FailNextCommits(2, absl::UnavailableError("disk on fire"));
  WriteBatch batch;
  batch.tasks = {MakeTask(1, 0)};
  EXPECT_EQ(store.Commit(batch).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.Commit(batch).code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(store.Load()->tasks, IsEmpty());
  EXPECT_TRUE(store.Commit(batch).ok());
  EXPECT_THAT(store.Load()->tasks, SizeIs(1));
  std::vector<InMemoryJobStore::CommitRecord> history = store.commit_history();
  ASSERT_THAT(history, SizeIs(3));
  EXPECT_FALSE(history[0].ok);
  EXPECT_TRUE(history[2].ok);
  EXPECT_EQ(history[2].tasks, 1u);
  EXPECT_EQ(store.committed_records(), 1u);
}

}  // namespace
}  // namespace genfarm::scheduler
