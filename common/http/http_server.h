// HttpServer: a daemon's HTTP side (/healthz, /metrics; on the scheduler also the dashboard and its
// JSON API) on cpp-httplib, listening on its own threads. Routes are added by the
// modules that own them before Start(). Plain HTTP by default; HTTPS from a certificate and
// key (Debian's cpp-httplib is built with CPPHTTPLIB_OPENSSL_SUPPORT).
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

namespace genfarm {

class HttpServer {
 public:
  HttpServer();
  ~HttpServer() { Stop(); }

  // HTTPS with the PEM certificate chain and private key at these paths.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Https(const std::string& cert_path,
                                                           const std::string& key_path);

  httplib::Server& server() { return *server_; }

  // Binds "host:port" (port 0 picks a free one) and serves on a background thread.
  absl::StatusOr<int> Start(const std::string& address);
  void Stop();

 private:
  explicit HttpServer(std::unique_ptr<httplib::Server> server);

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace genfarm

#endif  // GENFARM_COMMON_HTTP_HTTP_SERVER_H_
