// PostgreSQL-only behaviour of PostgresJobStore (the shared contract is in
// job_store_conformance_test.cc): URL redaction, connection errors, the schema version check,
// text PostgreSQL would refuse. Starts a real server (postgres_fixture.h).
#include "scheduler/store/postgres_job_store.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/store/job_store_factory.h"
#include "tests/scheduler/store/postgres_fixture.h"
#include "tests/scheduler/store/store_test_util.h"

namespace genfarm::scheduler {
namespace {

using ::genfarm::scheduler::testing::MakeJob;
using ::genfarm::scheduler::testing::MakeTask;
using ::genfarm::scheduler::testing::TestPostgres;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(PostgresJobStoreUrlTest, PasswordsNeverAppearInRedactedUrls) {
  EXPECT_EQ(PostgresJobStore::RedactUrl("postgres://farm:s3cret@db:5432/genfarm"),
            "postgres://farm:***@db:5432/genfarm");
  EXPECT_EQ(PostgresJobStore::RedactUrl("postgres://farm@db/genfarm"),
            "postgres://farm@db/genfarm");
  EXPECT_EQ(PostgresJobStore::RedactUrl("host=db password=s3cret dbname=genfarm"),
            "host=db password=*** dbname=genfarm");
  EXPECT_EQ(PostgresJobStore::RedactUrl("postgresql://db/genfarm?user=a&password=s3cret"),
            "postgresql://db/genfarm?user=a&password=***");
}

TEST(JobStoreFactoryTest, ParsesTheStoreFlag) {
  EXPECT_EQ(*ParseStoreKind(""), StoreKind::kSqlite);
  EXPECT_EQ(*ParseStoreKind("sqlite:"), StoreKind::kSqlite);
  EXPECT_EQ(*ParseStoreKind("sqlite:/var/lib/genfarm"), StoreKind::kSqlite);
  EXPECT_EQ(*ParseStoreKind("postgres://genfarm@db:5432/genfarm"), StoreKind::kPostgres);
  EXPECT_EQ(*ParseStoreKind("postgresql://db/genfarm"), StoreKind::kPostgres);
  EXPECT_EQ(*ParseStoreKind("postgres:host=db dbname=genfarm"), StoreKind::kPostgres);
  absl::StatusOr<StoreKind> bad = ParseStoreKind("mysql://root:pw@db/x");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), Not(HasSubstr(":pw@")));
  EXPECT_EQ(DescribeStore("", "/data"), "sqlite:/data");
  EXPECT_EQ(DescribeStore("postgres://a:b@h/d", "/data"), "postgres://a:***@h/d");
}

TEST(PostgresJobStoreTest, AnUnreachableServerIsUnavailableAndKeepsThePasswordSecret) {
  // Port 1 on loopback: nothing listens there.
  absl::StatusOr<std::unique_ptr<PostgresJobStore>> store =
      PostgresJobStore::Open("postgresql://farm:s3cret@127.0.0.1:1/genfarm?connect_timeout=5");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr("127.0.0.1:1"));
  EXPECT_THAT(store.status().message(), Not(HasSubstr("s3cret")));
}

class PostgresServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!TestPostgres::Available()) GTEST_SKIP() << TestPostgres::MissingReason();
    absl::StatusOr<std::unique_ptr<TestPostgres>> pg = TestPostgres::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = std::move(*pg);
    absl::StatusOr<std::string> url = pg_->CreateDatabase("genfarm");
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
  }
  std::unique_ptr<TestPostgres> pg_;
  std::string url_;
};

TEST_F(PostgresServerTest, RefusesADatabaseFromANewerVersion) {
  { ASSERT_TRUE(PostgresJobStore::Open(url_).ok()); }
  ASSERT_TRUE(pg_->Psql("genfarm", "UPDATE genfarm_schema_version SET version = 99").ok());
  absl::StatusOr<std::unique_ptr<PostgresJobStore>> store = PostgresJobStore::Open(url_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("schema version 99"));
}

TEST_F(PostgresServerTest, TheFactoryOpensPostgresForAUrl) {
  absl::StatusOr<std::unique_ptr<JobStore>> store = OpenJobStore(url_, "/nonexistent");
  ASSERT_TRUE(store.ok()) << store.status();
  WriteBatch batch;
  batch.jobs = {MakeJob(1)};
  ASSERT_TRUE((*store)->Commit(batch).ok());
  absl::StatusOr<std::unique_ptr<JobStore>> second = OpenJobStore(url_, "/nonexistent");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)->Load()->jobs.size(), 1u);
}

TEST_F(PostgresServerTest, TextPostgresWouldRefuseIsRepairedNotRefused) {
  // A refused batch would be retried forever by the StoreWriter: invalid UTF-8 and NUL bytes
  // become U+FFFD instead, on both write paths; valid UTF-8 is kept byte for byte.
  absl::StatusOr<std::unique_ptr<PostgresJobStore>> store = PostgresJobStore::Open(url_);
  ASSERT_TRUE(store.ok()) << store.status();
  constexpr char kBad[] = "bad \xff\xfe utf-8, nul \0 here, cut \xE2\x9C";
  const std::string bad(kBad, sizeof(kBad) - 1);
  const std::string repaired =
      "bad \xEF\xBF\xBD\xEF\xBF\xBD utf-8, nul \xEF\xBF\xBD here, cut \xEF\xBF\xBD\xEF\xBF\xBD";
  int64_t job = 0;
  for (size_t threshold : {size_t{1}, size_t{1000}}) {  // COPY and row statements
    (*store)->set_copy_threshold(threshold);
    ++job;
    WriteBatch batch;
    batch.jobs = {MakeJob(job)};
    batch.jobs[0].message = bad;
    batch.tasks = {MakeTask(job, 0)};
    batch.tasks[0].message = bad;
    batch.tasks[0].worker = "gpu-\xE2\x9C\x93";  // valid: kept
    batch.logs = {testing::MakeLog(job, 0, 1, 1, bad)};
    ASSERT_TRUE((*store)->Commit(batch).ok());
    absl::StatusOr<StoreSnapshot> snapshot = (*store)->Load();
    ASSERT_TRUE(snapshot.ok()) << snapshot.status();
    EXPECT_EQ(snapshot->jobs.back().message, repaired);
    EXPECT_EQ(snapshot->tasks.back().message, repaired);
    EXPECT_EQ(snapshot->tasks.back().worker, "gpu-\xE2\x9C\x93");
    absl::StatusOr<std::vector<LogRecord>> logs = (*store)->ReadLogs(TaskId{JobId(job), 0}, 0);
    ASSERT_TRUE(logs.ok()) << logs.status();
    ASSERT_EQ(logs->size(), 1u);
    EXPECT_EQ((*logs)[0].text, repaired);
  }
}

}  // namespace
}  // namespace genfarm::scheduler
