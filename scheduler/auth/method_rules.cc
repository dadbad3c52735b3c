#include "scheduler/auth/method_rules.h"

namespace genfarm::scheduler::auth {
namespace {

constexpr MethodRule kRules[] = {
    {"/grpc.health.v1.Health/Check", Scope::kOpen},
    {"/grpc.health.v1.Health/Watch", Scope::kOpen},
    // Reflection shows only the API's shape; people with any role may use grpcurl.
    {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", Scope::kProject,
     Role::kViewer},
    {kWorkerConnect, Scope::kWorker},
    {kSubmitJob, Scope::kProject, Role::kArtist},
    {kGetJob, Scope::kProject, Role::kViewer},
    {kListJobs, Scope::kProject, Role::kViewer},
    {kListTasks, Scope::kProject, Role::kViewer},
    {kWatchJob, Scope::kProject, Role::kViewer},
    {kGetTaskLog, Scope::kProject, Role::kViewer},
    {kCancelJob, Scope::kOwnJob, Role::kArtist, Role::kWrangler},
    {kPauseJob, Scope::kOwnJob, Role::kArtist, Role::kWrangler},
    {kResumeJob, Scope::kOwnJob, Role::kArtist, Role::kWrangler},
    {kRetryTasks, Scope::kProject, Role::kWrangler},
    {kSetPriority, Scope::kProject, Role::kWrangler},
    // Deleting forgets a finished job's history (tasks, logs): the project's wrangler.
    {kDeleteJob, Scope::kProject, Role::kWrangler},
    {kListWorkers, Scope::kFarm, Role::kOps},
    {kDrainWorker, Scope::kFarm, Role::kOps},
    {kGetFarmStats, Scope::kFarm, Role::kOps},
    {kListAudit, Scope::kFarm, Role::kOps},
    {kHttpDashboard, Scope::kProject, Role::kViewer},
    {kHttpMetrics, Scope::kFarm, Role::kOps},
    {kAdminRoles, Scope::kFarm, Role::kAdmin},
};

}  // namespace

const MethodRule* FindMethodRule(absl::string_view method) {
  for (const MethodRule& rule : kRules) {
    if (rule.method == method) return &rule;
  }
  return nullptr;
}

absl::string_view ShortMethodName(absl::string_view method) {
  const size_t slash = method.rfind('/');
  return slash == absl::string_view::npos ? method : method.substr(slash + 1);
}

}  // namespace genfarm::scheduler::auth
