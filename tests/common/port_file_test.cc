// Tests of common/port_file: the file a daemon writes once its ports are bound.
#include "common/port_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace genfarm {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(PortFileTest, WritesOneKeyValueLinePerPortAndNoTemporaryFile) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / "genfarm-port-file-test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "scheduler.ports").string();

  ASSERT_TRUE(WritePortFile(path, {{"grpc_port", 41235}, {"http_port", 41236}}).ok());
  EXPECT_EQ(Read(path), "grpc_port=41235\nhttp_port=41236\n");
  // Rewriting replaces the whole file.
  ASSERT_TRUE(WritePortFile(path, {{"http_port", 0}}).ok());
  EXPECT_EQ(Read(path), "http_port=0\n");
  int files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1);
  std::filesystem::remove_all(dir);
}

TEST(PortFileTest, AMissingFolderIsAnErrorNamingThePath) {
  absl::Status s = WritePortFile("/nonexistent-genfarm-dir/ports", {{"grpc_port", 1}});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent-genfarm-dir/ports"), std::string::npos) << s;
}

}  // namespace
}  // namespace genfarm
