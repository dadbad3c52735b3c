// AuthMetrics: refusals at the scheduler's doors (the gRPC door processor and the HTTP gate),
// so a dashboard or an alert sees credential probing and misconfigured clients.
//
//   AuthMetrics metrics(registry);
//   metrics.Denied("JobService", absl::StatusCode::kPermissionDenied);
//   // genfarm_scheduler_auth_denials_total{service="JobService",code="permission_denied"} 1
//
// Labels are bounded: `service` is JobService, FarmService, WorkerService, http, tls (a refused
// TLS handshake) or other;
// `code` is unauthenticated or permission_denied. Thread-safe.
#ifndef GENFARM_SCHEDULER_AUTH_AUTH_METRICS_H_
#define GENFARM_SCHEDULER_AUTH_AUTH_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace genfarm::scheduler::auth {

class AuthMetrics {
 public:
  explicit AuthMetrics(prometheus::Registry& registry);

  // `service`: a gRPC method path ("/genfarm.v1.JobService/SubmitJob"), "http" or
  // "tls:handshake".
  void Denied(absl::string_view service, absl::StatusCode code);

 private:
  prometheus::Family<prometheus::Counter>& denials_;
};

}  // namespace genfarm::scheduler::auth

#endif  // GENFARM_SCHEDULER_AUTH_AUTH_METRICS_H_
