// AuditLog: records survive a reopen (their own SQLite file), come back newest first, and
// filter by who, method, job and time; commit callbacks run once the record is committed
// (group commit), and carry the error of a transaction that lost it.
#include "scheduler/auth/audit_log.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "scheduler/store/sqlite_connection.h"

namespace genfarm::scheduler::auth {
namespace {

AuditEntry Entry(const std::string& who, absl::string_view method, int64_t job,
                 const absl::Status& outcome) {
  Identity id{IdentityKind::kPerson, who, "token", "ipv4:127.0.0.1:5000"};
  return MakeAuditEntry(id, method, job ? "job " + std::to_string(job) : "", job, "feature_x",
                        outcome);
}

std::vector<AuditEntry> Query(AuditLog& log, AuditQuery q) {
  std::vector<AuditEntry> rows;
  absl::Notification done;
  log.Query(q, [&](absl::StatusOr<std::vector<AuditEntry>> r) {
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) rows = *std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return rows;
}

TEST(AuditLogTest, RecordsPersistAndFilter) {
  char tmpl[] = "/tmp/genfarm-audit-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string path = dir + "/audit.db";
  FakeClock clock(absl::FromUnixSeconds(1000));
  {
    auto log = AuditLog::Open(path, clock);
    ASSERT_TRUE(log.ok()) << log.status();
    (*log)->Append(Entry("alice", "/genfarm.v1.JobService/CancelJob", 12, absl::OkStatus()));
    clock.Advance(absl::Seconds(10));
    (*log)->Append(Entry("bob", "/genfarm.v1.JobService/CancelJob", 12,
                         absl::PermissionDeniedError("CancelJob of another person's job")));
    (*log)->Append(Entry("bob", "/genfarm.v1.JobService/SubmitJob", 0, absl::OkStatus()));
  }
  auto log = AuditLog::Open(path, clock);
  ASSERT_TRUE(log.ok()) << log.status();
  std::vector<AuditEntry> all = Query(**log, {});
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].method, "SubmitJob");  // newest first
  EXPECT_EQ(all[1].who, "bob");
  EXPECT_FALSE(all[1].allowed);
  EXPECT_EQ(all[1].code, "PERMISSION_DENIED");
  EXPECT_EQ(all[1].object, "job 12");
  EXPECT_EQ(all[1].peer, "ipv4:127.0.0.1:5000");
  EXPECT_EQ(all[2].time_ms, 1000000);
  AuditQuery q;
  q.who = "bob";
  EXPECT_EQ(Query(**log, q).size(), 2u);
  q = AuditQuery();
  q.method = "CancelJob";
  EXPECT_EQ(Query(**log, q).size(), 2u);
  q = AuditQuery();
  q.job_id = 12;
  EXPECT_EQ(Query(**log, q).size(), 2u);
  q = AuditQuery();
  q.since_ms = 1005000;
  EXPECT_EQ(Query(**log, q).size(), 2u);
  q = AuditQuery();
  q.limit = 1;
  EXPECT_EQ(Query(**log, q).size(), 1u);
  std::filesystem::remove_all(dir);
}

// Commit callbacks of records appended while the writer is held in before_commit.
TEST(AuditLogTest, CallbacksRunOnlyOnceTheirRecordsAreCommittedTogether) {
  FakeClock clock;
  absl::Mutex mu;
  bool held = true;
  std::vector<size_t> transactions;
  AuditLog::Options options;
  options.before_commit = [&](size_t records) {
    absl::MutexLock lock(&mu);
    transactions.push_back(records);
    mu.Await(absl::Condition(
        +[](bool* h) { return !*h; }, &held));
  };
  auto log = AuditLog::Open(":memory:", clock, options);
  ASSERT_TRUE(log.ok()) << log.status();
  absl::Notification first, second, barrier;
  absl::Status first_status = absl::UnknownError("not called");
  (*log)->Append(Entry("alice", "/genfarm.v1.JobService/CancelJob", 1, absl::OkStatus()),
                 [&](absl::Status s) {
                   first_status = s;
                   first.Notify();
                 });
  {
    // The writer took the first record and waits; the next two queue behind it.
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](std::vector<size_t>* t) { return !t->empty(); }, &transactions));
  }
  (*log)->Append(Entry("bob", "/genfarm.v1.JobService/PauseJob", 1, absl::OkStatus()),
                 [&](absl::Status) { second.Notify(); });
  (*log)->Append(Entry("bob", "/genfarm.v1.JobService/ResumeJob", 1, absl::OkStatus()));
  (*log)->WhenCommitted([&](absl::Status s) {
    EXPECT_TRUE(s.ok()) << s;
    barrier.Notify();
  });
  EXPECT_FALSE(first.HasBeenNotified());
  EXPECT_FALSE(second.HasBeenNotified());
  EXPECT_FALSE(barrier.HasBeenNotified());
  {
    absl::MutexLock lock(&mu);
    held = false;
  }
  first.WaitForNotification();
  second.WaitForNotification();
  barrier.WaitForNotification();
  EXPECT_TRUE(first_status.ok()) << first_status;
  absl::MutexLock lock(&mu);
  EXPECT_EQ(transactions, (std::vector<size_t>{1, 2}));  // the two queued: one transaction
}

TEST(AuditLogTest, OpenMakesTheDataFolder) {
  // With the jobs in PostgreSQL nothing else makes the data folder.
  char tmpl[] = "/tmp/genfarm-audit-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  FakeClock clock;
  auto log = AuditLog::Open(dir + "/data/sub/audit.db", clock);
  ASSERT_TRUE(log.ok()) << log.status();
  log->reset();
  EXPECT_TRUE(std::filesystem::exists(dir + "/data/sub/audit.db"));
  std::filesystem::remove_all(dir);
}

TEST(AuditLogTest, WhenCommittedWithNothingAppendedIsOk) {
  FakeClock clock;
  auto log = AuditLog::Open(":memory:", clock);
  ASSERT_TRUE(log.ok()) << log.status();
  absl::Notification done;
  (*log)->WhenCommitted([&](absl::Status s) {
    EXPECT_TRUE(s.ok()) << s;
    done.Notify();
  });
  done.WaitForNotification();
}

TEST(AuditLogTest, ALostRecordsCallbackGetsTheError) {
  char tmpl[] = "/tmp/genfarm-audit-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string path = dir + "/audit.db";
  FakeClock clock;
  auto log = AuditLog::Open(path, clock);
  ASSERT_TRUE(log.ok()) << log.status();
  {
    // Someone drops the table behind the log's back: its next transaction fails.
    auto other = SqliteConnection::Open(path);
    ASSERT_TRUE(other.ok()) << other.status();
    ASSERT_TRUE((*other)->Exec("DROP TABLE audit", "drop").ok());
  }
  absl::Notification done;
  absl::Status status;
  (*log)->Append(Entry("alice", "/genfarm.v1.JobService/CancelJob", 1, absl::OkStatus()),
                 [&](absl::Status s) {
                   status = s;
                   done.Notify();
                 });
  done.WaitForNotification();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("audit record not committed"), absl::string_view::npos) << status;
  log->reset();
  std::filesystem::remove_all(dir);
}

TEST(AuditLogTest, ClosingCommitsWhatIsQueuedAndRunsEveryCallback) {
  FakeClock clock;
  auto log = AuditLog::Open(":memory:", clock);
  ASSERT_TRUE(log.ok()) << log.status();
  int called = 0;  // the callbacks run on the writer thread, joined by the destructor
  for (int i = 0; i < 100; ++i) {
    (*log)->Append(Entry("alice", "/genfarm.v1.JobService/CancelJob", i, absl::OkStatus()),
                   [&called](absl::Status s) {
                     EXPECT_TRUE(s.ok()) << s;
                     ++called;
                   });
  }
  log->reset();
  EXPECT_EQ(called, 100);
}

}  // namespace
}  // namespace genfarm::scheduler::auth
