#include "scheduler/auth/token_store.h"

#include <gtest/gtest.h>

namespace genfarm::scheduler::auth {
namespace {

TEST(Sha256HexTest, MatchesTheStandardVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(TokenStoreTest, FindsThePersonWhoseDigestMatches) {
  TokenStore tokens;
  ASSERT_TRUE(tokens.Add(Sha256Hex("alice-secret"), "alice", std::nullopt).ok());
  ASSERT_TRUE(tokens.Add(Sha256Hex("bob-secret"), "bob", absl::FromUnixSeconds(5)).ok());
  auto alice = tokens.Find("alice-secret");
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->person, "alice");
  EXPECT_FALSE(alice->expires.has_value());
  auto bob = tokens.Find("bob-secret");
  ASSERT_TRUE(bob.has_value());
  EXPECT_EQ(bob->person, "bob");
  EXPECT_EQ(bob->expires, absl::FromUnixSeconds(5));
}

TEST(TokenStoreTest, WrongNearAndEmptyTokensMatchNobody) {
  TokenStore tokens;
  ASSERT_TRUE(tokens.Add(Sha256Hex("alice-secret"), "alice", std::nullopt).ok());
  EXPECT_FALSE(tokens.Find("alice-secre").has_value());
  EXPECT_FALSE(tokens.Find("alice-secret ").has_value());
  EXPECT_FALSE(tokens.Find("").has_value());
  // The digest itself is not a token.
  EXPECT_FALSE(tokens.Find(Sha256Hex("alice-secret")).has_value());
}

TEST(TokenStoreTest, UpperCaseDigestsAreAccepted) {
  TokenStore tokens;
  std::string digest = Sha256Hex("t");
  for (char& c : digest) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ASSERT_TRUE(tokens.Add(digest, "alice", std::nullopt).ok());
  EXPECT_TRUE(tokens.Find("t").has_value());
}

TEST(TokenStoreTest, RefusesMalformedAndSharedDigests) {
  TokenStore tokens;
  absl::Status short_digest = tokens.Add("abc123", "alice", std::nullopt);
  EXPECT_EQ(short_digest.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(short_digest.message().find("64 hex digits"), std::string::npos);
  EXPECT_FALSE(tokens.Add(std::string(64, 'g'), "alice", std::nullopt).ok());
  ASSERT_TRUE(tokens.Add(Sha256Hex("same"), "alice", std::nullopt).ok());
  absl::Status shared = tokens.Add(Sha256Hex("same"), "bob", std::nullopt);
  EXPECT_EQ(shared.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(shared.message().find("alice and bob"), std::string::npos);
  EXPECT_EQ(tokens.size(), 1u);
}

}  // namespace
}  // namespace genfarm::scheduler::auth
