// The authorization table: for every gRPC method (by its full path, as gRPC names it on the
// wire) and every HTTP area, who may call it and with which role. Deny by default: a method
// missing here is refused, so a new RPC is closed until someone writes its rule.
//
//   const MethodRule* rule = FindMethodRule(kCancelJob);
//   // rule->scope == Scope::kOwnJob, rule->role == Role::kArtist,
//   // rule->others_role == Role::kWrangler
#ifndef GENFARM_SCHEDULER_AUTH_METHOD_RULES_H_
#define GENFARM_SCHEDULER_AUTH_METHOD_RULES_H_

#include "absl/strings/string_view.h"
#include "scheduler/auth/role.h"

namespace genfarm::scheduler::auth {

// gRPC methods.
inline constexpr absl::string_view kSubmitJob = "/genfarm.v1.JobService/SubmitJob";
inline constexpr absl::string_view kGetJob = "/genfarm.v1.JobService/GetJob";
inline constexpr absl::string_view kListJobs = "/genfarm.v1.JobService/ListJobs";
inline constexpr absl::string_view kListTasks = "/genfarm.v1.JobService/ListTasks";
inline constexpr absl::string_view kWatchJob = "/genfarm.v1.JobService/WatchJob";
inline constexpr absl::string_view kCancelJob = "/genfarm.v1.JobService/CancelJob";
inline constexpr absl::string_view kPauseJob = "/genfarm.v1.JobService/PauseJob";
inline constexpr absl::string_view kResumeJob = "/genfarm.v1.JobService/ResumeJob";
inline constexpr absl::string_view kRetryTasks = "/genfarm.v1.JobService/RetryTasks";
inline constexpr absl::string_view kSetPriority = "/genfarm.v1.JobService/SetPriority";
inline constexpr absl::string_view kDeleteJob = "/genfarm.v1.JobService/DeleteJob";
inline constexpr absl::string_view kGetTaskLog = "/genfarm.v1.JobService/GetTaskLog";
inline constexpr absl::string_view kListWorkers = "/genfarm.v1.FarmService/ListWorkers";
inline constexpr absl::string_view kDrainWorker = "/genfarm.v1.FarmService/DrainWorker";
inline constexpr absl::string_view kGetFarmStats = "/genfarm.v1.FarmService/GetFarmStats";
inline constexpr absl::string_view kListAudit = "/genfarm.v1.FarmService/ListAudit";
inline constexpr absl::string_view kWorkerConnect = "/genfarm.v1.WorkerService/Connect";
// HTTP areas (http_gate.h): the dashboard and its JSON API; /metrics and /sd/workers.
inline constexpr absl::string_view kHttpDashboard = "http:dashboard";
inline constexpr absl::string_view kHttpMetrics = "http:metrics";
// Managing identities and roles (reserved: the roles file is edited on disk today).
inline constexpr absl::string_view kAdminRoles = "admin:roles";

enum class Scope {
  kOpen,     // anyone, even without credentials (health checks)
  kWorker,   // workers' certificates only; people's credentials never
  kProject,  // a person with `role` in the object's project
  kOwnJob,   // a person with `role` on their own job, `others_role` on anyone else's
  kFarm,     // a person with `role` farm-wide (given on "*")
};

struct MethodRule {
  absl::string_view method;
  Scope scope;
  Role role = Role::kNone;
  Role others_role = Role::kNone;  // kOwnJob only
};

// The rule of `method`, or null (denied).
const MethodRule* FindMethodRule(absl::string_view method);

// "CancelJob" for "/genfarm.v1.JobService/CancelJob"; the HTTP areas as they are.
absl::string_view ShortMethodName(absl::string_view method);

}  // namespace genfarm::scheduler::auth

#endif  // GENFARM_SCHEDULER_AUTH_METHOD_RULES_H_
