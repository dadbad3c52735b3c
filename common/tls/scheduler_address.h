// Scheduler addresses as `--scheduler` and $GENFARM_SCHEDULER give them (HOST:PORT, [V6]:PORT,
// several comma-separated, or a gRPC URI), split and resolved. Plain C++ (getaddrinfo), no
// gRPC: scheduler_channel.h turns them into a channel, server_check.h connects to each.
//
//   for (const SchedulerEndpoint& e : SchedulerEndpoints("sched-a:7070,sched-b:7070", 8))
//     Connect(e.ip, e.port);   // e.tls_name: "sched-a", what the certificate must carry
#ifndef GENFARM_COMMON_TLS_SCHEDULER_ADDRESS_H_
#define GENFARM_COMMON_TLS_SCHEDULER_ADDRESS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace genfarm::tls {

// dns:///..., ipv4:..., ipv6:..., unix:...: a target for gRPC's own resolvers, used as given.
bool IsGrpcUri(absl::string_view address);

struct HostPort {
  std::string host;  // without brackets
  std::string port;
};

// "host:port" or "[v6]:port"; errors name --scheduler and the value.
absl::StatusOr<HostPort> SplitHostPort(absl::string_view address);

// Whether `host` is an IPv4 or IPv6 literal, and which (AF_INET, AF_INET6).
bool IsIpLiteral(const std::string& host, int* family);

// Every address `host` resolves to, as text, with its family, without repeats; a literal is
// itself. Unavailable, naming the host, when it does not resolve.
absl::StatusOr<std::vector<std::pair<int, std::string>>> ResolveHost(const std::string& host);

// One scheduler to connect to by hand: its address, and the name its certificate must carry,
// the one the channel checks it against.
struct SchedulerEndpoint {
  std::string ip;  // a literal, without brackets
  std::string port;
  std::string tls_name;  // a host name or an IP literal

  std::string ToString() const;  // "127.0.0.1:7070", "[::1]:7070"
};

// Every address `addresses` names, resolved, at most `max` of them; tls_name is the first
// address's host, as the channel checks every certificate against it. A gRPC URI or an
// unparseable value gives none: such a target is the caller's own. A name that does not
// resolve is skipped.
std::vector<SchedulerEndpoint> SchedulerEndpoints(const std::string& addresses, int max);

}  // namespace genfarm::tls

#endif  // GENFARM_COMMON_TLS_SCHEDULER_ADDRESS_H_
