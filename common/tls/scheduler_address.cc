#include "common/tls/scheduler_address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace genfarm::tls {

bool IsGrpcUri(absl::string_view address) {
  return absl::StrContains(address, ":///") || absl::StartsWith(address, "ipv4:") ||
         absl::StartsWith(address, "ipv6:") || absl::StartsWith(address, "unix:");
}

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

absl::StatusOr<std::vector<std::pair<int, std::string>>> ResolveHost(const std::string& host) {
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
    if (IsGrpcUri(part)) return {};
    absl::StatusOr<HostPort> hp = SplitHostPort(part);
    if (!hp.ok()) return {};
    if (tls_name.empty()) tls_name = hp->host;
    absl::StatusOr<std::vector<std::pair<int, std::string>>> ips = ResolveHost(hp->host);
    if (!ips.ok()) continue;
    for (const auto& entry : *ips) {
      if (static_cast<int>(out.size()) >= max) return out;
      out.push_back(SchedulerEndpoint{entry.second, hp->port, tls_name});
    }
  }
  return out;
}

}  // namespace genfarm::tls
