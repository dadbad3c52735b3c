// Authenticator: turns what a caller presented (a bearer token, a TLS client certificate the
// handshake verified against the farm CA) into an Identity, using the roles in force.
//   - a bearer token names a person (TokenStore); a token that matches nobody, or whose person
//     has expired, is refused even if a certificate came with it;
//   - otherwise a certificate with OU=genfarm-worker is the worker whose id is its CN, and one
//     with OU=genfarm-user is the person whose cert_cn it is;
//   - revoked certificates (by serial) and unknown people are refused;
//   - nothing presented is UNAUTHENTICATED.
// No gRPC: grpc_auth.h and http_gate.h fill PeerCredentials from a call or a request.
//
//   Authenticator authn(*roles, RealClock::Get());
//   absl::StatusOr<Identity> who = authn.Authenticate({.bearer_token = token});
//
// Thread-safe (reads a RolesStore snapshot per call).
#ifndef GENFARM_SCHEDULER_AUTH_AUTHENTICATOR_H_
#define GENFARM_SCHEDULER_AUTH_AUTHENTICATOR_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "scheduler/auth/identity.h"
#include "scheduler/auth/roles_store.h"

namespace genfarm::scheduler::auth {

struct PeerCredentials {
  std::string bearer_token;  // from "authorization: Bearer ..."; empty if none
  std::string cert_pem;      // the verified client certificate (PEM); empty if none
  std::string peer;          // address, copied into the Identity
};

// The token of an "Authorization" header value: "Bearer T", or "Basic base64(user:T)" (what a
// browser sends after its login prompt: the password is the token, the user name is ignored).
// Empty when the header is empty or neither form.
std::string TokenFromAuthorizationHeader(absl::string_view value);

class Authenticator {
 public:
  Authenticator(const RolesStore& roles, const Clock& clock) : roles_(roles), clock_(clock) {}

  absl::StatusOr<Identity> Authenticate(const PeerCredentials& credentials) const;

 private:
  const RolesStore& roles_;
  const Clock& clock_;
};

}  // namespace genfarm::scheduler::auth

#endif  // GENFARM_SCHEDULER_AUTH_AUTHENTICATOR_H_
