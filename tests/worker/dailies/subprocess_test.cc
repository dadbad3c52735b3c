#include "worker/dailies/subprocess.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm::worker {
namespace {

using ::testing::HasSubstr;

TEST(RunSubprocessTest, CapturesStderrAndExitCodeWithoutAShell) {
  // The argument reaches the program verbatim: no shell splits or expands it.
  auto r = RunSubprocess({"sh", "-c", "echo \"$0 oops\" >&2; exit 3", "a b;*"}, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->stderr_tail, "a b;* oops\n");
}

TEST(RunSubprocessTest, StdoutIsDiscarded) {
  auto r = RunSubprocess({"echo", "hello"}, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->stderr_tail, "");
}

TEST(RunSubprocessTest, MissingProgramIsFailedPrecondition) {
  auto r = RunSubprocess({"genfarm-no-such-program"}, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("'genfarm-no-such-program' is not on PATH"));
}

TEST(RunSubprocessTest, CancelStopsALongRunningChild) {
  CancelToken cancel;
  cancel.Cancel();
  auto r = RunSubprocess({"sleep", "30"}, &cancel);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
}

TEST(RunSubprocessTest, KeepsOnlyTheTailOfLongStderr) {
  auto r = RunSubprocess({"sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x >&2; echo END >&2"},
                         nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stderr_tail.size(), kStderrTailBytes);
  EXPECT_THAT(r->stderr_tail, ::testing::EndsWith("xEND\n"));
}

}  // namespace
}  // namespace genfarm::worker
