// Path containment: the lexical check at submit (absolute, `..`, relative patterns) and the
// worker's check with symlinks resolved (a link inside a root that points out).
#include "common/path_containment.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace genfarm {
namespace {

namespace fs = std::filesystem;

TEST(NormalizePathTest, FoldsDotsAndSlashes) {
  EXPECT_EQ(NormalizePath("/a/b/../c/./d//e"), "/a/c/d/e");
  EXPECT_EQ(NormalizePath("/../../etc"), "/etc");
  EXPECT_EQ(NormalizePath("a/../../b"), "b");
}

TEST(IsUnderTest, ComparesWholeComponents) {
  EXPECT_TRUE(IsUnder("/mnt/x/shot/f.exr", "/mnt/x"));
  EXPECT_TRUE(IsUnder("/mnt/x", "/mnt/x/"));
  EXPECT_FALSE(IsUnder("/mnt/xy/f.exr", "/mnt/x"));
  EXPECT_FALSE(IsUnder("/mnt/x/../y/f.exr", "/mnt/x"));
}

TEST(CheckSpecContainedTest, NamesTheStageFieldOutsideTheRoots) {
  const std::vector<std::string> roots = {"/mnt/x"};
  v1::JobSpec spec;
  v1::StageSpec* stage = spec.add_stages();
  stage->set_input("/mnt/x/in.####.exr");
  stage->set_output("/mnt/x/out.####.exr");
  EXPECT_TRUE(CheckSpecContained(spec, roots).ok());
  EXPECT_TRUE(CheckSpecContained(spec, {}).ok());

  stage->set_output("/mnt/x/../y/out.####.exr");
  absl::Status s = CheckSpecContained(spec, roots);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("stages[0].output"), absl::string_view::npos) << s;

  stage->set_output("/mnt/x/out.####.exr");
  stage->set_input("in.####.exr");
  s = CheckSpecContained(spec, roots);
  EXPECT_NE(s.message().find("stages[0].input"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("absolute"), absl::string_view::npos) << s;
}

class ResolvedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/genfarm-contain-XXXXXX";
    dir_ = fs::path(mkdtemp(tmpl));
    fs::create_directories(dir_ / "root" / "in");
    fs::create_directories(dir_ / "outside");
    fs::create_directory_symlink(dir_ / "outside", dir_ / "root" / "escape");
    roots_ = {(dir_ / "root").string()};
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  std::vector<std::string> roots_;
};

TEST_F(ResolvedTest, ASymlinkThatPointsOutIsRefusedNamingThePath) {
  const std::string escaping = (dir_ / "root" / "escape" / "p.0001.exr").string();
  // Lexically inside: the scheduler lets it pass; resolved, it is outside.
  EXPECT_TRUE(CheckPathContained("input", escaping, roots_).ok());
  absl::Status s = CheckResolvedContained("input", escaping, roots_);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find(escaping), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("outside"), absl::string_view::npos) << s;
}

TEST_F(ResolvedTest, PathsNotYetWrittenResolveThroughTheirExistingParent) {
  EXPECT_TRUE(
      CheckResolvedContained("output", (dir_ / "root" / "new" / "o.0001.exr").string(), roots_)
          .ok());
  EXPECT_TRUE(
      CheckResolvedContained("input", (dir_ / "root" / "in" / "p.exr").string(), roots_).ok());
}

TEST_F(ResolvedTest, TheAssignmentsFramesAreChecked) {
  v1::Assignment a;
  a.add_storage_roots(roots_[0]);
  a.add_frames(1);
  auto in = FramePattern::Parse((dir_ / "root" / "escape" / "p.####.exr").string());
  auto out = FramePattern::Parse((dir_ / "root" / "o.####.exr").string());
  ASSERT_TRUE(in.ok() && out.ok());
  absl::Status s = CheckTaskPathsContained(a, *in, *out);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("p.0001.exr"), absl::string_view::npos) << s;
  a.clear_storage_roots();  // no roots: no containment
  EXPECT_TRUE(CheckTaskPathsContained(a, *in, *out).ok());
}

}  // namespace
}  // namespace genfarm
