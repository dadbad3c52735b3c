#include "client/cli/rpc_error.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm::client {
namespace {

using ::testing::HasSubstr;

TEST(RpcErrorTest, RefusedConnectionNamesTheSchedulerAndTheFix) {
  absl::Status s = RpcErrorToStatus(
      grpc::StatusCode::UNAVAILABLE,
      "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:7070: Failed to "
      "connect to remote host: Connection refused",
      "127.0.0.1:7070", /*connected=*/false);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(),
            "cannot reach scheduler at 127.0.0.1:7070 (connection refused) — is "
            "genfarm-scheduler running?");
}

TEST(RpcErrorTest, DeadlineBeforeConnectingMeansUnreachable) {
  absl::Status s = RpcErrorToStatus(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded",
                                    "farm:7070", /*connected=*/false);
  EXPECT_EQ(s.message(),
            "cannot reach scheduler at farm:7070 (deadline exceeded) — is genfarm-scheduler "
            "running?");
}

TEST(RpcErrorTest, DeadlineWhenConnectedMeansSlowScheduler) {
  absl::Status s = RpcErrorToStatus(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded",
                                    "farm:7070", /*connected=*/true);
  EXPECT_THAT(s.message(), HasSubstr("did not answer in time"));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(RpcErrorTest, SchedulerMessagesPassThrough) {
  absl::Status s = RpcErrorToStatus(grpc::StatusCode::NOT_FOUND, "job 99: no such job", "farm:7070",
                                    /*connected=*/true);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "job 99: no such job");
}

TEST(RpcErrorTest, EmptyMessageStillSaysSomething) {
  absl::Status s =
      RpcErrorToStatus(grpc::StatusCode::INTERNAL, "", "farm:7070", /*connected=*/true);
  EXPECT_THAT(s.message(), HasSubstr("INTERNAL"));
}

TEST(RpcErrorTest, OkIsOk) {
  EXPECT_TRUE(RpcErrorToStatus(grpc::StatusCode::OK, "", "farm:7070", true).ok());
}

}  // namespace
}  // namespace genfarm::client
