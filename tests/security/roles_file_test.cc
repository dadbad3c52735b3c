#include "scheduler/auth/roles_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "scheduler/auth/token_store.h"

namespace genfarm::scheduler::auth {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Digest(const std::string& token) { return Sha256Hex(token); }

TEST(RolesFileTest, ParsesPeopleProjectsAndRevocations) {
  const std::string text =
      "people:\n"
      "  alice:\n"
      "    token_sha256: " +
      Digest("a") +
      "\n"
      "    roles: {feature: artist, commercial: viewer}\n"
      "  bob:\n"
      "    token_sha256: [" +
      Digest("b1") + ", " + Digest("b2") +
      "]\n"
      "    cert_cn: bob\n"
      "    expires: 2027-06-30T00:00:00Z\n"
      "    roles: {'*': ops}\n"
      "projects:\n"
      "  feature:\n"
      "    storage_roots: [/mnt/shows/feature/, /mnt/x/../renders]\n"
      "revoked_certificates: ['0x00AB12', 'ff']\n";
  absl::StatusOr<RolesConfig> roles = ParseRolesYaml(text);
  ASSERT_TRUE(roles.ok()) << roles.status();
  ASSERT_EQ(roles->people.size(), 2u);
  const PersonConfig& alice = roles->people.at("alice");
  EXPECT_THAT(alice.token_sha256, ElementsAre(Digest("a")));
  EXPECT_EQ(alice.roles.at("feature"), Role::kArtist);
  EXPECT_EQ(alice.roles.at("commercial"), Role::kViewer);
  EXPECT_FALSE(alice.expires.has_value());
  const PersonConfig& bob = roles->people.at("bob");
  EXPECT_THAT(bob.token_sha256, ElementsAre(Digest("b1"), Digest("b2")));
  EXPECT_EQ(bob.cert_cn, "bob");
  EXPECT_EQ(bob.roles.at("*"), Role::kOps);
  ASSERT_TRUE(bob.expires.has_value());
  EXPECT_EQ(absl::FormatTime("%Y-%m-%d", *bob.expires, absl::UTCTimeZone()), "2027-06-30");
  EXPECT_THAT(roles->projects.at("feature").storage_roots,
              ElementsAre("/mnt/shows/feature", "/mnt/renders"));
  EXPECT_THAT(roles->revoked_certificates, ElementsAre("ab12", "ff"));
}

struct BadCase {
  std::string name;
  std::string yaml;
  std::string message;  // a part of the error
};

class RolesFileErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(RolesFileErrorTest, IsRefusedWithAClearMessage) {
  absl::StatusOr<RolesConfig> roles = ParseRolesYaml(GetParam().yaml);
  ASSERT_FALSE(roles.ok());
  EXPECT_EQ(roles.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(roles.status().message()), HasSubstr(GetParam().message));
}

const std::string kAliceToken = "    token_sha256: " + Sha256Hex("a") + "\n";

INSTANTIATE_TEST_SUITE_P(
    Cases, RolesFileErrorTest,
    ::testing::Values(
        BadCase{"Empty", "", "empty"}, BadCase{"NotYaml", "people: [", "line"},
        BadCase{"UnknownTopKey", "peeple: {}\n", "unknown key 'peeple'"},
        BadCase{"UnknownPersonKey", "people:\n  alice:\n" + kAliceToken + "    role: {a: viewer}\n",
                "line 4: unknown key 'role' in people.alice"},
        BadCase{"UnknownRole", "people:\n  alice:\n" + kAliceToken + "    roles: {a: boss}\n",
                "unknown role 'boss'"},
        BadCase{"OpsOnAProject",
                "people:\n  alice:\n" + kAliceToken + "    roles: {feature: ops}\n",
                "ops is farm-wide"},
        BadCase{"NoCredential", "people:\n  alice:\n    roles: {a: viewer}\n",
                "neither token_sha256 nor cert_cn"},
        BadCase{"NoRoles", "people:\n  alice:\n" + kAliceToken, "has no roles"},
        BadCase{"ShortDigest", "people:\n  alice:\n    token_sha256: abc\n    roles: {a: viewer}\n",
                "64 hex digits"},
        BadCase{
            "BadExpiry",
            "people:\n  alice:\n" + kAliceToken + "    expires: tomorrow\n    roles: {a: viewer}\n",
            "RFC 3339"},
        BadCase{"RelativeRoot", "projects:\n  a: {storage_roots: [shots/a]}\n",
                "not an absolute path"},
        BadCase{"SharedCertName",
                "people:\n  a: {cert_cn: x, roles: {p: viewer}}\n  b: {cert_cn: x, roles: {p: "
                "viewer}}\n",
                "cert_cn x is given to both a and b"},
        BadCase{"BadSerial", "revoked_certificates: [xyz]\n", "hex"}),
    [](const auto& info) { return info.param.name; });

TEST(RolesFileTest, TheShippedExampleParses) {
  std::ifstream in(std::string(GENFARM_SOURCE_DIR) + "/examples/roles.yaml");
  ASSERT_TRUE(in) << "examples/roles.yaml";
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<RolesConfig> roles = ParseRolesYaml(text.str());
  ASSERT_TRUE(roles.ok()) << roles.status();
  EXPECT_FALSE(roles->people.empty());
  EXPECT_FALSE(roles->projects.empty());
}

}  // namespace
}  // namespace genfarm::scheduler::auth
