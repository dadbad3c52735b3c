// ParseSchedulerTarget: which --scheduler values become a plain channel and which a
// leader-following one (round_robin + health checking), and the targets gRPC is given.
// Names are resolved with getaddrinfo; only "localhost" and literals are used here.
#include "common/tls/scheduler_channel.h"

#include <vector>

#include "common/tls/scheduler_address.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm::tls {
namespace {

using ::testing::HasSubstr;

TEST(SchedulerTargetTest, OneIpAddressIsAPlainChannel) {
  absl::StatusOr<SchedulerTarget> t = ParseSchedulerTarget("127.0.0.1:7070");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->target, "127.0.0.1:7070");
  EXPECT_FALSE(t->balanced);
  EXPECT_TRUE(t->authority.empty());
}

TEST(SchedulerTargetTest, OneNameMayHaveSeveralRecordsSoItFollowsTheLeader) {
  absl::StatusOr<SchedulerTarget> t = ParseSchedulerTarget("genfarm-scheduler-peers:7070");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->target, "genfarm-scheduler-peers:7070");  // gRPC's dns resolver, re-resolved
  EXPECT_TRUE(t->balanced);
  absl::StatusOr<SchedulerTarget> uri = ParseSchedulerTarget("dns:///sched.farm:7070");
  ASSERT_TRUE(uri.ok());
  EXPECT_TRUE(uri->balanced);
}

TEST(SchedulerTargetTest, SeveralAddressesBecomeOneIpv4ListWithTheFirstAsAuthority) {
  absl::StatusOr<SchedulerTarget> t =
      ParseSchedulerTarget(" 127.0.0.1:7070, localhost:7071 ,127.0.0.2:7072");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->target, "ipv4:127.0.0.1:7070,127.0.0.1:7071,127.0.0.2:7072");
  EXPECT_EQ(t->authority, "127.0.0.1:7070");
  EXPECT_TRUE(t->balanced);
  EXPECT_EQ(t->addresses, 3);
}

TEST(SchedulerTargetTest, Ipv6LiteralsAreBracketed) {
  absl::StatusOr<SchedulerTarget> t = ParseSchedulerTarget("[::1]:7070,[::1]:7071");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->target, "ipv6:[::1]:7070,[::1]:7071");
}

TEST(SchedulerTargetTest, ANameThatDoesNotResolveIsSkippedWhileAnotherDoes) {
  absl::StatusOr<SchedulerTarget> t =
      ParseSchedulerTarget("127.0.0.1:7070,no-such-scheduler.invalid:7071");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->target, "ipv4:127.0.0.1:7070");
  absl::StatusOr<SchedulerTarget> none =
      ParseSchedulerTarget("no-such-a.invalid:7070,no-such-b.invalid:7071");
  EXPECT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("cannot resolve"));
}

TEST(SchedulerEndpointsTest, EveryAddressResolvedWithTheFirstHostAsTheTlsName) {
  std::vector<SchedulerEndpoint> e =
      SchedulerEndpoints(" 127.0.0.2:7070, localhost:7071 ,[::1]:7072", 8);
  ASSERT_GE(e.size(), 3u);
  EXPECT_EQ(e[0].ToString(), "127.0.0.2:7070");
  EXPECT_EQ(e.back().ToString(), "[::1]:7072");
  for (const SchedulerEndpoint& endpoint : e) EXPECT_EQ(endpoint.tls_name, "127.0.0.2");
  std::vector<SchedulerEndpoint> one = SchedulerEndpoints("localhost:7070", 8);
  ASSERT_FALSE(one.empty());
  EXPECT_EQ(one[0].tls_name, "localhost");  // what the channel checks the certificate for
  EXPECT_EQ(SchedulerEndpoints("127.0.0.1:1,127.0.0.1:2,127.0.0.1:3", 2).size(), 2u);
}

TEST(SchedulerEndpointsTest, AUriOrABadAddressGivesNone) {
  EXPECT_TRUE(SchedulerEndpoints("dns:///sched.farm:7070", 8).empty());
  EXPECT_TRUE(SchedulerEndpoints("ipv4:127.0.0.1:7070", 8).empty());
  EXPECT_TRUE(SchedulerEndpoints("127.0.0.1:7070,nohostport", 8).empty());
  EXPECT_TRUE(SchedulerEndpoints("", 8).empty());
}

TEST(SchedulerTargetTest, BadAddressesNameTheFlag) {
  for (const char* bad : {"", " , ", "127.0.0.1:7070,nohostport", "127.0.0.1:7070,[::1"}) {
    absl::StatusOr<SchedulerTarget> t = ParseSchedulerTarget(bad);
    EXPECT_FALSE(t.ok()) << bad;
    EXPECT_THAT(t.status().message(), HasSubstr("--scheduler")) << bad;
  }
}

TEST(SchedulerTargetTest, TheServiceConfigAsksForRoundRobinAndHealthChecksOnTheDefaultService) {
  EXPECT_THAT(kLeaderOnlyServiceConfig, HasSubstr(R"("round_robin")"));
  EXPECT_THAT(kLeaderOnlyServiceConfig, HasSubstr(R"("healthCheckConfig":{"serviceName":""})"));
}

}  // namespace
}  // namespace genfarm::tls
