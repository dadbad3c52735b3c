// The leader lease and the store's fencing on a real PostgreSQL (the test starts it: see
// tests/scheduler/store/postgres_fixture.h): two schedulers' leases and stores on one
// database; the second takes over when the first's lease has expired on the server's clock,
// and the first's commits are refused from then on, without writing anything.
#include "scheduler/ha/postgres_leader_lease.h"

#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/store/postgres_job_store.h"
#include "tests/scheduler/store/postgres_fixture.h"
#include "tests/scheduler/store/store_test_util.h"

namespace genfarm::scheduler::ha {
namespace {

using ::genfarm::scheduler::testing::MakeJob;
using ::genfarm::scheduler::testing::TestPostgres;
using ::testing::HasSubstr;

class PostgresLeaderLeaseTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!TestPostgres::Available()) return;
    absl::StatusOr<std::unique_ptr<TestPostgres>> pg = TestPostgres::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = pg->release();
  }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }

  void SetUp() override {
    if (!TestPostgres::Available()) GTEST_SKIP() << TestPostgres::MissingReason();
    ASSERT_NE(pg_, nullptr);
    const std::string db = absl::StrCat("lease_", ++databases_);
    absl::StatusOr<std::string> url = pg_->CreateDatabase(db);
    ASSERT_TRUE(url.ok()) << url.status();
    db_ = db;
    url_ = *url;
  }

  std::unique_ptr<PostgresLeaderLease> OpenLease(const std::string& holder) {
    PostgresLeaderLease::Options options;
    options.url = url_;
    options.holder = holder;
    options.address = holder + ":7070";
    options.lease = absl::Seconds(30);  // expiry is forced by hand (ExpireOnServer)
    options.lock_timeout = absl::Milliseconds(200);
    absl::StatusOr<std::unique_ptr<PostgresLeaderLease>> lease = PostgresLeaderLease::Open(options);
    EXPECT_TRUE(lease.ok()) << lease.status();
    return lease.ok() ? *std::move(lease) : nullptr;
  }

  std::unique_ptr<PostgresJobStore> OpenStore(int64_t epoch, const std::string& holder,
                                              std::vector<absl::Status>* fenced) {
    absl::StatusOr<std::unique_ptr<PostgresJobStore>> store = PostgresJobStore::Open(url_);
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return nullptr;
    PostgresJobStore::Fence fence;
    fence.epoch = epoch;
    fence.holder = holder;
    fence.on_fenced = [fenced](const absl::Status& why) { fenced->push_back(why); };
    EXPECT_TRUE((*store)->EnableFencing(fence).ok());
    return *std::move(store);
  }

  // Leases "sched-a" (leading at epoch 1) and "sched-b" (standing by).
  std::pair<std::unique_ptr<PostgresLeaderLease>, std::unique_ptr<PostgresLeaderLease>>
  OpenLeasesWithALeader() {
    auto a = OpenLease("sched-a");
    auto b = OpenLease("sched-b");
    if (a == nullptr || b == nullptr) return {nullptr, nullptr};
    absl::StatusOr<LeaseView> first = a->TryAcquire();
    EXPECT_TRUE(first.ok() && first->ours && first->epoch == 1) << first.status();
    return {std::move(a), std::move(b)};
  }

  // The lease runs out as the server sees it (time passing on PostgreSQL's clock).
  void ExpireOnServer() {
    ASSERT_TRUE(
        pg_->Psql(db_, "UPDATE genfarm_leader SET expires_at = now() - interval '1 second'").ok());
  }

  std::string Query(const std::string& sql) {
    pqxx::connection conn(url_);
    pqxx::read_transaction txn(conn);
    return txn.exec1(sql)[0].c_str();
  }

  static TestPostgres* pg_;
  static int databases_;
  std::string db_;
  std::string url_;
};

TestPostgres* PostgresLeaderLeaseTest::pg_ = nullptr;
int PostgresLeaderLeaseTest::databases_ = 0;

TEST_F(PostgresLeaderLeaseTest, OneLeadsTheOtherSeesWhoUntilTheLeaseExpires) {
  auto a = OpenLease("sched-a");
  auto b = OpenLease("sched-b");
  ASSERT_TRUE(a && b);
  absl::StatusOr<LeaseView> first = a->TryAcquire();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->ours);
  EXPECT_EQ(first->epoch, 1);

  absl::StatusOr<LeaseView> seen = b->TryAcquire();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_FALSE(seen->ours);
  EXPECT_EQ(seen->epoch, 1);
  EXPECT_EQ(seen->holder, "sched-a");
  EXPECT_EQ(seen->address, "sched-a:7070");
  EXPECT_FALSE(seen->expired);
  EXPECT_TRUE(a->Renew(1).ok());

  ExpireOnServer();
  absl::StatusOr<LeaseView> taken = b->TryAcquire();
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_TRUE(taken->ours);
  EXPECT_EQ(taken->epoch, 2);
  absl::Status renewed = a->Renew(1);
  EXPECT_TRUE(absl::IsFailedPrecondition(renewed)) << renewed;
  EXPECT_THAT(renewed.message(), HasSubstr("epoch 2 is held by sched-b"));
  EXPECT_EQ(Query("SELECT string_agg(epoch || '=' || holder, ',' ORDER BY epoch) FROM "
                  "genfarm_epochs"),
            "1=sched-a,2=sched-b");
}

TEST_F(PostgresLeaderLeaseTest, ReleaseLetsAStandbyTakeOverAtOnce) {
  auto [a, b] = OpenLeasesWithALeader();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->Release(1).ok());
  absl::StatusOr<LeaseView> taken = b->TryAcquire();
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_TRUE(taken->ours);
  EXPECT_EQ(taken->epoch, 2);
  EXPECT_TRUE(a->Release(1).ok());  // no longer ours: a no-op that leaves b leading
  EXPECT_TRUE(b->Renew(2).ok());
}

TEST_F(PostgresLeaderLeaseTest, TheOldLeadersCommitIsRefusedAndWritesNothing) {
  auto [a, b] = OpenLeasesWithALeader();
  ASSERT_TRUE(a && b);
  std::vector<absl::Status> a_fenced;
  std::vector<absl::Status> b_fenced;
  auto store_a = OpenStore(1, "sched-a", &a_fenced);
  ASSERT_NE(store_a, nullptr);
  WriteBatch before;
  before.jobs.push_back(MakeJob(1));
  ASSERT_TRUE(store_a->Commit(before).ok());

  ExpireOnServer();
  absl::StatusOr<LeaseView> taken = b->TryAcquire();
  ASSERT_TRUE(taken.ok() && taken->ours) << taken.status();
  auto store_b = OpenStore(2, "sched-b", &b_fenced);
  ASSERT_NE(store_b, nullptr);

  WriteBatch stale;
  stale.jobs.push_back(MakeJob(2));
  stale.attempt_high_water = 99;
  absl::Status refused = store_a->Commit(stale);
  EXPECT_TRUE(absl::IsAborted(refused)) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("fenced: this scheduler's epoch 1 was superseded by 2"));
  ASSERT_EQ(a_fenced.size(), 1u);
  EXPECT_TRUE(absl::IsAborted(a_fenced[0]));
  EXPECT_FALSE(store_a->Commit(stale).ok());  // the writer's retries are refused too ...
  EXPECT_EQ(a_fenced.size(), 1u);             // ... and reported once

  WriteBatch fresh;
  fresh.jobs.push_back(MakeJob(3));
  ASSERT_TRUE(store_b->Commit(fresh).ok());
  EXPECT_TRUE(b_fenced.empty());

  absl::StatusOr<StoreSnapshot> snapshot = store_b->Load();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  std::vector<int64_t> ids;
  for (const JobRecord& job : snapshot->jobs) ids.push_back(job.id.value());
  EXPECT_EQ(ids, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(snapshot->attempt_high_water, 0);
  EXPECT_EQ(Query("SELECT string_agg(epoch || ':' || commits, ',' ORDER BY epoch) FROM "
                  "genfarm_epochs"),
            "1:1,2:1");
  EXPECT_EQ(Query("SELECT (SELECT last_commit_at FROM genfarm_epochs WHERE epoch = 1) < "
                  "(SELECT acquired_at FROM genfarm_epochs WHERE epoch = 2)"),
            "t");
}

TEST_F(PostgresLeaderLeaseTest, AnAcquireBehindAnOpenCommitTimesOutInsteadOfHanging) {
  auto [a, b] = OpenLeasesWithALeader();
  ASSERT_TRUE(a && b);
  ExpireOnServer();
  // A leader frozen inside a fenced commit: the row is held FOR SHARE.
  pqxx::connection frozen(url_);
  pqxx::work txn(frozen);
  txn.exec("SELECT epoch FROM genfarm_leader WHERE id = 1 FOR SHARE");
  absl::StatusOr<LeaseView> blocked = b->TryAcquire();
  EXPECT_TRUE(absl::IsUnavailable(blocked.status())) << blocked.status();
  EXPECT_THAT(blocked.status().message(), HasSubstr("lock timeout"));
  txn.abort();
  absl::StatusOr<LeaseView> taken = b->TryAcquire();
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_TRUE(taken->ours);
  EXPECT_EQ(taken->epoch, 2);
}

}  // namespace
}  // namespace genfarm::scheduler::ha
