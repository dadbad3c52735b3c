#include "scheduler/auth/auth_metrics.h"

#include <prometheus/counter.h>

#include <string>

namespace genfarm::scheduler::auth {
namespace {

// The service part of a method path, kept to the known services (bounded labels).
std::string ServiceLabel(absl::string_view service) {
  if (service == "http") return "http";
  if (service == "tls:handshake") return "tls";  // handshake_audit.h
  for (absl::string_view known : {"JobService", "FarmService", "WorkerService"}) {
    if (service.find(std::string("genfarm.v1.") + std::string(known) + "/") !=
        absl::string_view::npos) {
      return std::string(known);
    }
  }
  return "other";
}

}  // namespace

AuthMetrics::AuthMetrics(prometheus::Registry& registry)
    : denials_(prometheus::BuildCounter()
                   .Name("genfarm_scheduler_auth_denials_total")
                   .Help("Calls and HTTP requests refused before their handler: no or bad "
                         "credentials (unauthenticated) or a role or service rule "
                         "(permission_denied)")
                   .Register(registry)) {}

void AuthMetrics::Denied(absl::string_view service, absl::StatusCode code) {
  const char* code_label =
      code == absl::StatusCode::kUnauthenticated ? "unauthenticated" : "permission_denied";
  denials_.Add({{"service", ServiceLabel(service)}, {"code", code_label}}).Increment();
}

}  // namespace genfarm::scheduler::auth
