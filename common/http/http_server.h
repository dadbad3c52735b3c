// HttpServer: a daemon's HTTP side (/healthz, /metrics; on the scheduler also the dashboard and its
// JSON API) on cpp-httplib, listening on its own threads. Routes are added by the
// modules that own them before Start().
//
//   HttpServer http;
//   http.server().Get("/healthz", [](const auto&, auto& res) { res.set_content("ok", "text/plain");
//   }); GENFARM_ASSIGN_OR_RETURN(int port, http.Start("127.0.0.1:0"));
#ifndef GENFARM_COMMON_HTTP_HTTP_SERVER_H_
#define GENFARM_COMMON_HTTP_HTTP_SERVER_H_

#include <httplib.h>

#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace genfarm {

class HttpServer {
 public:
  HttpServer() = default;
  ~HttpServer() { Stop(); }

  httplib::Server& server() { return server_; }

  // Binds "host:port" (port 0 picks a free one) and serves on a background thread.
  absl::StatusOr<int> Start(const std::string& address);
  void Stop();

 private:
  httplib::Server server_;
  std::thread thread_;
};

}  // namespace genfarm

#endif  // GENFARM_COMMON_HTTP_HTTP_SERVER_H_
