#include "scheduler/auth/listen_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace genfarm::scheduler::auth {
namespace {

using ::testing::HasSubstr;

TEST(ListenPolicyTest, LoopbackHosts) {
  for (const char* host : {"127.0.0.1", "127.3.2.1", "::1", "localhost"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host : {"", "0.0.0.0", "::", "10.0.0.5", "farm.example.com", "128.0.0.1"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
  EXPECT_EQ(HostOf("[::1]:7070"), "::1");
  EXPECT_EQ(HostOf("0.0.0.0:0"), "0.0.0.0");
  EXPECT_EQ(HostOf(":7070"), "");
}

TEST(ListenPolicyTest, LoopbackNeedsNothing) {
  auto r = CheckListenSecurity({{{"--listen", "127.0.0.1:0"}, {"--http", "[::1]:0"}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "");
}

TEST(ListenPolicyTest, EveryAddressWithoutTlsAndAuthenticationIsRefusedNamingInsecure) {
  for (const char* address : {"0.0.0.0:0", ":7070", "10.0.0.5:7070", "[::]:7070"}) {
    auto grpc = CheckListenSecurity({{{"--listen", address}, {"--http", ""}}});
    ASSERT_FALSE(grpc.ok()) << address;
    EXPECT_EQ(grpc.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(grpc.status().message()), HasSubstr("--insecure"));
    EXPECT_THAT(std::string(grpc.status().message()),
                HasSubstr(std::string("--listen ") + address));
    auto http = CheckListenSecurity({{{"--listen", "127.0.0.1:0"}, {"--http", address}}});
    ASSERT_FALSE(http.ok()) << address;
    EXPECT_THAT(std::string(http.status().message()), HasSubstr("--http"));
  }
}

TEST(ListenPolicyTest, TlsAloneOrAuthenticationAloneIsNotEnough) {
  auto tls_only = CheckListenSecurity({{{"--listen", "0.0.0.0:0"}}, true, false, false});
  ASSERT_FALSE(tls_only.ok());
  EXPECT_THAT(std::string(tls_only.status().message()), HasSubstr("authentication (--roles)"));
  EXPECT_THAT(std::string(tls_only.status().message()), ::testing::Not(HasSubstr("no TLS")));
  auto auth_only = CheckListenSecurity({{{"--listen", "0.0.0.0:0"}}, false, true, false});
  ASSERT_FALSE(auth_only.ok());
  EXPECT_THAT(std::string(auth_only.status().message()), HasSubstr("TLS (--tls_cert"));
  auto both = CheckListenSecurity({{{"--listen", "0.0.0.0:0"}}, true, true, false});
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(*both, "");
}

TEST(ListenPolicyTest, InsecureAllowsItWithAWarning) {
  auto r = CheckListenSecurity({{{"--listen", "0.0.0.0:0"}}, false, false, true});
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r, HasSubstr("INSECURE"));
  EXPECT_THAT(*r, HasSubstr("0.0.0.0:0"));
}

}  // namespace
}  // namespace genfarm::scheduler::auth
