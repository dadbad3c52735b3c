// Role: what a person may do in a project. Each role can do everything the ones before it
// can: viewer < artist < wrangler < ops < admin. ops and admin are farm-wide and are given
// on "*" in the roles file (roles_file.h).
//
//   absl::StatusOr<Role> role = ParseRole("wrangler");
//   if (*role >= Role::kArtist) ...   // may submit
#ifndef GENFARM_SCHEDULER_AUTH_ROLE_H_
#define GENFARM_SCHEDULER_AUTH_ROLE_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace genfarm::scheduler::auth {

enum class Role {
  kNone = 0,
  kViewer,    // see jobs, tasks, logs and the dashboard
  kArtist,    // submit; cancel, pause and resume their own jobs
  kWrangler,  // control any job of the project: cancel, pause, resume, priorities, retries
  kOps,       // workers, drain, farm-wide views (and wrangler everywhere)
  kAdmin,     // identities and roles (and everything else)
};

absl::string_view RoleName(Role role);  // "viewer", ...; "no role" for kNone
absl::StatusOr<Role> ParseRole(absl::string_view name);

}  // namespace genfarm::scheduler::auth

#endif  // GENFARM_SCHEDULER_AUTH_ROLE_H_
