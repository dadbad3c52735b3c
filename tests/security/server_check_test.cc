// CheckServerCertificate against a real gRPC TLS server on loopback, with certificates from
// deploy/certs.sh and the scheduler's HandshakeAudit installed: a certificate the client's CA
// did not sign, or that does not carry the name asked for, is explained in words, and the
// refusal reaches the server's audit log as an alert; the farm CA passes and leaves no
// record; nothing listening, or a server that never answers, gives no verdict within the
// timeout.
#include "common/tls/server_check.h"

#include <gmock/gmock.h>
#include <grpc/grpc.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/tls/grpc_credentials.h"
#include "common/tls/tls_files.h"
#include "scheduler/auth/audit_log.h"
#include "scheduler/auth/handshake_audit.h"
#include "tests/security/audit_test_util.h"
#include "tests/security/security_test_util.h"

namespace genfarm::tls {
namespace {

using ::genfarm::testing::AllAuditRecords;

using scheduler::auth::AuditEntry;
using scheduler::auth::AuditLog;
using scheduler::auth::HandshakeAudit;
using ::testing::AnyOf;
using ::testing::HasSubstr;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class ServerCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"farm", "other"}) {
      const std::string command = absl::StrCat(
          "bash ", GENFARM_SOURCE_DIR, "/deploy/certs.sh --dir ", dir_.File(name), " >/dev/null");
      ASSERT_EQ(std::system(command.c_str()), 0) << command;
    }
    farm_ca_ = Read(dir_.File("farm/ca.pem"));
    other_ca_ = Read(dir_.File("other/ca.pem"));
    auto log = AuditLog::Open(dir_.File("audit.db"), RealClock::Get());
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
    handshakes_ = std::make_unique<HandshakeAudit>(log_.get(), nullptr, RealClock::Get());
    handshakes_->Install();

    TlsPem pem;
    pem.cert_chain = Read(dir_.File("farm/server.pem"));
    pem.private_key = Read(dir_.File("farm/server.key"));
    pem.ca = farm_ca_;
    grpc::ServerBuilder builder;
    builder.RegisterCallbackGenericService(&no_calls_);  // a server needs one service
    builder.AddListeningPort("127.0.0.1:0", ServerCredentials(pem), &port_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    handshakes_.reset();
  }

  SchedulerEndpoint Endpoint(const std::string& tls_name = "127.0.0.1") const {
    return SchedulerEndpoint{"127.0.0.1", std::to_string(port_), tls_name};
  }

  // The handshake records once `n` have arrived (gRPC logs on its own threads), or after 5 s.
  std::vector<AuditEntry> AwaitRecords(size_t n) {
    const absl::Time until = RealClock::Get().Now() + absl::Seconds(5);
    std::vector<AuditEntry> rows = AllAuditRecords(*log_);
    while (rows.size() < n && RealClock::Get().Now() < until) {
      absl::SleepFor(absl::Milliseconds(20));
      rows = AllAuditRecords(*log_);
    }
    return rows;
  }

  genfarm::testing::ScopedTempDir dir_;
  std::string farm_ca_;
  std::string other_ca_;
  std::unique_ptr<AuditLog> log_;
  std::unique_ptr<HandshakeAudit> handshakes_;
  grpc::CallbackGenericService no_calls_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

TEST_F(ServerCheckTest, TheFarmCaPassesAndLeavesNoRecord) {
  EXPECT_TRUE(
      CheckServerCertificate(Endpoint(), farm_ca_, "--tls_ca ca.pem", absl::Seconds(5)).ok());
  EXPECT_TRUE(CheckSchedulerCertificates(absl::StrCat("localhost:", port_), farm_ca_,
                                         "--tls_ca ca.pem", absl::Seconds(5))
                  .ok());
  // A refusal afterwards is the first and only record: a record of the two good handshakes
  // (there must be none) would come before it, as the server had them first.
  EXPECT_FALSE(
      CheckServerCertificate(Endpoint(), other_ca_, "--tls_ca other.pem", absl::Seconds(5)).ok());
  std::vector<AuditEntry> rows = AwaitRecords(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_THAT(rows[0].reason, HasSubstr("alert unknown ca"));
}

TEST_F(ServerCheckTest, AnotherCasCertificateIsExplainedAndReachesTheAuditLog) {
  absl::Status why =
      CheckServerCertificate(Endpoint(), other_ca_, "--tls_ca /x/other.pem", absl::Seconds(5));
  EXPECT_EQ(why.code(), absl::StatusCode::kFailedPrecondition);
  const std::string message(why.message());
  EXPECT_THAT(message, HasSubstr(absl::StrCat("the scheduler at 127.0.0.1:", port_,
                                              " presented a certificate that --tls_ca "
                                              "/x/other.pem does not trust: ")));
  // Which link OpenSSL names depends on whether the server sends its CA along (gRPC does
  // when it verifies client certificates against that CA).
  EXPECT_THAT(message, AnyOf(HasSubstr("self-signed certificate in certificate chain"),
                             HasSubstr("unable to get local issuer certificate")));
  EXPECT_THAT(message, HasSubstr("(its certificate: subject O=GenFarm,OU=genfarm-scheduler,"
                                 "CN=genfarm-scheduler, issuer O=GenFarm,CN=GenFarm farm CA)"));
  EXPECT_THAT(message, HasSubstr("give the CA that signed"));
  std::vector<AuditEntry> rows = AwaitRecords(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].method, "tls:handshake");
  EXPECT_EQ(rows[0].code, "UNAUTHENTICATED");
  EXPECT_THAT(rows[0].reason, HasSubstr("the client refused the scheduler's certificate"));
  EXPECT_THAT(rows[0].reason, HasSubstr("alert unknown ca"));
}

TEST_F(ServerCheckTest, ANameTheCertificateDoesNotCarryIsExplained) {
  absl::Status why = CheckServerCertificate(Endpoint("sched.example.invalid"), farm_ca_,
                                            "--tls_ca ca.pem", absl::Seconds(5));
  EXPECT_EQ(why.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(why.message()), HasSubstr("does not trust: hostname mismatch"));
  EXPECT_THAT(std::string(why.message()),
              HasSubstr("reissue it with deploy/certs.sh --server sched.example.invalid"));
  std::vector<AuditEntry> rows = AwaitRecords(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_THAT(rows[0].reason, HasSubstr("the client refused the scheduler's certificate"));
}

TEST_F(ServerCheckTest, NothingListeningOrNoAnswerGivesNoVerdictWithinTheTimeout) {
  // A port nothing listens on: refused at once.
  const int closed = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(closed, reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(getsockname(closed, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string closed_port = std::to_string(ntohs(address.sin_port));
  EXPECT_TRUE(CheckServerCertificate({"127.0.0.1", closed_port, "127.0.0.1"}, farm_ca_, "ca",
                                     absl::Seconds(5))
                  .ok());
  // Listening, never accepting or answering: the kernel completes the TCP handshake, the TLS
  // one waits for a ServerHello that never comes, and the timeout ends it.
  ASSERT_EQ(listen(closed, 4), 0);
  const absl::Time start = RealClock::Get().Now();
  EXPECT_TRUE(CheckServerCertificate({"127.0.0.1", closed_port, "127.0.0.1"}, farm_ca_, "ca",
                                     absl::Milliseconds(300))
                  .ok());
  EXPECT_LT(RealClock::Get().Now() - start, absl::Seconds(3));
  close(closed);
  EXPECT_TRUE(AwaitRecords(0).empty());
}

}  // namespace
}  // namespace genfarm::tls
