// Tests of common/flags_usage: which flag files --help lists, and how their paths read.
#include "common/flags_usage.h"

#include "gtest/gtest.h"

namespace genfarm {
namespace {

TEST(FlagsUsageTest, ProjectFilesReadRelativeToTheSourceTree) {
  EXPECT_EQ(ProjectRelativeFlagFile("../scheduler/main.cc"), "scheduler/main.cc");
  EXPECT_EQ(ProjectRelativeFlagFile("../../worker/bench/main.cc"), "worker/bench/main.cc");
  EXPECT_EQ(ProjectRelativeFlagFile("/src/genfarm/scheduler/sim/main.cc"), "scheduler/sim/main.cc");
  EXPECT_EQ(ProjectRelativeFlagFile("scheduler/main.cc"), "scheduler/main.cc");
}

TEST(FlagsUsageTest, FilesOutsideTheProjectAreLeftAlone) {
  EXPECT_EQ(ProjectRelativeFlagFile("absl/flags/parse.cc"), "absl/flags/parse.cc");
  EXPECT_EQ(ProjectRelativeFlagFile("/build/abseil-cpp/absl/flags/internal/usage.cc"),
            "/build/abseil-cpp/absl/flags/internal/usage.cc");
  // A file named like a project folder is not a folder.
  EXPECT_EQ(ProjectRelativeFlagFile("/opt/worker"), "/opt/worker");
}

TEST(FlagsUsageTest, HelpListsProjectFlagsAndHidesAbseils) {
  EXPECT_TRUE(IsProjectFlagFile("scheduler/main.cc"));
  EXPECT_TRUE(IsProjectFlagFile("worker/main.cc"));
  EXPECT_TRUE(IsProjectFlagFile("client/cli/main.cc"));
  EXPECT_TRUE(IsProjectFlagFile("common/flags_usage.cc"));
  EXPECT_TRUE(IsProjectFlagFile("tests/scheduler/store/store_bench.cc"));
  EXPECT_FALSE(IsProjectFlagFile("absl/flags/parse.cc"));
  EXPECT_FALSE(IsProjectFlagFile("/build/abseil-cpp/absl/flags/internal/usage.cc"));
  EXPECT_FALSE(IsProjectFlagFile("main.cc"));
}

}  // namespace
}  // namespace genfarm
