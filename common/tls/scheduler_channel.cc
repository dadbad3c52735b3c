#include "common/tls/scheduler_channel.h"

#include <sys/socket.h>

#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/tls/scheduler_address.h"

namespace genfarm::tls {

const char kLeaderOnlyServiceConfig[] =
    R"({"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":""}})";

absl::StatusOr<SchedulerTarget> ParseSchedulerTarget(const std::string& addresses) {
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(addresses, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (!part.empty()) parts.emplace_back(part);
  }
  if (parts.empty()) return absl::InvalidArgumentError("--scheduler: no address given");
  SchedulerTarget out;
  out.addresses = static_cast<int>(parts.size());
  if (parts.size() == 1) {
    out.target = parts[0];
    // A URI (dns:///..., ipv4:..., unix:...) is the caller's own choice of resolver.
    if (IsGrpcUri(parts[0])) {
      out.balanced = !absl::StartsWith(parts[0], "unix:");
      return out;
    }
    absl::StatusOr<HostPort> hp = SplitHostPort(parts[0]);
    if (!hp.ok()) return hp.status();
    int family = 0;
    // A name may have several records (a headless Kubernetes service): find the leader among
    // them. A literal IP is one scheduler: a plain channel, as ever.
    out.balanced = !IsIpLiteral(hp->host, &family);
    return out;
  }
  std::vector<std::string> v4;
  std::vector<std::string> v6;
  absl::Status unresolved;
  for (const std::string& part : parts) {
    absl::StatusOr<HostPort> hp = SplitHostPort(part);
    if (!hp.ok()) return hp.status();
    if (out.authority.empty()) out.authority = part;
    absl::StatusOr<std::vector<std::pair<int, std::string>>> ips = ResolveHost(hp->host);
    // One scheduler's name missing from DNS (its host is gone) must not cut the client off
    // from the others.
    if (!ips.ok()) {
      unresolved = ips.status();
      continue;
    }
    for (const auto& [family, ip] : *ips) {
      if (family == AF_INET) v4.push_back(absl::StrCat(ip, ":", hp->port));
      if (family == AF_INET6) v6.push_back(absl::StrCat("[", ip, "]:", hp->port));
    }
  }
  if (v4.empty() && v6.empty()) return unresolved;
  // One target takes one family; IPv4 when there is any (the usual farm network).
  out.target = !v4.empty() ? absl::StrCat("ipv4:", absl::StrJoin(v4, ","))
                           : absl::StrCat("ipv6:", absl::StrJoin(v6, ","));
  out.balanced = true;
  return out;
}

std::shared_ptr<grpc::Channel> CreateSchedulerChannel(
    const SchedulerTarget& target, std::shared_ptr<grpc::ChannelCredentials> credentials,
    grpc::ChannelArguments args) {
  if (credentials == nullptr) credentials = grpc::InsecureChannelCredentials();
  if (target.balanced) {
    args.SetServiceConfigJSON(kLeaderOnlyServiceConfig);
    if (!target.authority.empty()) {
      // An ipv4: list has no host name to send or to check the certificate against.
      args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, target.authority);
      args.SetSslTargetNameOverride(target.authority.substr(0, target.authority.rfind(':')));
    }
  }
  return grpc::CreateCustomChannel(target.target, credentials, args);
}

}  // namespace genfarm::tls
