// The roles file: who the people are (token digests, certificate names), what role each has
// in which project, each project's storage roots, and revoked certificates. YAML, parsed
// strictly (an unknown key is an error: a typo in a security file must not pass silently).
// The format, with an example, is in docs/security.md and examples/roles.yaml:
//
//   people:
//     alice:
//       token_sha256: 77d37fb8...ad943      # or a list, for rotation
//       roles: {feature: artist, commercial: viewer}
//     ops-team:
//       cert_cn: ops-team                   # a user certificate (OU=genfarm-user)
//       roles: {"*": ops}                   # "*": every project, and the farm itself
//   projects:
//     feature: {storage_roots: [/mnt/shows/feature]}
//   revoked_certificates: ["3a9f..."]       # serial numbers, hex
//
//   GENFARM_ASSIGN_OR_RETURN(RolesConfig roles, ParseRolesYaml(text));
#ifndef GENFARM_SCHEDULER_AUTH_ROLES_FILE_H_
#define GENFARM_SCHEDULER_AUTH_ROLES_FILE_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "scheduler/auth/role.h"

namespace genfarm::scheduler::auth {

// The project key that means every project, and the farm-wide scope (workers, drain).
inline constexpr absl::string_view kAllProjects = "*";

struct PersonConfig {
  std::string name;
  std::vector<std::string> token_sha256;  // lower-case hex digests
  std::string cert_cn;                    // CN of the person's user certificate, if any
  std::optional<absl::Time> expires;      // after this, the person's credentials are refused
  std::map<std::string, Role> roles;      // project (or "*") -> role
};

struct ProjectConfig {
  std::vector<std::string> storage_roots;  // absolute, normalised, no trailing '/'
};

struct RolesConfig {
  std::map<std::string, PersonConfig> people;
  std::map<std::string, ProjectConfig> projects;
  std::set<std::string> revoked_certificates;  // serials, lower-case hex without leading zeros
};

// Parses and checks the whole file; errors name the line and the key.
absl::StatusOr<RolesConfig> ParseRolesYaml(absl::string_view text);

// A certificate serial as revoked_certificates keeps it: lower-case hex, without "0x" and
// without leading zeros ("0A1B", what `openssl x509 -serial` and BN_bn2hex print for a
// serial whose first byte is below 0x10, is "a1b"). The roles file and the certificate's
// serial both go through it, so they compare equal however each was written.
std::string CanonicalSerial(absl::string_view hex);

}  // namespace genfarm::scheduler::auth

#endif  // GENFARM_SCHEDULER_AUTH_ROLES_FILE_H_
