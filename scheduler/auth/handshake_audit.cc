#include "scheduler/auth/handshake_audit.h"

#include <grpc/support/log.h>

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "scheduler/auth/audit_log.h"
#include "scheduler/auth/auth_metrics.h"
#include "scheduler/auth/identity.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler::auth {
namespace {

// The installed instance. The hook holds the mutex shared while it uses it, Uninstall()
// exclusively, so an instance is never used after it is uninstalled. Leaked on purpose:
// gRPC may log from its threads while the process exits.
absl::Mutex& InstalledMu() {
  static absl::Mutex* const mu = new absl::Mutex;
  return *mu;
}
HandshakeAudit* g_installed = nullptr;  // guarded by InstalledMu()

// While an instance is installed (the scheduler is up), every gRPC log line goes to the
// scheduler's log (spdlog) and a failed handshake is also recorded. Otherwise (after
// shutdown, when spdlog may already be gone) lines go to stderr as gRPC would print them.
void LogHook(gpr_log_func_args* args) {
  const absl::string_view file = args->file != nullptr ? args->file : "";
  const absl::string_view message = args->message != nullptr ? args->message : "";
  const size_t slash = file.rfind('/');
  const std::string base(slash == absl::string_view::npos ? file : file.substr(slash + 1));
  absl::ReaderMutexLock lock(&InstalledMu());
  if (g_installed == nullptr) {
    std::fprintf(stderr, "grpc %s:%d: %.*s\n", base.c_str(), args->line,
                 static_cast<int>(message.size()), message.data());
    return;
  }
  switch (args->severity) {
    case GPR_LOG_SEVERITY_ERROR:
      spdlog::error("grpc {}:{}: {}", base, args->line, std::string(message));
      break;
    case GPR_LOG_SEVERITY_INFO:
      spdlog::info("grpc {}:{}: {}", base, args->line, std::string(message));
      break;
    default:
      spdlog::debug("grpc {}:{}: {}", base, args->line, std::string(message));
      break;
  }
  const absl::string_view reason = HandshakeRefusal(file, message);
  if (!reason.empty()) g_installed->Refused(reason);
}

}  // namespace

absl::string_view HandshakeRefusal(absl::string_view file, absl::string_view message) {
  // gRPC 1.51's TLS layer (src/core/tsi/ssl_transport_security.cc) logs each handshake it
  // gives up on as "Handshake failed with fatal error SSL_ERROR_SSL: <OpenSSL's reason>."
  if (!absl::EndsWith(file, "ssl_transport_security.cc")) return "";
  constexpr absl::string_view kPrefix = "Handshake failed";
  if (!absl::StartsWith(message, kPrefix)) return "";
  constexpr absl::string_view kFatal = "Handshake failed with fatal error ";
  absl::string_view reason =
      absl::StartsWith(message, kFatal) ? message.substr(kFatal.size()) : message;
  while (!reason.empty() && (reason.back() == '.' || reason.back() == '\n')) {
    reason.remove_suffix(1);
  }
  return reason.empty() ? message : reason;
}

absl::string_view HandshakeMeaning(absl::string_view reason) {
  if (absl::StrContains(reason, "wrong version number") ||
      absl::StrContains(reason, "http request")) {
    return "a client that does not speak TLS";
  }
  if (absl::StrContains(reason, "certificate verify failed")) {
    return "the client's certificate is not from the farm CA, or has expired";
  }
  // The alerts OpenSSL sends for a certificate it does not accept (ssl_x509err2alert).
  for (absl::string_view alert : {"alert unknown ca", "alert bad certificate",
                                  "alert certificate expired", "alert certificate unknown",
                                  "alert certificate revoked", "alert unsupported certificate"}) {
    if (absl::StrContains(reason, alert)) return "the client refused the scheduler's certificate";
  }
  return "";
}

HandshakeAudit::HandshakeAudit(AuditLog* audit, AuthMetrics* metrics, const Clock& clock,
                               int max_per_second)
    : audit_(audit), metrics_(metrics), clock_(clock), max_per_second_(max_per_second) {}

HandshakeAudit::~HandshakeAudit() { Uninstall(); }

void HandshakeAudit::Install() {
  absl::MutexLock lock(&InstalledMu());
  g_installed = this;
  gpr_set_log_function(&LogHook);
}

void HandshakeAudit::Uninstall() {
  absl::MutexLock lock(&InstalledMu());
  // The hook stays (without an instance it prints to stderr): gRPC may be logging on
  // another thread right now, and swapping the function under it is not synchronised.
  if (g_installed == this) g_installed = nullptr;
}

void HandshakeAudit::Refused(absl::string_view reason) {
  if (metrics_ != nullptr) metrics_->Denied(kTlsHandshake, absl::StatusCode::kUnauthenticated);
  if (audit_ == nullptr) return;
  int64_t left_out = 0;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_.Now();
    if (now - window_start_ >= absl::Seconds(1)) {
      window_start_ = now;
      in_window_ = 0;
    }
    if (in_window_ >= max_per_second_) {
      ++left_out_;
      return;
    }
    ++in_window_;
    left_out = left_out_;
    left_out_ = 0;
  }
  const absl::string_view meaning = HandshakeMeaning(reason);
  std::string text = meaning.empty()
                         ? absl::StrCat("TLS handshake refused: ", reason)
                         : absl::StrCat("TLS handshake refused: ", meaning, " (", reason, ")");
  if (left_out > 0) {
    absl::StrAppend(&text, " (and ", left_out, " more refused handshakes not recorded)");
  }
  Identity nobody;  // a refused handshake proves no identity, and gRPC logs no peer
  nobody.credential = "tls";
  audit_->Append(
      MakeAuditEntry(nobody, kTlsHandshake, "", 0, "", absl::UnauthenticatedError(text)));
}

}  // namespace genfarm::scheduler::auth
