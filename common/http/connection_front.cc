#include "common/http/connection_front.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace genfarm {

struct ConnectionFront::Connection {
  int fd = -1;
  SSL* ssl = nullptr;
  bool handshaken = false;
  bool tls_wants_write = false;  // the handshake or a read needs the socket writable
  bool tls_wants_read = false;   // a write needs the socket readable
  bool eof = false;              // the client shut its sending side

  std::string in;  // received; in[in_pos, ...) not consumed yet
  size_t in_pos = 0;
  size_t request_end = 0;  // while a complete request is out: where it ends in `in`
  std::string out;         // response bytes not sent yet, from out_pos
  size_t out_pos = 0;
  bool close_after_write = false;
  // After a refusal: the response is out and our side shut; what the client still sends is
  // read and dropped until it closes (or a short deadline), so closing with its bytes
  // unread does not reset the connection and destroy the response before it is read.
  bool lingering = false;

  bool started = false;  // a byte of the next request has arrived
  absl::Time deadline;   // of what it waits for now
  absl::Time idle_since;
  int served = 0;
  uint32_t watching = 0;  // epoll events registered for it (0: not in the epoll set)

  std::string peer_ip, local_ip;
  int peer_port = 0, local_port = 0;

  ~Connection() {
    if (ssl != nullptr) {
      if (handshaken) SSL_shutdown(ssl);  // close_notify, best effort (non-blocking)
      SSL_free(ssl);
      ERR_clear_error();
    }
    if (fd >= 0) ::close(fd);
  }
  size_t pending() const { return in.size() - in_pos; }
  bool writing() const { return out_pos < out.size(); }
};

namespace {

constexpr absl::Duration kTick = absl::Milliseconds(100);
constexpr size_t kReadChunk = 16 * 1024;
constexpr absl::Duration kLinger = absl::Seconds(2);

void AddressOf(const sockaddr_storage& addr, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
    port = ntohs(v4->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
    port = ntohs(v6->sin6_port);
  }
  ip = text;
}

// The request line and headers are httplib's to parse; this only finds where a request
// ends, to know when it has arrived in full, and refuses what no route would take. It is
// written here because httplib parses only from a blocking stream.
struct Framing {
  enum Kind { kIncomplete, kComplete, kRefuse } kind = kIncomplete;
  size_t length = 0;         // kComplete: bytes of the request, headers and body
  absl::string_view status;  // kRefuse: the status line
  absl::string_view reason;  // kRefuse: the body
};

Framing FrameRequest(absl::string_view pending, const HttpLimits& limits) {
  Framing f;
  const size_t end = pending.find("\r\n\r\n");
  if (end == absl::string_view::npos || end + 4 > limits.max_header_bytes) {
    if (end == absl::string_view::npos && pending.size() <= limits.max_header_bytes) return f;
    f.kind = Framing::kRefuse;
    f.status = "431 Request Header Fields Too Large";
    f.reason = "request headers are over the server's limit\n";
    return f;
  }
  absl::string_view headers = pending.substr(0, end + 2);
  uint64_t content_length = 0;
  bool has_length = false;
  size_t line_start = headers.find("\r\n") + 2;  // past the request line
  while (line_start < headers.size()) {
    const size_t line_end = headers.find("\r\n", line_start);
    absl::string_view line = headers.substr(line_start, line_end - line_start);
    line_start = line_end + 2;
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;  // httplib refuses it with 400
    absl::string_view name = absl::StripAsciiWhitespace(line.substr(0, colon));
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "transfer-encoding")) {
      f.kind = Framing::kRefuse;
      f.status = "411 Length Required";
      f.reason = "a request body needs a Content-Length\n";
      return f;
    }
    if (absl::EqualsIgnoreCase(name, "content-length")) {
      uint64_t n = 0;
      if (value.empty() || value.size() > 18 ||
          !std::all_of(value.begin(), value.end(), absl::ascii_isdigit) ||
          !absl::SimpleAtoi(value, &n) || (has_length && n != content_length)) {
        f.kind = Framing::kRefuse;
        f.status = "400 Bad Request";
        f.reason = "bad Content-Length\n";
        return f;
      }
      has_length = true;
      content_length = n;
    }
  }
  if (content_length > limits.max_body_bytes) {
    f.kind = Framing::kRefuse;
    f.status = "413 Payload Too Large";
    f.reason = "request body is over the server's limit\n";
    return f;
  }
  const size_t total = end + 4 + static_cast<size_t>(content_length);
  if (pending.size() < total) return f;
  f.kind = Framing::kComplete;
  f.length = total;
  return f;
}

// What a pool thread hands httplib: the request's bytes, already read, and a buffer for
// the response, which the epoll thread sends. Never blocks.
class BufferedStream : public httplib::Stream {
 public:
  explicit BufferedStream(ConnectionFront::Connection& conn);
  bool is_readable() const override;
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override;

 private:
  ConnectionFront::Connection& conn_;
};

}  // namespace

// Defined after Connection is complete.
BufferedStream::BufferedStream(ConnectionFront::Connection& conn) : conn_(conn) {}
bool BufferedStream::is_readable() const { return conn_.in_pos < conn_.request_end; }
ssize_t BufferedStream::read(char* ptr, size_t size) {
  const size_t n = std::min(size, conn_.request_end - conn_.in_pos);
  std::memcpy(ptr, conn_.in.data() + conn_.in_pos, n);
  conn_.in_pos += n;
  return static_cast<ssize_t>(n);
}
ssize_t BufferedStream::write(const char* ptr, size_t size) {
  conn_.out.append(ptr, size);
  return static_cast<ssize_t>(size);
}
void BufferedStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  ip = conn_.peer_ip;
  port = conn_.peer_port;
}
void BufferedStream::get_local_ip_and_port(std::string& ip, int& port) const {
  ip = conn_.local_ip;
  port = conn_.local_port;
}
socket_t BufferedStream::socket() const { return conn_.fd; }

ConnectionFront::ConnectionFront(HttpLimits limits, const Clock& clock, SSL_CTX* tls, Serve serve)
    : limits_(limits), clock_(clock), tls_(tls), serve_(std::move(serve)) {}

ConnectionFront::~ConnectionFront() {
  Stop();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

absl::Status ConnectionFront::Start() {
  absl::MutexLock lock(&mu_);
  if (started_) return absl::OkStatus();
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    return absl::InternalError(absl::StrCat("HTTP: cannot create epoll: ", std::strerror(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  started_ = true;
  epoll_thread_ = std::thread([this] { EpollLoop(); });
  for (int i = 0; i < std::max(1, limits_.threads); ++i) {
    pool_.emplace_back([this] { PoolLoop(); });
  }
  return absl::OkStatus();
}

void ConnectionFront::Adopt(int fd) {
  {
    absl::MutexLock lock(&mu_);
    if (!started_ || stopped_) {
      ::close(fd);
      return;
    }
    adopted_.push_back(fd);
    ++counts_.accepted;
  }
  open_.fetch_add(1);
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
}

void ConnectionFront::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    if (!started_) return;
  }
  stopping_.store(true);
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
  if (epoll_thread_.joinable()) epoll_thread_.join();
  for (std::thread& t : pool_) t.join();  // each finishes the handler it runs
  absl::MutexLock lock(&mu_);
  for (int fd : adopted_) ::close(fd);
  adopted_.clear();
  returned_.clear();
  ready_.clear();
  open_.store(0);
}

HttpFrontCounts ConnectionFront::counts() const {
  absl::MutexLock lock(&mu_);
  return counts_;
}

void ConnectionFront::Count(int64_t HttpFrontCounts::*field) {
  absl::MutexLock lock(&mu_);
  ++(counts_.*field);
}

void ConnectionFront::EpollLoop() {
  std::vector<epoll_event> events(64);
  while (!stopping_.load()) {
    const absl::Time now = clock_.Now();
    absl::Duration wait = kTick;
    for (const auto& [fd, conn] : waiting_) wait = std::min(wait, conn->deadline - now);
    const int ms = static_cast<int>(
        std::max<int64_t>(0, absl::ToInt64Milliseconds(wait + absl::Microseconds(999))));
    const int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), ms);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_fd_) {
        uint64_t drained = 0;
        (void)!::read(wake_fd_, &drained, sizeof(drained));
        continue;
      }
      auto it = waiting_.find(fd);
      if (it != waiting_.end()) OnEvent(*it->second, events[i].events);
    }
    std::vector<int> adopted;
    std::vector<std::unique_ptr<Connection>> returned;
    {
      absl::MutexLock lock(&mu_);
      adopted.swap(adopted_);
      returned.swap(returned_);
    }
    for (int fd : adopted) {
      auto conn = std::make_unique<Connection>();
      conn->fd = fd;
      sockaddr_storage addr{};
      socklen_t len = sizeof(addr);
      if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        AddressOf(addr, conn->peer_ip, conn->peer_port);
      }
      len = sizeof(addr);
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        AddressOf(addr, conn->local_ip, conn->local_port);
      }
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      if (tls_ != nullptr) {
        conn->ssl = SSL_new(tls_);
        if (conn->ssl == nullptr || SSL_set_fd(conn->ssl, fd) != 1) {
          ERR_clear_error();
          open_.fetch_sub(1);
          continue;  // conn's destructor closes the socket
        }
        SSL_set_accept_state(conn->ssl);
        SSL_set_mode(conn->ssl,
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
      }
      if (open_.load() > limits_.max_connections) EvictOldestFor(fd);
      if (open_.load() > limits_.max_connections) {  // nothing to evict: all are busy
        Count(&HttpFrontCounts::evicted);
        open_.fetch_sub(1);
        continue;
      }
      Register(std::move(conn));
    }
    for (auto& conn : returned) Register(std::move(conn));
    // Deadlines.
    const absl::Time after = clock_.Now();
    std::vector<int> expired;
    for (const auto& [fd, conn] : waiting_) {
      if (after >= conn->deadline) expired.push_back(fd);
    }
    for (int fd : expired) {
      Connection& conn = *waiting_[fd];
      if (conn.lingering) {
        Close(fd);
      } else if (conn.writing()) {  // the client does not take its response
        Count(&HttpFrontCounts::write_timeouts);
        Close(fd);
      } else if (conn.started || (conn.ssl != nullptr && !conn.handshaken && conn.served == 0)) {
        Count(&HttpFrontCounts::request_timeouts);
        if (conn.ssl != nullptr && !conn.handshaken) {
          Close(fd);  // no TLS to answer on
        } else {
          Refuse(conn, "408 Request Timeout");
        }
      } else {
        Close(fd);  // idle keep-alive
      }
    }
  }
  waiting_.clear();
}

void ConnectionFront::Register(std::unique_ptr<Connection> conn) {
  Connection& c = *conn;
  waiting_[c.fd] = std::move(conn);
  if (c.writing()) {
    c.deadline = clock_.Now() + limits_.write_timeout;
    if (!WriteAvailable(c)) return;
  } else if (c.close_after_write) {
    Close(c.fd);
    return;
  } else {
    NextRequest(c);
  }
  AfterIo(c);
}

void ConnectionFront::NextRequest(Connection& conn) {
  // What is already here of the next request (pipelined) has a full request_timeout; a
  // new connection has it too before its first byte.
  conn.idle_since = clock_.Now();
  conn.started = conn.pending() > 0;
  conn.deadline = conn.idle_since + (conn.started || conn.served == 0 ? limits_.request_timeout
                                                                      : limits_.keep_alive_timeout);
}

void ConnectionFront::OnEvent(Connection& conn, uint32_t events) {
  if ((events & (EPOLLERR | EPOLLHUP)) != 0 && (events & EPOLLIN) == 0) {
    Close(conn.fd);
    return;
  }
  if (conn.lingering) {  // drop what arrives, a few chunks an event (level-triggered)
    char buf[kReadChunk];
    for (int i = 0; i < 4; ++i) {
      const ssize_t n = ::recv(conn.fd, buf, sizeof(buf), 0);
      if (n > 0) continue;
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) Close(conn.fd);
      return;
    }
    return;
  }
  if (conn.writing()) {
    if (!WriteAvailable(conn)) return;
  } else if (!ReadAvailable(conn)) {
    return;
  }
  AfterIo(conn);
}

bool ConnectionFront::ReadAvailable(Connection& conn) {
  conn.tls_wants_write = false;
  if (conn.ssl != nullptr && !conn.handshaken) {
    const int r = SSL_do_handshake(conn.ssl);
    if (r != 1) {
      const int err = SSL_get_error(conn.ssl, r);
      ERR_clear_error();
      if (err == SSL_ERROR_WANT_READ) return true;
      if (err == SSL_ERROR_WANT_WRITE) {
        conn.tls_wants_write = true;
        return true;
      }
      Close(conn.fd);  // a failed handshake: plaintext on the TLS port, a bad client
      return false;
    }
    conn.handshaken = true;
  }
  const size_t cap = ReadCap();
  const size_t before = conn.pending();
  char buf[kReadChunk];
  while (conn.pending() < cap) {
    ssize_t n;
    if (conn.ssl != nullptr) {
      n = SSL_read(conn.ssl, buf, sizeof(buf));
      if (n <= 0) {
        const int err = SSL_get_error(conn.ssl, static_cast<int>(n));
        ERR_clear_error();
        if (err == SSL_ERROR_WANT_READ) break;
        if (err == SSL_ERROR_WANT_WRITE) {
          conn.tls_wants_write = true;
          break;
        }
        conn.eof = true;  // close_notify, or the socket ended
        break;
      }
    } else {
      n = ::recv(conn.fd, buf, sizeof(buf), 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
      if (n <= 0) {
        conn.eof = true;
        break;
      }
    }
    conn.in.append(buf, static_cast<size_t>(n));
  }
  if (conn.pending() > before && !conn.started) {
    conn.started = true;
    conn.deadline = clock_.Now() + limits_.request_timeout;
  }
  return true;
}

bool ConnectionFront::WriteAvailable(Connection& conn) {
  conn.tls_wants_read = false;
  while (conn.writing()) {
    const char* data = conn.out.data() + conn.out_pos;
    const size_t size = conn.out.size() - conn.out_pos;
    ssize_t n;
    if (conn.ssl != nullptr) {
      n = SSL_write(conn.ssl, data, static_cast<int>(std::min<size_t>(size, 1 << 30)));
      if (n <= 0) {
        const int err = SSL_get_error(conn.ssl, static_cast<int>(n));
        ERR_clear_error();
        conn.tls_wants_read = err == SSL_ERROR_WANT_READ;
        if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) return true;
        Close(conn.fd);
        return false;
      }
    } else {
      n = ::send(conn.fd, data, size, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
      if (n < 0) {
        Close(conn.fd);
        return false;
      }
    }
    conn.out_pos += static_cast<size_t>(n);
  }
  conn.out.clear();
  conn.out_pos = 0;
  if (conn.close_after_write && conn.lingering) {
    if (conn.ssl != nullptr && conn.handshaken) {
      SSL_shutdown(conn.ssl);
      ERR_clear_error();
    }
    ::shutdown(conn.fd, SHUT_WR);
    conn.close_after_write = false;
    conn.deadline = clock_.Now() + kLinger;
    Watch(conn, EPOLLIN);
    return false;
  }
  if (conn.close_after_write) {
    Close(conn.fd);
    return false;
  }
  NextRequest(conn);
  return true;
}

void ConnectionFront::AfterIo(Connection& conn) {
  if (conn.writing()) {
    Watch(conn, conn.tls_wants_read ? EPOLLIN : EPOLLOUT);
    return;
  }
  Framing f = FrameRequest(absl::string_view(conn.in).substr(conn.in_pos), limits_);
  // Records TLS decrypted but not yet taken (past the read cap) raise no epoll event.
  while (f.kind == Framing::kIncomplete && conn.ssl != nullptr && conn.handshaken && !conn.eof &&
         SSL_pending(conn.ssl) > 0 && conn.pending() < ReadCap()) {
    const size_t before = conn.pending();
    if (!ReadAvailable(conn)) return;
    if (conn.pending() == before) break;
    f = FrameRequest(absl::string_view(conn.in).substr(conn.in_pos), limits_);
  }
  if (f.kind == Framing::kRefuse) {
    Count(&HttpFrontCounts::refused);
    conn.out = absl::StrCat("HTTP/1.1 ", f.status, "\r\nConnection: close\r\n",
                            "Content-Type: text/plain\r\nContent-Length: ", f.reason.size(),
                            "\r\n\r\n", f.reason);
    conn.out_pos = 0;
    conn.close_after_write = true;
    conn.lingering = true;
    conn.deadline = clock_.Now() + limits_.write_timeout;
    if (WriteAvailable(conn)) Watch(conn, conn.tls_wants_read ? EPOLLIN : EPOLLOUT);
    return;
  }
  if (f.kind == Framing::kIncomplete) {
    if (conn.eof) {
      Close(conn.fd);
      return;
    }
    Watch(conn, conn.tls_wants_write ? EPOLLOUT : EPOLLIN);
    return;
  }
  // Complete: a pool thread runs it.
  conn.request_end = conn.in_pos + f.length;
  if (conn.watching != 0) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn.fd, nullptr);
    conn.watching = 0;
  }
  auto it = waiting_.find(conn.fd);
  std::unique_ptr<Connection> owned = std::move(it->second);
  waiting_.erase(it);
  absl::MutexLock lock(&mu_);
  ready_.push_back(std::move(owned));
}

void ConnectionFront::Refuse(Connection& conn, absl::string_view status_line) {
  conn.out =
      absl::StrCat("HTTP/1.1 ", status_line, "\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  conn.out_pos = 0;
  conn.close_after_write = true;
  conn.lingering = true;
  conn.deadline = clock_.Now() + limits_.write_timeout;
  if (WriteAvailable(conn)) Watch(conn, conn.tls_wants_read ? EPOLLIN : EPOLLOUT);
}

void ConnectionFront::Watch(Connection& conn, uint32_t events) {
  if (conn.watching == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = conn.fd;
  epoll_ctl(epoll_fd_, conn.watching == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, conn.fd, &ev);
  conn.watching = events;
}

void ConnectionFront::Close(int fd) {
  auto it = waiting_.find(fd);
  if (it == waiting_.end()) return;
  if (it->second->watching != 0) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  waiting_.erase(it);  // the destructor closes the socket
  open_.fetch_sub(1);
}

void ConnectionFront::EvictOldestFor(int new_fd) {
  // The connection idle the longest (waiting for its next request, nothing of it here);
  // else the one waiting longest for its request to arrive.
  int oldest = -1;
  bool oldest_idle = false;
  absl::Time since = absl::InfiniteFuture();
  for (const auto& [fd, conn] : waiting_) {
    if (fd == new_fd || conn->writing()) continue;
    const bool idle = !conn->started;
    if ((idle && !oldest_idle) || (idle == oldest_idle && conn->idle_since < since)) {
      oldest = fd;
      oldest_idle = idle;
      since = conn->idle_since;
    }
  }
  if (oldest < 0) return;
  Count(&HttpFrontCounts::evicted);
  Close(oldest);
}

void ConnectionFront::PoolLoop() {
  for (;;) {
    std::unique_ptr<Connection> conn;
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !ready_.empty() || stopped_;
      };
      mu_.Await(absl::Condition(&has_work));
      if (stopped_) return;
      conn = std::move(ready_.front());
      ready_.pop_front();
      ++counts_.served;
    }
    const bool close_connection =
        stopping_.load() || conn->eof || conn->served + 1 >= limits_.keep_alive_max_requests;
    bool connection_closed = false;
    bool ok = false;
    BufferedStream stream(*conn);
    try {
      ok = serve_(stream, close_connection, connection_closed);
    } catch (const std::exception&) {
      conn->out =
          "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    }
    ++conn->served;
    // The request is done, read in full or not; the next one starts after it.
    conn->in.erase(0, conn->request_end);
    conn->in_pos = 0;
    conn->request_end = 0;
    conn->out_pos = 0;
    conn->close_after_write = !ok || connection_closed || close_connection;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;  // conn closes here
      returned_.push_back(std::move(conn));
    }
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
  }
}

}  // namespace genfarm
