#include "scheduler/auth/authenticator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "common/clock.h"
#include "scheduler/auth/token_store.h"
#include "tests/security/security_test_util.h"

namespace genfarm::scheduler::auth {
namespace {

using ::genfarm::testing::MakeTestCert;
using ::testing::HasSubstr;

// FakeClock starts at 2027-01-15; carol's credentials expire on 2027-02-01.
const char kRolesTemplate[] =
    "people:\n"
    "  alice: {token_sha256: ALICE, roles: {feature: artist}}\n"
    "  carol: {token_sha256: CAROL, cert_cn: carol, expires: 2027-02-01T00:00:00Z,"
    " roles: {feature: viewer}}\n"
    "  dave: {cert_cn: dave-cert, roles: {'*': ops}}\n"
    "revoked_certificates: ['beef', '0ABC']\n";

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string text = kRolesTemplate;
    text.replace(text.find("ALICE"), 5, Sha256Hex("alice-token"));
    text.replace(text.find("CAROL"), 5, Sha256Hex("carol-token"));
    auto store = RolesStore::FromYaml(text);
    ASSERT_TRUE(store.ok()) << store.status();
    roles_ = *std::move(store);
    authn_ = std::make_unique<Authenticator>(*roles_, clock_);
  }

  absl::StatusOr<Identity> With(std::string token, std::string cert = "") {
    return authn_->Authenticate(
        PeerCredentials{std::move(token), std::move(cert), "ipv4:1.2.3.4:5"});
  }

  FakeClock clock_;
  std::unique_ptr<RolesStore> roles_;
  std::unique_ptr<Authenticator> authn_;
};

TEST_F(AuthenticatorTest, ATokenNamesItsPerson) {
  auto who = With("alice-token");
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->kind, IdentityKind::kPerson);
  EXPECT_EQ(who->name, "alice");
  EXPECT_EQ(who->credential, "token");
  EXPECT_EQ(who->peer, "ipv4:1.2.3.4:5");
  EXPECT_EQ(DescribeIdentity(*who), "person alice (token)");
}

TEST_F(AuthenticatorTest, NoCredentialsAndUnknownTokensAreUnauthenticated) {
  auto none = With("");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(none.status().message()), HasSubstr("no credentials"));
  EXPECT_EQ(With("mallory").status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, ExpiredCredentialsAreRefused) {
  ASSERT_TRUE(With("carol-token").ok());
  clock_.Set(absl::FromCivil(absl::CivilSecond(2027, 2, 1, 0, 0, 0), absl::UTCTimeZone()));
  auto expired = With("carol-token");
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(expired.status().message()), HasSubstr("expired"));
  EXPECT_EQ(With("", MakeTestCert("carol", "genfarm-user", 7).cert_pem).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, AWorkerCertificateIsTheWorkerOfItsCommonName) {
  auto who = With("", MakeTestCert("w1", "genfarm-worker", 1).cert_pem);
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->kind, IdentityKind::kWorker);
  EXPECT_EQ(who->name, "w1");
  EXPECT_EQ(who->credential, "certificate");
}

TEST_F(AuthenticatorTest, AUserCertificateIsThePersonWithThatCertName) {
  auto who = With("", MakeTestCert("dave-cert", "genfarm-user", 2).cert_pem);
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->kind, IdentityKind::kPerson);
  EXPECT_EQ(who->name, "dave");
  auto stranger = With("", MakeTestCert("eve", "genfarm-user", 3).cert_pem);
  EXPECT_EQ(stranger.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(stranger.status().message()), HasSubstr("CN=eve"));
}

TEST_F(AuthenticatorTest, CertificatesOfNeitherKindAndRevokedOnesAreRefused) {
  auto plain = With("", MakeTestCert("w1", "", 4).cert_pem);
  EXPECT_EQ(plain.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(plain.status().message()), HasSubstr("neither a worker's"));
  auto revoked = With("", MakeTestCert("w9", "genfarm-worker", 0xbeef).cert_pem);
  EXPECT_EQ(revoked.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(revoked.status().message()), HasSubstr("revoked"));
  // A serial whose first byte is below 0x10: openssl prints it with a leading zero.
  auto padded = With("", MakeTestCert("w8", "genfarm-worker", 0xabc).cert_pem);
  EXPECT_EQ(padded.status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, ATokenDecidesEvenWithAWorkerCertificate) {
  // A person's token on a worker's connection is that person, never the worker.
  auto who = With("alice-token", MakeTestCert("w1", "genfarm-worker", 5).cert_pem);
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->kind, IdentityKind::kPerson);
  EXPECT_EQ(With("wrong", MakeTestCert("w1", "genfarm-worker", 6).cert_pem).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(TokenFromAuthorizationHeaderTest, BearerAndBasic) {
  EXPECT_EQ(TokenFromAuthorizationHeader("Bearer abc"), "abc");
  EXPECT_EQ(TokenFromAuthorizationHeader("bearer  abc "), "abc");
  EXPECT_EQ(TokenFromAuthorizationHeader("Basic " + absl::Base64Escape("alice:s3:cret")),
            "s3:cret");
  EXPECT_EQ(TokenFromAuthorizationHeader("Basic !!!"), "");
  EXPECT_EQ(TokenFromAuthorizationHeader("Digest abc"), "");
  EXPECT_EQ(TokenFromAuthorizationHeader("Bearer"), "");
  EXPECT_EQ(TokenFromAuthorizationHeader(""), "");
}

}  // namespace
}  // namespace genfarm::scheduler::auth
