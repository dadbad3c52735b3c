// HttpServer on loopback: requests, keep-alive and pipelining through the ConnectionFront,
// and the bounds that keep slow, stalled or oversized clients from holding the handlers.
// Real sockets and real (short) timeouts: each wait is on a socket with a deadline.
#include "common/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A raw client socket, for what a well-behaved client would not do.
class RawClient {
 public:
  explicit RawClient(int port, int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    timeval tv{5, 0};  // no read in these tests waits longer
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawClient() { ::close(fd_); }
  bool connected() const { return connected_; }
  bool Send(const std::string& data) {
    return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // Everything until the server closes the connection (or 5 s pass, or `until` appears
  // `count` times).
  std::string Read(const std::string& until = "", int count = 1) {
    std::string got;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
      if (!until.empty() && Occurrences(got, until) >= count) break;
    }
    return got;
  }
  // True when the server closed the connection (EOF) before 5 s.
  bool ClosedByServer() {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }
  static int Occurrences(const std::string& s, const std::string& what) {
    int n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

void AddRoutes(HttpServer& http) {
  http.server().Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  http.server().Get("/peer", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.remote_addr, "text/plain");
  });
  http.server().Get("/big", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(32 << 20, 'x'), "application/octet-stream");
  });
}

httplib::Result Get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(3);
  client.set_read_timeout(3);
  return client.Get(path.c_str());
}

template <typename Pred>
bool WaitFor(Pred pred) {
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (absl::Now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a counter
  }
  return pred();
}

TEST(HttpServerTest, ServesKeepAliveAndPipelinedRequestsWithThePeerAddress) {
  HttpServer http;
  AddRoutes(http);
  absl::StatusOr<int> port = http.Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  httplib::Result res = Get(*port, "/peer");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "127.0.0.1");

  RawClient raw(*port);
  ASSERT_TRUE(raw.connected());
  ASSERT_TRUE(
      raw.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /peer HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string got = raw.Read("127.0.0.1");
  EXPECT_EQ(RawClient::Occurrences(got, "HTTP/1.1 200 OK"), 2) << got;
  EXPECT_THAT(got, HasSubstr("ok\n"));
  // The same connection takes another request after both answers.
  ASSERT_TRUE(raw.Send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  EXPECT_THAT(raw.Read(), StartsWith("HTTP/1.1 200 OK"));
}

// The finding: clients trickling a header byte at a time held httplib's 8 threads, and
// /healthz stopped answering. Default limits, as the daemons run.
TEST(HttpServerTest, ClientsTricklingHeadersDoNotStopOtherRequests) {
  HttpServer http;
  AddRoutes(http);
  absl::StatusOr<int> port = http.Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 24; ++i) {
    slow.push_back(std::make_unique<RawClient>(*port));
    ASSERT_TRUE(slow.back()->connected());
    ASSERT_TRUE(slow.back()->Send("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  }
  std::atomic<bool> done{false};
  std::thread trickle([&] {
    while (!done.load()) {
      for (auto& c : slow) c->Send("X");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the attack's pace
    }
  });
  for (int i = 0; i < 5; ++i) {
    httplib::Result res = Get(*port, "/healthz");
    EXPECT_TRUE(res) << "request " << i << " got no answer while 24 clients trickle";
    if (res) {
      EXPECT_EQ(res->status, 200);
    }
  }
  done.store(true);
  trickle.join();
}

TEST(HttpServerTest, RequestNotCompleteInTimeGets408AndIdleConnectionsClose) {
  HttpLimits limits;
  limits.request_timeout = absl::Milliseconds(300);
  limits.keep_alive_timeout = absl::Milliseconds(300);
  HttpServer http(limits);
  AddRoutes(http);
  absl::StatusOr<int> port = http.Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();

  RawClient partial(*port);
  ASSERT_TRUE(partial.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  EXPECT_THAT(partial.Read(), StartsWith("HTTP/1.1 408 Request Timeout"));
  EXPECT_EQ(http.counts().request_timeouts, 1);

  RawClient silent(*port);  // connects, says nothing
  EXPECT_TRUE(silent.ClosedByServer());

  RawClient kept(*port);  // one answer, then idle past keep_alive_timeout
  ASSERT_TRUE(kept.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_THAT(kept.Read("ok\n"), StartsWith("HTTP/1.1 200 OK"));
  EXPECT_TRUE(kept.ClosedByServer());
}

TEST(HttpServerTest, RefusesOversizedOrUnframedRequestsBeforeTheHandler) {
  HttpLimits limits;
  limits.max_header_bytes = 4096;
  limits.max_body_bytes = 100;
  HttpServer http(limits);
  int handled = 0;
  http.server().Get("/healthz", [&handled](const httplib::Request&, httplib::Response& res) {
    ++handled;
    res.set_content("ok\n", "text/plain");
  });
  absl::StatusOr<int> port = http.Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  struct Case {
    std::string request;
    std::string status;
  };
  const std::vector<Case> cases = {
      {"GET /healthz HTTP/1.1\r\nX: " + std::string(5000, 'a') + "\r\n\r\n", "431"},
      {"GET /healthz HTTP/1.1\r\nX: " + std::string(5000, 'a'), "431"},  // never ends
      {"GET /healthz HTTP/1.1\r\nContent-Length: 101\r\n\r\n", "413"},
      {"GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "411"},
      {"GET /healthz HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "400"},
      {"GET /healthz HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "400"},
  };
  for (const Case& c : cases) {
    RawClient raw(*port);
    ASSERT_TRUE(raw.Send(c.request));
    EXPECT_THAT(raw.Read(), StartsWith("HTTP/1.1 " + c.status)) << c.request.substr(0, 60);
  }
  EXPECT_EQ(handled, 0);
  EXPECT_EQ(http.counts().refused, static_cast<int64_t>(cases.size()));
  // A body within the limit is read in full before the handler runs.
  RawClient ok(*port);
  ASSERT_TRUE(ok.Send("GET /healthz HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"));
  ASSERT_TRUE(ok.Send("hello"));
  EXPECT_THAT(ok.Read(), StartsWith("HTTP/1.1 200 OK"));
  EXPECT_EQ(handled, 1);
}

TEST(HttpServerTest, ConnectionCapClosesTheLongestIdleForANewClient) {
  HttpLimits limits;
  limits.max_connections = 4;
  HttpServer http(limits);
  AddRoutes(http);
  absl::StatusOr<int> port = http.Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(std::make_unique<RawClient>(*port));
    ASSERT_TRUE(WaitFor([&] { return http.open_connections() == i + 1; }));
  }
  httplib::Result res = Get(*port, "/healthz");
  ASSERT_TRUE(res) << "a new client was locked out by 4 idle connections";
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(idle.front()->ClosedByServer());  // the longest idle made room
  EXPECT_GE(http.counts().evicted, 1);
}

TEST(HttpServerTest, ClientThatDoesNotTakeItsResponseIsDroppedWithoutHoldingAThread) {
  HttpLimits limits;
  limits.threads = 1;
  limits.write_timeout = absl::Milliseconds(500);
  HttpServer http(limits);
  AddRoutes(http);
  absl::StatusOr<int> port = http.Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  RawClient stalled(*port, /*rcvbuf=*/4096);
  ASSERT_TRUE(stalled.Send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));  // never reads
  ASSERT_TRUE(WaitFor([&] { return http.counts().served == 1; }));
  // The one handler thread is free while 32 MiB wait for the stalled client.
  httplib::Result res = Get(*port, "/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(WaitFor([&] { return http.counts().write_timeouts == 1; }));
}

// HTTPS: the handshake and decryption happen in the front; a client that stalls in the
// handshake or speaks plaintext holds no thread and is dropped.
TEST(HttpServerTest, HttpsServesAndDropsStalledOrPlaintextHandshakes) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / absl::StrCat("genfarm-https-", ::getpid());
  std::filesystem::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  const std::string openssl = absl::StrCat(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
      "-subj /CN=localhost -keyout ",
      key, " -out ", cert, " >/dev/null 2>&1");
  ASSERT_EQ(std::system(openssl.c_str()), 0) << openssl;
  HttpLimits limits;
  limits.threads = 1;
  limits.request_timeout = absl::Milliseconds(500);
  absl::StatusOr<std::unique_ptr<HttpServer>> https = HttpServer::Https(cert, key, limits);
  ASSERT_TRUE(https.ok()) << https.status();
  AddRoutes(**https);
  absl::StatusOr<int> port = (*https)->Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();

  RawClient stalled(*port);
  ASSERT_TRUE(stalled.Send(std::string("\x16\x03\x01\x02\x00", 5)));  // a ClientHello's start
  RawClient plaintext(*port);
  ASSERT_TRUE(plaintext.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));

  httplib::SSLClient client("127.0.0.1", *port);
  client.enable_server_certificate_verification(false);
  client.set_read_timeout(3);
  for (int i = 0; i < 3; ++i) {  // keep-alive over TLS
    httplib::Result res = client.Get("/peer");
    ASSERT_TRUE(res) << "request " << i;
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "127.0.0.1");
  }
  EXPECT_TRUE(plaintext.ClosedByServer());
  EXPECT_TRUE(stalled.ClosedByServer());
  EXPECT_EQ((*https)->counts().request_timeouts, 1);  // the stalled handshake
  std::filesystem::remove_all(dir);
}

TEST(HttpServerTest, HttpsRefusesAMissingCertificate) {
  absl::StatusOr<std::unique_ptr<HttpServer>> https =
      HttpServer::Https("/nonexistent/cert.pem", "/nonexistent/key.pem");
  ASSERT_FALSE(https.ok());
  EXPECT_THAT(std::string(https.status().message()), HasSubstr("/nonexistent/cert.pem"));
}

}  // namespace
}  // namespace genfarm
