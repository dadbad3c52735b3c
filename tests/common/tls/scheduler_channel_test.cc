// ParseSchedulerTarget: which --scheduler values become a plain channel and which a
// leader-following one (round_robin + health checking), and the targets gRPC is given.
// Names are resolved with getaddrinfo; only "localhost" and literals are used here.
#include "common/tls/scheduler_channel.h"

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
