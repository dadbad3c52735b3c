// HttpGate: authentication on the scheduler's HTTP port, in front of every route (a
// cpp-httplib pre-routing handler), when authentication is on:
//   /healthz                 open (load balancers, systemd)
//   /metrics, /sd/workers    the Prometheus token (--metrics_token_file), or an ops person
//   everything else          a person with viewer in some project: the dashboard, its JSON
//                            API and the thumbnails
// A token comes as "Authorization: Bearer T", or as HTTP Basic auth with the token as the
// password (so a browser's login prompt works; the user name is ignored). Refusals are 401
// with a WWW-Authenticate challenge (no or bad credentials) or 403 (a role too small).
// Every refusal is counted in the denials metric and recorded in the audit log (method
// "http:dashboard" or "http:metrics", object "GET /api/jobs"); allowed requests are reads
// and are not recorded.
//
//   HttpGate gate(&authenticator, authorizer, Sha256Hex(prometheus_token));
//   gate.set_audit(audit.get());
//   gate.Install(http->server());
//
// Authentication off (no authenticator): everything passes. Thread-safe.
#ifndef GENFARM_SCHEDULER_AUTH_HTTP_GATE_H_
#define GENFARM_SCHEDULER_AUTH_HTTP_GATE_H_

#include <httplib.h>

#include <string>

#include "absl/status/status.h"
#include "scheduler/auth/audit_log.h"
#include "scheduler/auth/auth_metrics.h"
#include "scheduler/auth/authenticator.h"
#include "scheduler/auth/authorizer.h"
#include "scheduler/auth/token_store.h"

namespace genfarm::scheduler::auth {

class HttpGate {
 public:
  // `metrics_token_sha256`: hex digest of Prometheus' token; empty: none. `metrics` may be
  // null.
  HttpGate(const Authenticator* authenticator, const Authorizer& authorizer,
           const std::string& metrics_token_sha256, AuthMetrics* metrics = nullptr);

  // The decision for one request: OK, UNAUTHENTICATED or PERMISSION_DENIED.
  absl::Status Check(const std::string& path, const std::string& authorization_header,
                     const std::string& peer) const;

  // Runs Check before every route; refusals never reach a handler.
  void Install(httplib::Server& server) const;

  // Where refusals are recorded; null: nowhere. Set before Install; must outlive the server.
  void set_audit(AuditLog* audit) { audit_ = audit; }

 private:
  // Check, and who was calling (anonymous when the credentials proved nobody).
  absl::Status Decide(const std::string& path, const std::string& authorization_header,
                      const std::string& peer, Identity* who) const;

  const Authenticator* authenticator_;
  const Authorizer& authorizer_;
  TokenStore metrics_token_;
  AuthMetrics* metrics_;
  AuditLog* audit_ = nullptr;
};

}  // namespace genfarm::scheduler::auth

#endif  // GENFARM_SCHEDULER_AUTH_HTTP_GATE_H_
