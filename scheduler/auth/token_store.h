// TokenStore: people's bearer tokens, kept only as SHA-256 digests (the roles file holds the
// hex digest that deploy/certs.sh --token prints). A presented token is hashed and compared
// with every stored digest in constant time, so neither the stored tokens nor the timing of a
// guess give a token away.
//
//   TokenStore tokens;
//   GENFARM_RETURN_IF_ERROR(tokens.Add(Sha256Hex("s3cret"), "alice", std::nullopt));
//   std::optional<TokenStore::Match> m = tokens.Find("s3cret");   // m->person == "alice"
//
// Immutable once built (a reload builds a new one); safe to read from any thread.
#ifndef GENFARM_SCHEDULER_AUTH_TOKEN_STORE_H_
#define GENFARM_SCHEDULER_AUTH_TOKEN_STORE_H_

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace genfarm::scheduler::auth {

// Lower-case hex SHA-256 of `text` (OpenSSL EVP).
std::string Sha256Hex(absl::string_view text);

class TokenStore {
 public:
  struct Match {
    std::string person;
    std::optional<absl::Time> expires;  // the caller decides against its clock
  };

  // `sha256_hex`: 64 hex digits (either case). A digest already stored is an error (two
  // people would share one token).
  absl::Status Add(absl::string_view sha256_hex, std::string person,
                   std::optional<absl::Time> expires);

  // The person whose token this is, if any. Empty tokens match nothing.
  std::optional<Match> Find(absl::string_view token) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::array<unsigned char, 32> digest;
    std::string person;
    std::optional<absl::Time> expires;
  };
  std::vector<Entry> entries_;
};

}  // namespace genfarm::scheduler::auth

#endif  // GENFARM_SCHEDULER_AUTH_TOKEN_STORE_H_
