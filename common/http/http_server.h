// HttpServer: a daemon's HTTP side (/healthz, /metrics; on the scheduler also the dashboard and its
// JSON API) on cpp-httplib. Routes are added by the modules that own them before Start().
// Plain HTTP by default; HTTPS from a certificate and key (Debian's cpp-httplib is built
// with CPPHTTPLIB_OPENSSL_SUPPORT).
//
// httplib parses requests and routes them; its connections are handled by a
// ConnectionFront (connection_front.h): a slow or stalled client holds a socket, never one
// of the threads that run handlers, and every request, body and response is bounded in
// size and time (HttpLimits).
//
//   HttpServer http;   // or: GENFARM_ASSIGN_OR_RETURN(auto https, HttpServer::Https(cert, key));
//   http.server().Get("/healthz", [](const auto&, auto& res) { res.set_content("ok", "text/plain");
//   }); GENFARM_ASSIGN_OR_RETURN(int port, http.Start("127.0.0.1:0"));
#ifndef GENFARM_COMMON_HTTP_HTTP_SERVER_H_
#define GENFARM_COMMON_HTTP_HTTP_SERVER_H_

#include <httplib.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/http/connection_front.h"

namespace genfarm {

class HttpServer {
 public:
  // `clock` (deadlines; default the monotonic clock) must outlive this.
  explicit HttpServer(HttpLimits limits = {}, const Clock* clock = nullptr);
  ~HttpServer() { Stop(); }

  // HTTPS with the PEM certificate chain and private key at these paths.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Https(const std::string& cert_path,
                                                           const std::string& key_path,
                                                           HttpLimits limits = {},
                                                           const Clock* clock = nullptr);

  httplib::Server& server() { return *server_; }

  // Binds "host:port" (port 0 picks a free one) and serves on background threads.
  absl::StatusOr<int> Start(const std::string& address);
  void Stop();

  HttpFrontCounts counts() const { return front_->counts(); }
  int open_connections() const { return front_->open_connections(); }

 private:
  struct Tls {};
  HttpServer(Tls, const std::string& cert_path, const std::string& key_path, HttpLimits limits,
             const Clock* clock);

  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<ConnectionFront> front_;
  std::thread thread_;
};

}  // namespace genfarm

#endif  // GENFARM_COMMON_HTTP_HTTP_SERVER_H_
