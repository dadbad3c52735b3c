#include "common/http/http_server.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace genfarm {

absl::StatusOr<int> HttpServer::Start(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("http address '", address, "': expected HOST:PORT"));
  }
  const std::string host = address.substr(0, colon);
  if (port == 0) {
    port = server_.bind_to_any_port(host);
  } else if (!server_.bind_to_port(host, port)) {
    port = -1;
  }
  if (port < 0) return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", address));
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  return port;
}

void HttpServer::Stop() {
  server_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace genfarm
