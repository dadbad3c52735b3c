#include "worker/runtime/model_repository.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "worker/runtime/sha256.h"

namespace genfarm::worker {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A zip local-file header is all the scan looks at; loading is ModelCache's business.
const std::string kFakeArchive = std::string("PK\x03\x04", 4) + "fake torchscript payload";

class ModelRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("repo_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }

  static void WriteFile(const fs::path& path, const std::string& data) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << data;
  }

  // Writes <folder>/model.pt with `payload` and a manifest; `edit` tweaks the manifest.
  void AddModel(const std::string& folder, const std::string& payload,
                const std::function<void(nlohmann::json&)>& edit = nullptr) {
    WriteFile(dir_ / folder / "model.pt", payload);
    nlohmann::json m = {{"name", folder},      {"version", "1.0.0"},
                        {"file", "model.pt"},  {"sha256", Sha256Hex(payload)},
                        {"kind", "upscale"},   {"scale", 2},
                        {"memory_bytes", 1000}};
    if (edit) edit(m);
    WriteFile(dir_ / folder / "manifest.json", m.dump());
  }

  fs::path dir_;
};

TEST_F(ModelRepositoryTest, ServesGoodModelsAndNamesTheBadOnes) {
  AddModel("good-x2", kFakeArchive);
  AddModel("bad-manifest", kFakeArchive, [](nlohmann::json& m) { m["scale"] = 0; });
  AddModel("mismatch", kFakeArchive, [](nlohmann::json& m) { m["sha256"] = Sha256Hex("other"); });
  AddModel("not-an-archive", "garbage bytes, checksum matches");
  AddModel("missing-file", kFakeArchive, [](nlohmann::json& m) { m["file"] = "gone.pt"; });
  fs::create_directories(dir_ / "no-manifest");
  fs::create_directories(dir_ / ".tmp-download");  // hidden folders are not models

  ModelRepository repo(dir_.string());
  ASSERT_TRUE(repo.Scan().ok());

  std::vector<Manifest> models = repo.models();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].name, "good-x2");
  EXPECT_EQ(models[0].folder, (dir_ / "good-x2").string());
  EXPECT_EQ(models[0].model_path, (dir_ / "good-x2" / "model.pt").string());

  std::vector<ModelError> errors = repo.errors();
  std::vector<std::string> names;
  for (const ModelError& e : errors) names.push_back(e.model);
  EXPECT_THAT(names, ElementsAre("bad-manifest", "mismatch", "missing-file", "no-manifest",
                                 "not-an-archive"));
  EXPECT_THAT(errors[0].status.message(),
              HasSubstr("bad-manifest/manifest.json: field 'scale' must be a positive integer"));
  EXPECT_EQ(errors[1].status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(errors[1].status.message(), HasSubstr("model mismatch: checksum mismatch"));
  EXPECT_THAT(errors[2].status.message(), HasSubstr("model missing-file: file "));
  EXPECT_THAT(errors[3].status.message(), HasSubstr("no-manifest: no manifest.json"));
  EXPECT_THAT(errors[4].status.message(),
              HasSubstr("model not-an-archive: " + (dir_ / "not-an-archive" / "model.pt").string() +
                        ": not a TorchScript archive"));

  EXPECT_TRUE(repo.Find("good-x2").ok());
  absl::StatusOr<Manifest> rejected = repo.Find("mismatch");
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(rejected.status().message(), HasSubstr("was rejected: model mismatch"));
  EXPECT_THAT(repo.Find("nope").status().message(), HasSubstr("is not in repository"));
}

TEST_F(ModelRepositoryTest, DuplicateNamesKeepTheFirstFolder) {
  AddModel("a", kFakeArchive, [](nlohmann::json& m) { m["name"] = "same"; });
  AddModel("b", kFakeArchive, [](nlohmann::json& m) { m["name"] = "same"; });
  ModelRepository repo(dir_.string());
  ASSERT_TRUE(repo.Scan().ok());
  ASSERT_EQ(repo.models().size(), 1u);
  EXPECT_EQ(repo.models()[0].folder, (dir_ / "a").string());
  ASSERT_EQ(repo.errors().size(), 1u);
  EXPECT_EQ(repo.errors()[0].model, "b");
  EXPECT_THAT(repo.errors()[0].status.message(), HasSubstr("another folder already provides"));
}

TEST_F(ModelRepositoryTest, MissingRepositoryIsAnError) {
  ModelRepository repo((dir_ / "absent").string());
  absl::Status s = repo.Scan();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr((dir_ / "absent").string()));
}

// Checksums are computed once per (path, mtime, size): a rescan of an unchanged file does
// not reread it, and a file that changed is hashed again.
TEST_F(ModelRepositoryTest, RescanReusesChecksumsOfUnchangedFiles) {
  AddModel("m", kFakeArchive);
  ModelRepository repo(dir_.string());
  ASSERT_TRUE(repo.Scan().ok());
  ASSERT_EQ(repo.models().size(), 1u);

  // Same size and mtime, different bytes: the cached digest is trusted.
  const fs::path pt = dir_ / "m" / "model.pt";
  const auto mtime = fs::last_write_time(pt);
  std::string tampered = kFakeArchive;
  tampered.back() ^= 1;
  WriteFile(pt, tampered);
  fs::last_write_time(pt, mtime);
  ASSERT_TRUE(repo.Scan().ok());
  EXPECT_EQ(repo.models().size(), 1u);

  // A new mtime invalidates the cache and the mismatch is found.
  fs::last_write_time(pt, mtime + std::chrono::seconds(5));
  ASSERT_TRUE(repo.Scan().ok());
  EXPECT_TRUE(repo.models().empty());
  ASSERT_EQ(repo.errors().size(), 1u);
  EXPECT_THAT(repo.errors()[0].status.message(), HasSubstr("checksum mismatch"));
}

}  // namespace
}  // namespace genfarm::worker
