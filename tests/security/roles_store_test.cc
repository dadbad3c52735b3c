#include "scheduler/auth/roles_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "scheduler/auth/token_store.h"
#include "tests/security/security_test_util.h"

namespace genfarm::scheduler::auth {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string RolesWith(const std::string& person, const std::string& token,
                      const std::string& role) {
  return "people:\n  " + person + ":\n    token_sha256: " + Sha256Hex(token) +
         "\n    roles: {feature: " + role + "}\n";
}

class RolesStoreTest : public ::testing::Test {
 protected:
  // Each write moves the modification time on by a second, as separate edits would (the
  // file system's clock is coarser than a test's back-to-back writes).
  void Write(const std::string& text) {
    {
      std::ofstream out(path_, std::ios::trunc);
      out << text;
    }
    fs::last_write_time(path_, fs::file_time_type::clock::now() + std::chrono::seconds(++edits_));
  }

  genfarm::testing::ScopedTempDir dir_;
  const std::string path_ = dir_.File("roles.yaml");
  int edits_ = 0;
};

TEST_F(RolesStoreTest, OpenReadsTheFile) {
  Write(RolesWith("alice", "t1", "artist"));
  auto store = RolesStore::Open(path_);
  ASSERT_TRUE(store.ok()) << store.status();
  auto now = (*store)->Current();
  EXPECT_EQ(now->generation, 1);
  ASSERT_TRUE(now->tokens.Find("t1").has_value());
  EXPECT_EQ(now->Person("alice")->roles.at("feature"), Role::kArtist);
}

TEST_F(RolesStoreTest, OpenFailsOnAMissingOrInvalidFileNamingIt) {
  auto missing = RolesStore::Open(path_);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(path_));
  Write("people: {alice: {roles: {a: viewer}}}\n");
  auto invalid = RolesStore::Open(path_);
  ASSERT_FALSE(invalid.ok());
  EXPECT_THAT(std::string(invalid.status().message()), HasSubstr(path_));
  EXPECT_THAT(std::string(invalid.status().message()), HasSubstr("neither token_sha256"));
}

TEST_F(RolesStoreTest, ReloadsWhenTheFileChangesAndOnlyThen) {
  Write(RolesWith("alice", "t1", "artist"));
  auto store = *RolesStore::Open(path_);
  EXPECT_EQ(*store->ReloadIfChanged(), false);
  Write(RolesWith("alice", "t2", "wrangler"));
  EXPECT_EQ(*store->ReloadIfChanged(), true);
  auto now = store->Current();
  EXPECT_EQ(now->generation, 2);
  EXPECT_FALSE(now->tokens.Find("t1").has_value());  // the old token is revoked
  EXPECT_TRUE(now->tokens.Find("t2").has_value());
  EXPECT_EQ(now->Person("alice")->roles.at("feature"), Role::kWrangler);
  EXPECT_EQ(*store->ReloadIfChanged(), false);
}

TEST_F(RolesStoreTest, AnInvalidEditKeepsTheRolesInForceAndIsReportedOnce) {
  Write(RolesWith("alice", "t1", "artist"));
  auto store = *RolesStore::Open(path_);
  auto before = store->Current();
  Write(RolesWith("alice", "t1", "superuser"));
  absl::StatusOr<bool> reloaded = store->ReloadIfChanged();
  ASSERT_FALSE(reloaded.ok());
  EXPECT_THAT(std::string(reloaded.status().message()), HasSubstr("unknown role 'superuser'"));
  EXPECT_THAT(std::string(reloaded.status().message()), HasSubstr("keeping the roles in force"));
  EXPECT_EQ(store->Current(), before);
  EXPECT_EQ(*store->ReloadIfChanged(), false);  // reported once, not on every tick
  Write(RolesWith("alice", "t1", "viewer"));    // fixed
  EXPECT_EQ(*store->ReloadIfChanged(), true);
  EXPECT_EQ(store->Current()->Person("alice")->roles.at("feature"), Role::kViewer);
}

TEST_F(RolesStoreTest, ADeletedFileKeepsTheRolesInForce) {
  Write(RolesWith("alice", "t1", "artist"));
  auto store = *RolesStore::Open(path_);
  fs::remove(path_);
  EXPECT_FALSE(store->ReloadIfChanged().ok());
  EXPECT_EQ(*store->ReloadIfChanged(), false);
  EXPECT_TRUE(store->Current()->tokens.Find("t1").has_value());
}

}  // namespace
}  // namespace genfarm::scheduler::auth
