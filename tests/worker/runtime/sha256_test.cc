#include "worker/runtime/sha256.h"

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm::worker {
namespace {

TEST(Sha256Test, KnownDigests) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, FileMatchesStringDigest) {
  const std::string path = ::testing::TempDir() + "/sha256_test.bin";
  std::string data(3 << 20, 'x');  // spans several read chunks
  data[12345] = 'y';
  std::ofstream(path, std::ios::binary) << data;
  absl::StatusOr<std::string> got = Sha256File(path);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, Sha256Hex(data));
}

TEST(Sha256Test, MissingFileIsNotFoundNamingThePath) {
  absl::StatusOr<std::string> got = Sha256File("/nonexistent/model.pt");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(got.status().message(), ::testing::HasSubstr("/nonexistent/model.pt"));
}

}  // namespace
}  // namespace genfarm::worker
