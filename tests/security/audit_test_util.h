// Every record of an AuditLog, newest first, for the security tests that read it back.
//
//   std::vector<AuditEntry> rows = AllAuditRecords(*log);
#ifndef GENFARM_TESTS_SECURITY_AUDIT_TEST_UTIL_H_
#define GENFARM_TESTS_SECURITY_AUDIT_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "scheduler/auth/audit_log.h"

namespace genfarm::testing {

inline std::vector<scheduler::auth::AuditEntry> AllAuditRecords(scheduler::auth::AuditLog& log) {
  std::vector<scheduler::auth::AuditEntry> rows;
  absl::Notification done;
  log.Query({}, [&](absl::StatusOr<std::vector<scheduler::auth::AuditEntry>> r) {
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) rows = *std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return rows;
}

}  // namespace genfarm::testing

#endif  // GENFARM_TESTS_SECURITY_AUDIT_TEST_UTIL_H_
