#include "scheduler/auth/http_gate.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "common/clock.h"
#include "scheduler/auth/token_store.h"
#include "tests/security/audit_test_util.h"

namespace genfarm::scheduler::auth {
namespace {

class HttpGateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = RolesStore::FromYaml(
        "people:\n"
        "  vic: {token_sha256: " +
        Sha256Hex("vic-token") +
        ", roles: {feature: viewer}}\n"
        "  olga: {token_sha256: " +
        Sha256Hex("olga-token") + ", roles: {'*': ops}}\n");
    ASSERT_TRUE(store.ok()) << store.status();
    roles_ = *std::move(store);
    authn_ = std::make_unique<Authenticator>(*roles_, clock_);
    authz_ = std::make_unique<Authorizer>(roles_.get());
    gate_ = std::make_unique<HttpGate>(authn_.get(), *authz_, Sha256Hex("prom-token"));
  }

  absl::StatusCode Code(const std::string& path, const std::string& header) {
    return gate_->Check(path, header, "127.0.0.1:1").code();
  }

  FakeClock clock_;
  std::unique_ptr<RolesStore> roles_;
  std::unique_ptr<Authenticator> authn_;
  std::unique_ptr<Authorizer> authz_;
  std::unique_ptr<HttpGate> gate_;
};

TEST_F(HttpGateTest, HealthzIsOpen) { EXPECT_EQ(Code("/healthz", ""), absl::StatusCode::kOk); }

TEST_F(HttpGateTest, TheDashboardAndApiNeedAViewer) {
  for (const char* path : {"/", "/index.html", "/api/jobs", "/api/thumbnail"}) {
    EXPECT_EQ(Code(path, ""), absl::StatusCode::kUnauthenticated) << path;
    EXPECT_EQ(Code(path, "Bearer wrong"), absl::StatusCode::kUnauthenticated) << path;
    EXPECT_EQ(Code(path, "Bearer vic-token"), absl::StatusCode::kOk) << path;
    EXPECT_EQ(Code(path, "Basic " + absl::Base64Escape("vic:vic-token")), absl::StatusCode::kOk)
        << path;
  }
  // Prometheus' token opens /metrics only.
  EXPECT_EQ(Code("/api/jobs", "Bearer prom-token"), absl::StatusCode::kUnauthenticated);
}

TEST_F(HttpGateTest, MetricsTakeThePrometheusTokenOrOps) {
  for (const char* path : {"/metrics", "/sd/workers"}) {
    EXPECT_EQ(Code(path, ""), absl::StatusCode::kUnauthenticated) << path;
    EXPECT_EQ(Code(path, "Bearer prom-token"), absl::StatusCode::kOk) << path;
    EXPECT_EQ(Code(path, "Bearer olga-token"), absl::StatusCode::kOk) << path;
    EXPECT_EQ(Code(path, "Bearer vic-token"), absl::StatusCode::kPermissionDenied) << path;
  }
}

// Installed on a real server (127.0.0.1): refusals are on record with who, the request and
// where from; allowed requests are not.
TEST_F(HttpGateTest, RefusalsAreOnRecordAndAllowedRequestsAreNot) {
  auto audit = AuditLog::Open(":memory:", clock_);
  ASSERT_TRUE(audit.ok()) << audit.status();
  gate_->set_audit(audit->get());
  httplib::Server server;
  gate_->Install(server);
  server.Get("/api/jobs", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("[]", "application/json");
  });
  server.Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("", "text/plain");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread serving([&] { server.listen_after_bind(); });
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(10);
  auto status = [&](const char* path, const std::string& token) {
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    httplib::Result result = client.Get(path, headers);
    return result ? result->status : -1;
  };
  EXPECT_EQ(status("/api/jobs", ""), 401);
  EXPECT_EQ(status("/metrics", "vic-token"), 403);
  EXPECT_EQ(status("/api/jobs", "vic-token"), 200);
  EXPECT_EQ(status("/metrics", "prom-token"), 200);
  server.stop();
  serving.join();

  std::vector<AuditEntry> rows = genfarm::testing::AllAuditRecords(**audit);
  ASSERT_EQ(rows.size(), 2u);  // newest first
  EXPECT_EQ(rows[0].method, "http:metrics");
  EXPECT_EQ(rows[0].who, "vic");
  EXPECT_EQ(rows[0].code, "PERMISSION_DENIED");
  EXPECT_EQ(rows[0].object, "GET /metrics");
  EXPECT_EQ(rows[1].method, "http:dashboard");
  EXPECT_EQ(rows[1].kind, "anonymous");
  EXPECT_EQ(rows[1].code, "UNAUTHENTICATED");
  EXPECT_EQ(rows[1].object, "GET /api/jobs");
  EXPECT_EQ(rows[1].peer.rfind("127.0.0.1:", 0), 0u) << rows[1].peer;
}

TEST(HttpGateOffTest, EverythingPassesWhenAuthenticationIsOff) {
  Authorizer off(nullptr);
  HttpGate gate(nullptr, off, "");
  EXPECT_TRUE(gate.Check("/api/jobs", "", "").ok());
  EXPECT_TRUE(gate.Check("/metrics", "", "").ok());
}

}  // namespace
}  // namespace genfarm::scheduler::auth
