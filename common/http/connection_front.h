// ConnectionFront: the connection handling under a daemon's HTTP server (HttpServer).
//
// Why it exists: cpp-httplib 0.11.4 serves each connection on one pool thread (8 of them)
// from accept to close, waiting on the socket for every byte, with no deadline on a whole
// request. Twenty clients that trickle a header byte every two seconds, no credentials
// needed, held every thread: /healthz, /metrics and the dashboard stopped answering (and a
// worker's liveness probe is that /healthz). httplib has no option against it and no hook
// on an accepted socket except its (private virtual) process_and_close_socket, so the
// connection is taken from there; parsing, routing and the handlers stay httplib's
// (Server::process_request, called with a Stream over the bytes read here).
//
// How: every connection waits in one epoll thread, costing no thread, while its request
// arrives (TLS: the handshake and decryption happen there too) and while its response is
// written. A pool thread runs only a complete request (headers and body, already read) and
// its handler; the response goes to a per-connection buffer that the epoll thread sends.
// So a slow or stalled client holds a socket and its buffers, never a thread.
//
// Bounds (HttpLimits): a request must arrive in full within `request_timeout` of its first
// byte, an idle keep-alive connection is closed after `keep_alive_timeout`, a response must
// be taken by the client within `write_timeout`, headers up to `max_header_bytes` (431),
// a body only with Content-Length (411) and up to `max_body_bytes` (413), at most
// `max_connections` open: a new connection closes the longest-idle one (a flood of idle
// connections cannot lock a new client out).
//
//   MonotonicClock clock;
//   ConnectionFront front(limits, clock, ssl_ctx_or_null,
//                         [&](httplib::Stream& s, bool close, bool& closed) {
//                           return server.Process(s, close, closed);   // httplib's parser
//                         });
//   front.Start();
//   front.Adopt(fd);   // an accepted socket; the front owns it from here
//   front.Stop();      // closes every connection, waits for running handlers
//
// Thread-safe: Adopt() from any thread. Deadlines are read from the injected clock;
// socket waits are real time, in ticks of at most 100 ms, so a fake clock's Advance()
// takes effect within a tick.
#ifndef GENFARM_COMMON_HTTP_CONNECTION_FRONT_H_
#define GENFARM_COMMON_HTTP_CONNECTION_FRONT_H_

#include <httplib.h>
#include <openssl/ssl.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace genfarm {

struct HttpLimits {
  int threads = 8;  // handlers running at once
  int max_connections = 512;
  size_t max_header_bytes = 64 * 1024;
  size_t max_body_bytes = 64 * 1024;  // no route takes an upload
  absl::Duration request_timeout = absl::Seconds(10);
  absl::Duration keep_alive_timeout = absl::Seconds(5);
  absl::Duration write_timeout = absl::Seconds(30);
  int keep_alive_max_requests = 100;
};

// What each connection was closed for, counted (tests and logs read them).
struct HttpFrontCounts {
  int64_t accepted = 0;
  int64_t served = 0;            // requests handed to the handler
  int64_t request_timeouts = 0;  // request not complete within request_timeout (408)
  int64_t write_timeouts = 0;    // response not taken within write_timeout
  int64_t refused = 0;           // 400, 411, 413, 431 before the handler
  int64_t evicted =
      0;  // at max_connections: the longest idle closed, or the new one if all are busy
};

class ConnectionFront {
 public:
  // httplib's Server::process_request on one request: reads it from `stream`, runs the
  // handler, writes the response. Returns false when the connection must close.
  using Serve =
      std::function<bool(httplib::Stream& stream, bool close_connection, bool& connection_closed)>;

  // `tls`: null for plain HTTP; else the context each connection's handshake uses (not
  // owned, must outlive this).
  ConnectionFront(HttpLimits limits, const Clock& clock, SSL_CTX* tls, Serve serve);
  ~ConnectionFront();  // Stop()s
  ConnectionFront(const ConnectionFront&) = delete;
  ConnectionFront& operator=(const ConnectionFront&) = delete;

  absl::Status Start();
  // Takes ownership of an accepted socket. After Stop(), closes it.
  void Adopt(int fd);
  void Stop();

  HttpFrontCounts counts() const;
  int open_connections() const { return open_.load(); }

  struct Connection;  // one socket's state; defined in the .cc

 private:
  void EpollLoop();
  void PoolLoop();
  void Register(std::unique_ptr<Connection> conn);  // into the waiting room (epoll thread)
  void OnEvent(Connection& conn, uint32_t events);
  bool ReadAvailable(Connection& conn);   // false: closed
  bool WriteAvailable(Connection& conn);  // false: closed
  void AfterIo(Connection& conn);         // dispatch, or wait for more
  void NextRequest(Connection& conn);     // after a response: wait for the next request
  // Enough for one request at its limits; what is beyond waits in the kernel.
  size_t ReadCap() const { return limits_.max_header_bytes + limits_.max_body_bytes + 16 * 1024; }
  void Watch(Connection& conn, uint32_t events);
  void Close(int fd);  // a waiting connection
  void Refuse(Connection& conn, absl::string_view status_line);
  void EvictOldestFor(int new_fd);
  void Count(int64_t HttpFrontCounts::*field);

  const HttpLimits limits_;
  const Clock& clock_;
  SSL_CTX* const tls_;
  const Serve serve_;

  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: Adopt() and finished requests wake the epoll thread
  std::thread epoll_thread_;
  std::vector<std::thread> pool_;
  std::atomic<int> open_{0};
  std::atomic<bool> stopping_{false};

  // Only the epoll thread touches waiting_.
  std::map<int, std::unique_ptr<Connection>> waiting_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<int> adopted_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Connection>> returned_ ABSL_GUARDED_BY(mu_);  // from the pool
  std::deque<std::unique_ptr<Connection>> ready_ ABSL_GUARDED_BY(mu_);      // for the pool
  HttpFrontCounts counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace genfarm

#endif  // GENFARM_COMMON_HTTP_CONNECTION_FRONT_H_
