// AuditLog: records survive a reopen (their own SQLite file), come back newest first, and
// filter by who, method, job and time.
#include "scheduler/auth/audit_log.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "absl/synchronization/notification.h"
#include "common/clock.h"

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

}  // namespace
}  // namespace genfarm::scheduler::auth
