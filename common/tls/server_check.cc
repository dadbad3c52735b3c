#include "common/tls/server_check.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/tls/openssl_ptr.h"

namespace genfarm::tls {
namespace {

// A connected socket, closed on destruction.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// What the verify callback saw first: the error, and the server's certificate.
struct Refusal {
  int error = X509_V_OK;
  std::string subject;
  std::string issuer;
};

std::string NameText(const X509_NAME* name) {
  OpenSslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || name == nullptr) return "";
  // RFC 2253 escaping, in the order the certificate lists them: O=GenFarm,CN=GenFarm farm CA.
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~XN_FLAG_DN_REV);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  // The escaping above keeps control characters out; a name is the server's to choose, so
  // its length is bounded too before it reaches a terminal or a log.
  constexpr size_t kMaxName = 256;
  std::string text = size > 0 ? std::string(data, static_cast<size_t>(size)) : "";
  if (text.size() > kMaxName) text = absl::StrCat(text.substr(0, kMaxName), "...");
  return text;
}

int VerifyCallback(int ok, X509_STORE_CTX* store) {
  if (ok == 1) return 1;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* refusal = ssl != nullptr ? static_cast<Refusal*>(SSL_get_app_data(ssl)) : nullptr;
  if (refusal != nullptr && refusal->error == X509_V_OK) {
    refusal->error = X509_STORE_CTX_get_error(store);
    // The scheduler's own certificate (the chain's first), whichever link failed.
    if (X509* cert = X509_STORE_CTX_get0_cert(store); cert != nullptr) {
      refusal->subject = NameText(X509_get_subject_name(cert));
      refusal->issuer = NameText(X509_get_issuer_name(cert));
    }
  }
  return 0;  // refuse: OpenSSL sends the alert that goes with the error
}

// A TCP connection to the endpoint within `deadline`, or -1. The socket is left blocking,
// with send and receive timeouts at what is left of the deadline.
int ConnectBy(const SchedulerEndpoint& endpoint, absl::Time deadline) {
  sockaddr_storage address{};
  socklen_t length = 0;
  const int port = std::atoi(endpoint.port.c_str());
  if (port <= 0 || port > 65535) return -1;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
  if (inet_pton(AF_INET, endpoint.ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, endpoint.ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    length = sizeof(sockaddr_in6);
  } else {
    return -1;
  }
  const int fd = socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  Socket guard(fd);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), length) != 0) {
    if (errno != EINPROGRESS) return -1;
    pollfd p{fd, POLLOUT, 0};
    const int64_t ms = absl::ToInt64Milliseconds(deadline - RealClock::Get().Now());
    if (ms <= 0 || poll(&p, 1, static_cast<int>(std::min<int64_t>(ms, 60000))) != 1) return -1;
    int error = 0;
    socklen_t size = sizeof(error);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error != 0) return -1;
  }
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) return -1;
  const absl::Duration left = std::max(deadline - RealClock::Get().Now(), absl::Milliseconds(1));
  const timeval tv = absl::ToTimeval(left);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return guard.release();
}

// OpenSSL's socket BIO writes with write(2), so a scheduler that hangs up mid-handshake would
// raise SIGPIPE and end the process. SIGPIPE is blocked on this thread while it lasts, and
// one raised meanwhile (it is sent to the writing thread) is taken off before unblocking.
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlocked() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      const timespec now{};
      sigtimedwait(&pipe_, nullptr, &now);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
};

bool LoadCa(SSL_CTX* ctx, absl::string_view ca_pem) {
  if (ca_pem.empty()) return SSL_CTX_set_default_verify_paths(ctx) == 1;
  OpenSslPtr<BIO> bio(BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())));
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int loaded = 0;
  while (true) {
    OpenSslPtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert == nullptr) break;
    if (X509_STORE_add_cert(store, cert.get()) == 1) ++loaded;
  }
  ERR_clear_error();  // the end of the PEM text reads as an error
  return loaded > 0;
}

// What a user can do about each kind of refusal.
std::string Advice(int error, const SchedulerEndpoint& endpoint) {
  switch (error) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return absl::StrCat(endpoint.tls_name,
                          " is not one of its names: connect by a name it carries, or reissue "
                          "it with deploy/certs.sh --server ",
                          endpoint.tls_name);
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "reissue the scheduler's certificate (deploy/certs.sh), or check this host's clock";
    default:
      return "give the CA that signed the scheduler's certificate (the ca.pem deploy/certs.sh "
             "made with it), or something other than the farm's scheduler is answering there";
  }
}

}  // namespace

absl::Status CheckServerCertificate(const SchedulerEndpoint& endpoint, absl::string_view ca_pem,
                                    absl::string_view ca_source, absl::Duration timeout) {
  const absl::Time deadline = RealClock::Get().Now() + timeout;
  OpenSslPtr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr || !LoadCa(ctx.get(), ca_pem)) {
    ERR_clear_error();
    return absl::OkStatus();  // no verdict: the CA was checked when it was loaded
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, &VerifyCallback);
  OpenSslPtr<SSL> ssl(SSL_new(ctx.get()));
  if (ssl == nullptr) return absl::OkStatus();
  Refusal refusal;
  SSL_set_app_data(ssl.get(), &refusal);
  int family = 0;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
  if (IsIpLiteral(endpoint.tls_name, &family)) {
    X509_VERIFY_PARAM_set1_ip_asc(param, endpoint.tls_name.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl.get(), endpoint.tls_name.c_str());
    X509_VERIFY_PARAM_set1_host(param, endpoint.tls_name.c_str(), 0);
  }
  Socket socket(ConnectBy(endpoint, deadline));
  if (socket.fd() < 0) return absl::OkStatus();
  SSL_set_fd(ssl.get(), socket.fd());
  SigpipeBlocked no_sigpipe;
  const int rc = SSL_connect(ssl.get());
  ERR_clear_error();
  if (rc == 1) {
    SSL_shutdown(ssl.get());  // close_notify: a clean goodbye, nothing else is sent
    return absl::OkStatus();
  }
  if (refusal.error == X509_V_OK) return absl::OkStatus();  // failed for another reason
  std::string certificate;
  if (!refusal.subject.empty()) {
    certificate = absl::StrCat(" (its certificate: subject ", refusal.subject, ", issuer ",
                               refusal.issuer, ")");
  }
  return absl::FailedPreconditionError(
      absl::StrCat("the scheduler at ", endpoint.ToString(), " presented a certificate that ",
                   ca_source, " does not trust: ", X509_verify_cert_error_string(refusal.error),
                   certificate, "; ", Advice(refusal.error, endpoint)));
}

absl::Status CheckSchedulerCertificates(const std::string& addresses, absl::string_view ca_pem,
                                        absl::string_view ca_source, absl::Duration timeout) {
  const absl::Time deadline = RealClock::Get().Now() + timeout;
  for (const SchedulerEndpoint& endpoint : SchedulerEndpoints(addresses, 8)) {
    const absl::Duration left = deadline - RealClock::Get().Now();
    if (left <= absl::ZeroDuration()) break;
    if (absl::Status s = CheckServerCertificate(endpoint, ca_pem, ca_source, left); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace genfarm::tls
