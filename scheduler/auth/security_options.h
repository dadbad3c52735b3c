// SecurityOptions: how the scheduler secures its two ports, as main.cc's flags give it:
// TLS files for both, the roles file that turns authentication and authorization on, the
// Prometheus credential for /metrics, and --insecure. See docs/security.md.
//
//   SecurityOptions security;
//   GENFARM_ASSIGN_OR_RETURN(security.tls, tls::LoadTlsFiles(files));
//   security.roles_file = "/etc/genfarm/roles.yaml";
//   options.security = security;   // SchedulerServerOptions
#ifndef GENFARM_SCHEDULER_AUTH_SECURITY_OPTIONS_H_
#define GENFARM_SCHEDULER_AUTH_SECURITY_OPTIONS_H_

#include <string>

#include "absl/time/time.h"
#include "common/tls/tls_files.h"

namespace genfarm::scheduler::auth {

struct SecurityOptions {
  // Certificate and key for both ports (gRPC and HTTPS); the CA (--tls_client_ca) verifies
  // the client certificates of workers and of people who use one. No certificate: plaintext.
  tls::TlsPem tls;
  // The roles file (roles_file.h); empty turns authentication off. Requires TLS.
  std::string roles_file;
  // How often the roles file's modification time is checked for a reload.
  absl::Duration roles_reload_period = absl::Seconds(2);
  // A file holding the bearer token Prometheus sends for /metrics and /sd/workers; only its
  // hash is kept. Empty: /metrics needs an ops person's token when authentication is on.
  std::string metrics_token_file;
  // Lets a non-loopback address go without TLS or authentication (listen_policy.h).
  bool insecure = false;

  bool authentication() const { return !roles_file.empty(); }
};

}  // namespace genfarm::scheduler::auth

#endif  // GENFARM_SCHEDULER_AUTH_SECURITY_OPTIONS_H_
