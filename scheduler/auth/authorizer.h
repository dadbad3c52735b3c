// Authorizer: may this identity do this action? The policy over method_rules.h's table and the
// roles in force (RolesStore). No gRPC; the service layer asks it twice:
//   - at the door (grpc_auth.h), before the request is read: Action{method} with no project.
//     Workers are kept to WorkerService and people out of it, farm-wide methods are decided in
//     full, and a project method needs its role in at least one project;
//   - in the handler, once the object is known: Action{method, project, job_owner}.
//
//   Authorizer authz(roles.get());
//   GENFARM_RETURN_IF_ERROR(authz.Check(who, {kCancelJob, job.project(), job.submitter()}));
//
// Errors: UNAUTHENTICATED for an anonymous caller, PERMISSION_DENIED naming the role needed
// and the role held otherwise. With no RolesStore (authentication off) everything is allowed.
// Thread-safe.
#ifndef GENFARM_SCHEDULER_AUTH_AUTHORIZER_H_
#define GENFARM_SCHEDULER_AUTH_AUTHORIZER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "scheduler/auth/identity.h"
#include "scheduler/auth/method_rules.h"
#include "scheduler/auth/roles_store.h"

namespace genfarm::scheduler::auth {

struct Action {
  std::string method;                    // a method_rules.h name
  std::optional<std::string> project;    // the object's project; unset at the door
  std::optional<std::string> job_owner;  // the job's submitter (kOwnJob rules); unset: not known
};

class Authorizer {
 public:
  // `roles` null: authentication is off and every action is allowed.
  explicit Authorizer(const RolesStore* roles) : roles_(roles) {}

  bool enabled() const { return roles_ != nullptr; }

  absl::Status Check(const Identity& identity, const Action& action) const;

  // A worker may speak only for itself: the id in its hello (and the worker of any attempt it
  // reports on) must be its certificate's CN.
  absl::Status CheckWorkerId(const Identity& identity, absl::string_view claimed_worker_id) const;

  // The role a person holds in `project` (with "*" counted), kNone for others.
  Role RoleIn(const Identity& identity, absl::string_view project) const;

  // Whether listings may show `project` to this identity (viewer or better there).
  bool CanView(const Identity& identity, absl::string_view project) const;

  // The project's storage roots from the roles file (empty: none declared, or auth off).
  std::vector<std::string> StorageRoots(absl::string_view project) const;

 private:
  const RolesStore* roles_;
};

}  // namespace genfarm::scheduler::auth

#endif  // GENFARM_SCHEDULER_AUTH_AUTHORIZER_H_
