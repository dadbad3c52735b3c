// SQLite-only behaviour of SqliteJobStore: WAL, synchronous levels, the schema version table,
// data-directory and file errors. What every store must do is in job_store_conformance_test.cc.
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

using ::genfarm::scheduler::testing::MakeJob;
using ::genfarm::scheduler::testing::MakeTask;
using ::genfarm::scheduler::testing::ScopedTempDir;
using ::testing::HasSubstr;
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
