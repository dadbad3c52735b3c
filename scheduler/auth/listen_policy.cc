#include "scheduler/auth/listen_policy.h"

#include <arpa/inet.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace genfarm::scheduler::auth {

std::string HostOf(absl::string_view address) {
  if (absl::StartsWith(address, "[")) {
    const size_t close = address.find(']');
    return std::string(
        address.substr(1, close == absl::string_view::npos ? absl::string_view::npos : close - 1));
  }
  const size_t colon = address.rfind(':');
  return std::string(colon == absl::string_view::npos ? address : address.substr(0, colon));
}

bool IsLoopbackHost(absl::string_view host) {
  if (host == "localhost") return true;
  const std::string h(host);
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    static const in6_addr kLoopback = IN6ADDR_LOOPBACK_INIT;
    return std::equal(std::begin(v6.s6_addr), std::end(v6.s6_addr), std::begin(kLoopback.s6_addr));
  }
  return false;  // a name: it may resolve anywhere
}

absl::StatusOr<std::string> CheckListenSecurity(const ListenSecurity& security) {
  if (security.tls && security.authentication) return std::string();
  std::vector<std::string> open;
  for (const auto& [flag, address] : security.addresses) {
    if (address.empty() || IsLoopbackHost(HostOf(address))) continue;
    open.push_back(absl::StrCat(flag, " ", address));
  }
  if (open.empty()) return std::string();
  std::vector<std::string> missing;
  if (!security.tls) missing.push_back("TLS (--tls_cert, --tls_key)");
  if (!security.authentication) missing.push_back("authentication (--roles)");
  const std::string what =
      absl::StrCat(absl::StrJoin(open, " and "), " is not a loopback address and the scheduler ",
                   "has no ", absl::StrJoin(missing, " and no "));
  if (!security.insecure) {
    return absl::FailedPreconditionError(absl::StrCat(
        what,
        ": anyone who can reach it could cancel jobs, drain workers and pose as a worker. Give ",
        absl::StrJoin(missing, " and "),
        " (docs/security.md), listen on 127.0.0.1, or pass --insecure to serve it like this "
        "anyway."));
  }
  return absl::StrCat("INSECURE (--insecure): ", what,
                      ". Anyone who can reach it controls the farm.");
}

}  // namespace genfarm::scheduler::auth
