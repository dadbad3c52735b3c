// Secure by default: the scheduler serves a non-loopback address only with TLS and
// authentication, unless the operator says --insecure. Whoever reaches an open scheduler owns
// the farm (cancels jobs, drains workers, poses as a worker), so plaintext is kept to the
// machine itself unless someone asks for it by name.
//
//   ListenSecurity s{{{"--listen", "0.0.0.0:7070"}, {"--http", "127.0.0.1:7080"}},
//                    /*tls=*/false, /*authentication=*/false, /*insecure=*/false};
//   absl::StatusOr<std::string> warning = CheckListenSecurity(s);  // error names --insecure
#ifndef GENFARM_SCHEDULER_AUTH_LISTEN_POLICY_H_
#define GENFARM_SCHEDULER_AUTH_LISTEN_POLICY_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace genfarm::scheduler::auth {

struct ListenSecurity {
  // (flag, "HOST:PORT") for each port served; empty addresses (a port turned off) are skipped.
  std::vector<std::pair<std::string, std::string>> addresses;
  bool tls = false;
  bool authentication = false;
  bool insecure = false;
};

// 127.0.0.0/8, ::1 and "localhost". An empty host, 0.0.0.0 and [::] listen everywhere.
bool IsLoopbackHost(absl::string_view host);

// The host part of "HOST:PORT" or "[V6]:PORT".
std::string HostOf(absl::string_view address);

// OK with an empty string when the addresses are safe as configured; OK with a warning to log
// loudly when --insecure lets a non-loopback address go without TLS or authentication;
// FAILED_PRECONDITION naming the address, what is missing and --insecure otherwise.
absl::StatusOr<std::string> CheckListenSecurity(const ListenSecurity& security);

}  // namespace genfarm::scheduler::auth

#endif  // GENFARM_SCHEDULER_AUTH_LISTEN_POLICY_H_
