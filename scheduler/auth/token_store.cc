#include "scheduler/auth/token_store.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace genfarm::scheduler::auth {
namespace {

std::array<unsigned char, 32> Sha256(absl::string_view text) {
  std::array<unsigned char, 32> digest{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return digest;
}

}  // namespace

std::string Sha256Hex(absl::string_view text) {
  std::array<unsigned char, 32> digest = Sha256(text);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

absl::Status TokenStore::Add(absl::string_view sha256_hex, std::string person,
                             std::optional<absl::Time> expires) {
  if (sha256_hex.size() != 64 || !std::all_of(sha256_hex.begin(), sha256_hex.end(), [](char c) {
        return absl::ascii_isxdigit(static_cast<unsigned char>(c));
      })) {
    return absl::InvalidArgumentError(
        absl::StrCat("token_sha256 of ", person,
                     ": expected 64 hex digits (the SHA-256 of the token, as deploy/certs.sh "
                     "--token prints it), got '",
                     sha256_hex.substr(0, 80), "'"));
  }
  const std::string bytes = absl::HexStringToBytes(absl::AsciiStrToLower(sha256_hex));
  Entry entry{{}, std::move(person), expires};
  std::copy(bytes.begin(), bytes.end(), entry.digest.begin());
  for (const Entry& e : entries_) {
    if (e.digest == entry.digest) {
      return absl::InvalidArgumentError(
          absl::StrCat("the same token_sha256 is given to both ", e.person, " and ", entry.person));
    }
  }
  entries_.push_back(std::move(entry));
  return absl::OkStatus();
}

std::optional<TokenStore::Match> TokenStore::Find(absl::string_view token) const {
  if (token.empty()) return std::nullopt;
  const std::array<unsigned char, 32> digest = Sha256(token);
  const Entry* found = nullptr;
  // Every entry is compared, with a constant-time compare: how long this takes says nothing
  // about which digest, if any, is close.
  for (const Entry& e : entries_) {
    if (CRYPTO_memcmp(e.digest.data(), digest.data(), digest.size()) == 0) found = &e;
  }
  if (found == nullptr) return std::nullopt;
  return Match{found->person, found->expires};
}

}  // namespace genfarm::scheduler::auth
