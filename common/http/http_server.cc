#include "common/http/http_server.h"

#include <sys/socket.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace genfarm {

HttpServer::HttpServer() : server_(std::make_unique<httplib::Server>()) {}

HttpServer::HttpServer(std::unique_ptr<httplib::Server> server) : server_(std::move(server)) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Https(const std::string& cert_path,
                                                              const std::string& key_path) {
  auto server = std::make_unique<httplib::SSLServer>(cert_path.c_str(), key_path.c_str());
  if (!server->is_valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTPS: cannot use certificate ", cert_path, " with key ", key_path));
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(server)));
}

absl::StatusOr<int> HttpServer::Start(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("http address '", address, "': expected HOST:PORT"));
  }
  const std::string host = address.substr(0, colon);
  // cpp-httplib's default also sets SO_REUSEPORT, which lets a second daemon "bind" a port
  // another one already serves and split its requests at random. SO_REUSEADDR alone keeps
  // quick restarts working and makes a taken port an error.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
  });
  if (port == 0) {
    port = server_->bind_to_any_port(host);
  } else if (!server_->bind_to_port(host, port)) {
    port = -1;
  }
  if (port < 0) return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", address));
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return port;
}

void HttpServer::Stop() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace genfarm
