#include "scheduler/auth/identity.h"

#include "absl/strings/str_cat.h"

namespace genfarm::scheduler::auth {

absl::string_view IdentityKindName(IdentityKind kind) {
  switch (kind) {
    case IdentityKind::kAnonymous:
      return "anonymous";
    case IdentityKind::kPerson:
      return "person";
    case IdentityKind::kWorker:
      return "worker";
  }
  return "anonymous";
}

std::string DescribeIdentity(const Identity& identity) {
  if (identity.kind == IdentityKind::kAnonymous) return "anonymous";
  return absl::StrCat(IdentityKindName(identity.kind), " ", identity.name, " (",
                      identity.credential, ")");
}

}  // namespace genfarm::scheduler::auth
