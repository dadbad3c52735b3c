#include "scheduler/auth/http_gate.h"

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "common/clock.h"
#include "scheduler/auth/token_store.h"

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

TEST(HttpGateOffTest, EverythingPassesWhenAuthenticationIsOff) {
  Authorizer off(nullptr);
  HttpGate gate(nullptr, off, "");
  EXPECT_TRUE(gate.Check("/api/jobs", "", "").ok());
  EXPECT_TRUE(gate.Check("/metrics", "", "").ok());
}

}  // namespace
}  // namespace genfarm::scheduler::auth
