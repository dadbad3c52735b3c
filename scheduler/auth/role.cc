#include "scheduler/auth/role.h"

#include "absl/strings/str_cat.h"

namespace genfarm::scheduler::auth {
namespace {

constexpr Role kRoles[] = {Role::kViewer, Role::kArtist, Role::kWrangler, Role::kOps, Role::kAdmin};

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kNone:
      return "no role";
    case Role::kViewer:
      return "viewer";
    case Role::kArtist:
      return "artist";
    case Role::kWrangler:
      return "wrangler";
    case Role::kOps:
      return "ops";
    case Role::kAdmin:
      return "admin";
  }
  return "no role";
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  for (Role role : kRoles) {
    if (RoleName(role) == name) return role;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown role '", name, "' (one of viewer, artist, wrangler, ops, admin)"));
}

}  // namespace genfarm::scheduler::auth
