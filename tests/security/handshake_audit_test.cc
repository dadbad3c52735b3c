// HandshakeAudit: gRPC's log line for a failed TLS handshake is recognised (and nothing else
// is), each refusal is recorded as an anonymous UNAUTHENTICATED tls:handshake, a flood is
// rate-limited with the count of what was left out, and the hook installed in gRPC records
// what gRPC logs.
#include "scheduler/auth/handshake_audit.h"

#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "common/clock.h"
#include "scheduler/auth/audit_log.h"
#include "tests/security/audit_test_util.h"

namespace genfarm::scheduler::auth {
namespace {

using ::genfarm::testing::AllAuditRecords;

constexpr char kTsi[] = "src/core/tsi/ssl_transport_security.cc";

TEST(HandshakeRefusalTest, RecognisesOnlyTheTlsLayersFailedHandshakeLine) {
  EXPECT_EQ(HandshakeRefusal(kTsi,
                             "Handshake failed with fatal error SSL_ERROR_SSL: "
                             "error:0A00010B:SSL routines::wrong version number."),
            "SSL_ERROR_SSL: error:0A00010B:SSL routines::wrong version number");
  EXPECT_EQ(HandshakeRefusal(kTsi, "Handshake failed with error SSL_ERROR_SYSCALL"),
            "Handshake failed with error SSL_ERROR_SYSCALL");
  EXPECT_EQ(HandshakeRefusal(kTsi, "Corruption detected."), "");
  EXPECT_EQ(HandshakeRefusal("src/core/lib/surface/server.cc", "Handshake failed with x"), "");
}

TEST(HandshakeMeaningTest, NamesTheKindsOfRefusalTheFarmKnows) {
  EXPECT_EQ(HandshakeMeaning("SSL_ERROR_SSL: error:0A00010B:SSL routines::wrong version number"),
            "a client that does not speak TLS");
  EXPECT_EQ(HandshakeMeaning("error:0A000086:SSL routines::certificate verify failed"),
            "the client's certificate is not from the farm CA, or has expired");
  for (const char* alert : {"error:0A000418:SSL routines::tlsv1 alert unknown ca",
                            "error:0A000412:SSL routines::sslv3 alert bad certificate",
                            "error:0A000415:SSL routines::sslv3 alert certificate expired"}) {
    EXPECT_EQ(HandshakeMeaning(alert), "the client refused the scheduler's certificate") << alert;
  }
  EXPECT_EQ(HandshakeMeaning("error:0A000410:SSL routines::sslv3 alert handshake failure"), "");
  EXPECT_EQ(HandshakeMeaning("Handshake failed with error SSL_ERROR_SYSCALL"), "");
}

class HandshakeAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/genfarm-handshake-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto log = AuditLog::Open(dir_ + "/audit.db", clock_);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
  }
  std::string dir_;
  FakeClock clock_{absl::FromUnixSeconds(1000)};
  std::unique_ptr<AuditLog> log_;
};

TEST_F(HandshakeAuditTest, EachRefusalIsAnAnonymousUnauthenticatedRecord) {
  HandshakeAudit handshakes(log_.get(), nullptr, clock_);
  handshakes.Refused("SSL_ERROR_SSL: certificate verify failed");
  std::vector<AuditEntry> rows = AllAuditRecords(*log_);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].method, "tls:handshake");
  EXPECT_EQ(rows[0].kind, "anonymous");
  EXPECT_EQ(rows[0].who, "");
  EXPECT_FALSE(rows[0].allowed);
  EXPECT_EQ(rows[0].code, "UNAUTHENTICATED");
  EXPECT_EQ(rows[0].reason,
            "TLS handshake refused: the client's certificate is not from the farm CA, or has "
            "expired (SSL_ERROR_SSL: certificate verify failed)");
}

TEST_F(HandshakeAuditTest, AFloodIsRateLimitedAndTheNextRecordCountsWhatWasLeftOut) {
  HandshakeAudit handshakes(log_.get(), nullptr, clock_, /*max_per_second=*/3);
  for (int i = 0; i < 10; ++i) handshakes.Refused("wrong version number");
  EXPECT_EQ(AllAuditRecords(*log_).size(), 3u);
  clock_.Advance(absl::Seconds(1));
  handshakes.Refused("wrong version number");
  std::vector<AuditEntry> rows = AllAuditRecords(*log_);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].reason,
            "TLS handshake refused: a client that does not speak TLS (wrong version number) (and "
            "7 more refused handshakes not recorded)");
}

TEST_F(HandshakeAuditTest, InstalledItRecordsWhatGrpcLogsUntilUninstalled) {
  grpc_init();  // gRPC prints nothing before its log verbosity is set up, which init does
  {
    HandshakeAudit handshakes(log_.get(), nullptr, clock_);
    handshakes.Install();
    gpr_log(kTsi, 1501, GPR_LOG_SEVERITY_ERROR, "%s",
            "Handshake failed with fatal error SSL_ERROR_SSL: tlsv1 alert unknown ca.");
    gpr_log(kTsi, 1, GPR_LOG_SEVERITY_ERROR, "%s", "something else");
  }  // uninstalled: later lines are only logged
  gpr_log(kTsi, 1501, GPR_LOG_SEVERITY_ERROR, "%s", "Handshake failed with fatal error X.");
  grpc_shutdown();
  std::vector<AuditEntry> rows = AllAuditRecords(*log_);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].reason,
            "TLS handshake refused: the client refused the scheduler's certificate "
            "(SSL_ERROR_SSL: tlsv1 alert unknown ca)");
}

}  // namespace
}  // namespace genfarm::scheduler::auth
