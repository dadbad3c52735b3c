#include "scheduler/auth/authorizer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace genfarm::scheduler::auth {
namespace {

Role Max(Role a, Role b) { return static_cast<int>(a) >= static_cast<int>(b) ? a : b; }

Role RoleOn(const PersonConfig& person, absl::string_view project) {
  auto it = person.roles.find(std::string(project));
  return it == person.roles.end() ? Role::kNone : it->second;
}

// The role that decides: farm scope counts only "*"; a known project counts it and "*"; an
// unknown one (at the door) the best role anywhere.
Role Effective(const PersonConfig& person, Scope scope, const std::optional<std::string>& project) {
  const Role farm = RoleOn(person, kAllProjects);
  if (scope == Scope::kFarm) return farm;
  if (project) return Max(farm, RoleOn(person, *project));
  Role best = Role::kNone;
  for (const auto& [p, role] : person.roles) best = Max(best, role);
  return best;
}

std::string Where(Scope scope, const std::optional<std::string>& project) {
  if (scope == Scope::kFarm) return "farm-wide";
  if (project) return absl::StrCat("in project ", *project);
  return "in any project";
}

}  // namespace

absl::Status Authorizer::Check(const Identity& identity, const Action& action) const {
  if (roles_ == nullptr) return absl::OkStatus();
  const MethodRule* rule = FindMethodRule(action.method);
  const absl::string_view name = ShortMethodName(action.method);
  if (rule == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat(name, ": no authorization rule for this method (denied by default)"));
  }
  if (rule->scope == Scope::kOpen) return absl::OkStatus();
  if (identity.kind == IdentityKind::kAnonymous) {
    return absl::UnauthenticatedError(absl::StrCat(name, ": no credentials"));
  }
  if (rule->scope == Scope::kWorker) {
    if (identity.kind == IdentityKind::kWorker) return absl::OkStatus();
    return absl::PermissionDeniedError(absl::StrCat(
        name, ": WorkerService takes only worker certificates; ", DescribeIdentity(identity),
        " is not a worker (people's credentials never open it)"));
  }
  if (identity.kind == IdentityKind::kWorker) {
    return absl::PermissionDeniedError(absl::StrCat(name, ": the certificate of worker ",
                                                    identity.name, " opens only WorkerService"));
  }
  std::shared_ptr<const RolesSnapshot> roles = roles_->Current();
  const PersonConfig* person = roles->Person(identity.name);
  if (person == nullptr) {
    return absl::UnauthenticatedError(
        absl::StrCat(name, ": ", identity.name, " is no longer in the roles file"));
  }
  Role needed = rule->role;
  bool others = false;
  if (rule->scope == Scope::kOwnJob && action.job_owner && *action.job_owner != identity.name) {
    needed = rule->others_role;
    others = true;
  }
  const Role held = Effective(*person, rule->scope, action.project);
  if (static_cast<int>(held) >= static_cast<int>(needed)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      name, others ? " of another person's job" : "", " needs ", RoleName(needed), " ",
      Where(rule->scope, action.project), "; ", identity.name, " has ", RoleName(held)));
}

absl::Status Authorizer::CheckWorkerId(const Identity& identity,
                                       absl::string_view claimed_worker_id) const {
  if (roles_ == nullptr) return absl::OkStatus();
  if (identity.kind != IdentityKind::kWorker) {
    return absl::PermissionDeniedError(
        absl::StrCat(DescribeIdentity(identity), " is not a worker"));
  }
  if (identity.name != claimed_worker_id) {
    return absl::PermissionDeniedError(absl::StrCat("the certificate of worker ", identity.name,
                                                    " cannot speak for worker ",
                                                    claimed_worker_id));
  }
  return absl::OkStatus();
}

Role Authorizer::RoleIn(const Identity& identity, absl::string_view project) const {
  if (roles_ == nullptr || identity.kind != IdentityKind::kPerson) return Role::kNone;
  std::shared_ptr<const RolesSnapshot> roles = roles_->Current();
  const PersonConfig* person = roles->Person(identity.name);
  if (person == nullptr) return Role::kNone;
  return Effective(*person, Scope::kProject, std::string(project));
}

bool Authorizer::CanView(const Identity& identity, absl::string_view project) const {
  if (roles_ == nullptr) return true;
  return static_cast<int>(RoleIn(identity, project)) >= static_cast<int>(Role::kViewer);
}

std::vector<std::string> Authorizer::StorageRoots(absl::string_view project) const {
  if (roles_ == nullptr) return {};
  std::shared_ptr<const RolesSnapshot> roles = roles_->Current();
  auto it = roles->config.projects.find(std::string(project));
  return it == roles->config.projects.end() ? std::vector<std::string>{} : it->second.storage_roots;
}

}  // namespace genfarm::scheduler::auth
