#include "common/http/http_server.h"

#include <sys/socket.h>

#include <chrono>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace genfarm {
namespace {

// The accept loop hands each socket to the front at once, so it needs no thread pool.
class InlineTaskQueue : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override {}
};

// An httplib server whose accepted sockets go to a ConnectionFront, which calls back
// Process() (httplib's own request parsing and routing) for each complete request.
// process_and_close_socket is httplib's only hook on an accepted socket; overriding a
// private virtual is allowed, and replaces httplib's connection loop (one thread per
// connection) entirely.
template <typename Base>
class FrontedServer : public Base {
 public:
  using Base::Base;
  void set_front(ConnectionFront* front) { front_ = front; }
  bool Process(httplib::Stream& stream, bool close_connection, bool& connection_closed) {
    return this->process_request(stream, close_connection, connection_closed, nullptr);
  }

 private:
  bool process_and_close_socket(socket_t sock) override {
    front_->Adopt(sock);
    return true;
  }
  ConnectionFront* front_ = nullptr;
};

const Clock& DefaultClock(const Clock* clock) {
  static const MonotonicClock* const monotonic = new MonotonicClock;
  return clock != nullptr ? *clock : *monotonic;
}

template <typename Base>
std::unique_ptr<ConnectionFront> Wire(FrontedServer<Base>& server, SSL_CTX* tls,
                                      const HttpLimits& limits, const Clock& clock) {
  auto front = std::make_unique<ConnectionFront>(
      limits, clock, tls, [&server](httplib::Stream& s, bool close, bool& closed) {
        return server.Process(s, close, closed);
      });
  server.set_front(front.get());
  server.new_task_queue = [] { return new InlineTaskQueue; };
  // httplib writes these in its Keep-Alive header and checks the body size itself too.
  server.set_keep_alive_max_count(static_cast<size_t>(limits.keep_alive_max_requests));
  server.set_keep_alive_timeout(
      static_cast<time_t>(absl::ToInt64Seconds(limits.keep_alive_timeout)));
  server.set_payload_max_length(limits.max_body_bytes);
  return front;
}

}  // namespace

HttpServer::HttpServer(HttpLimits limits, const Clock* clock) {
  auto server = std::make_unique<FrontedServer<httplib::Server>>();
  front_ = Wire(*server, nullptr, limits, DefaultClock(clock));
  server_ = std::move(server);
}

HttpServer::HttpServer(Tls, const std::string& cert_path, const std::string& key_path,
                       HttpLimits limits, const Clock* clock) {
  auto server =
      std::make_unique<FrontedServer<httplib::SSLServer>>(cert_path.c_str(), key_path.c_str());
  SSL_CTX* ctx = server->is_valid() ? server->ssl_context() : nullptr;
  front_ = Wire(*server, ctx, limits, DefaultClock(clock));
  server_ = std::move(server);
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Https(const std::string& cert_path,
                                                              const std::string& key_path,
                                                              HttpLimits limits,
                                                              const Clock* clock) {
  std::unique_ptr<HttpServer> https(new HttpServer(Tls{}, cert_path, key_path, limits, clock));
  if (!https->server_->is_valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTPS: cannot use certificate ", cert_path, " with key ", key_path));
  }
  return https;
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
  if (absl::Status s = front_->Start(); !s.ok()) return s;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return port;
}

void HttpServer::Stop() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
  front_->Stop();
}

}  // namespace genfarm
