#include "common/tls/scheduler_channel.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace genfarm::tls {

const char kLeaderOnlyServiceConfig[] =
    R"({"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":""}})";

namespace {

struct HostPort {
  std::string host;  // without brackets
  std::string port;
};

absl::StatusOr<HostPort> SplitHostPort(absl::string_view address) {
  HostPort out;
  if (absl::StartsWith(address, "[")) {  // [v6]:port
    const size_t close = address.find(']');
    if (close == absl::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("--scheduler: \"", address, "\" is not [IPV6]:PORT"));
    }
    out.host = std::string(address.substr(1, close - 1));
    out.port = std::string(address.substr(close + 2));
  } else {
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--scheduler: \"", address, "\" is not HOST:PORT"));
    }
    out.host = std::string(address.substr(0, colon));
    out.port = std::string(address.substr(colon + 1));
  }
  if (out.port.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--scheduler: \"", address, "\" has no port"));
  }
  return out;
}

bool IsIpLiteral(const std::string& host, int* family) {
  unsigned char buf[sizeof(in6_addr)];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) {
    *family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), buf) == 1) {
    *family = AF_INET6;
    return true;
  }
  return false;
}

// Every address `host` resolves to, as text, with its family.
absl::StatusOr<std::vector<std::pair<int, std::string>>> Resolve(const std::string& host) {
  int family = 0;
  if (IsIpLiteral(host, &family)) return std::vector<std::pair<int, std::string>>{{family, host}};
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("--scheduler: cannot resolve ", host, ": ", gai_strerror(rc)));
  }
  std::vector<std::pair<int, std::string>> out;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw =
        a->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
    if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) &&
        inet_ntop(a->ai_family, raw, text, sizeof(text)) != nullptr) {
      std::pair<int, std::string> entry{a->ai_family, text};
      bool seen = false;
      for (const auto& e : out) seen = seen || e == entry;
      if (!seen) out.push_back(std::move(entry));
    }
  }
  freeaddrinfo(found);
  return out;
}

}  // namespace

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
    if (absl::StrContains(parts[0], ":///") || absl::StartsWith(parts[0], "ipv4:") ||
        absl::StartsWith(parts[0], "ipv6:") || absl::StartsWith(parts[0], "unix:")) {
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
    absl::StatusOr<std::vector<std::pair<int, std::string>>> ips = Resolve(hp->host);
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

std::string SchedulerEndpoint::ToString() const {
  return ip.find(':') == std::string::npos ? absl::StrCat(ip, ":", port)
                                           : absl::StrCat("[", ip, "]:", port);
}

std::vector<SchedulerEndpoint> SchedulerEndpoints(const std::string& addresses, int max) {
  std::vector<SchedulerEndpoint> out;
  std::string tls_name;  // the first address's host: what the channel checks every one against
  for (absl::string_view part : absl::StrSplit(addresses, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (part.empty()) continue;
    if (absl::StrContains(part, ":///") || absl::StartsWith(part, "ipv4:") ||
        absl::StartsWith(part, "ipv6:") || absl::StartsWith(part, "unix:")) {
      return {};
    }
    absl::StatusOr<HostPort> hp = SplitHostPort(part);
    if (!hp.ok()) return {};
    if (tls_name.empty()) tls_name = hp->host;
    absl::StatusOr<std::vector<std::pair<int, std::string>>> ips = Resolve(hp->host);
    if (!ips.ok()) continue;
    for (const auto& entry : *ips) {
      if (static_cast<int>(out.size()) >= max) return out;
      out.push_back(SchedulerEndpoint{entry.second, hp->port, tls_name});
    }
  }
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
