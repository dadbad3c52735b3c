#include "scheduler/auth/handshake_audit.h"

#include <grpc/support/log.h>

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

// The installed instance. The hook holds `g_mu` shared while it uses it, Uninstall()
// exclusively, so an instance is never used after it is uninstalled.
ABSL_CONST_INIT absl::Mutex g_mu(absl::kConstInit);
HandshakeAudit* g_installed ABSL_GUARDED_BY(g_mu) = nullptr;

// Every gRPC log line goes to the scheduler's log (spdlog), as gRPC's default logger would
// print it to stderr; a failed handshake is also recorded.
void LogHook(gpr_log_func_args* args) {
  const absl::string_view file = args->file != nullptr ? args->file : "";
  const absl::string_view message = args->message != nullptr ? args->message : "";
  const size_t slash = file.rfind('/');
  const absl::string_view base = slash == absl::string_view::npos ? file : file.substr(slash + 1);
  switch (args->severity) {
    case GPR_LOG_SEVERITY_ERROR:
      spdlog::error("grpc {}:{}: {}", std::string(base), args->line, std::string(message));
      break;
    case GPR_LOG_SEVERITY_INFO:
      spdlog::info("grpc {}:{}: {}", std::string(base), args->line, std::string(message));
      break;
    default:
      spdlog::debug("grpc {}:{}: {}", std::string(base), args->line, std::string(message));
      break;
  }
  const absl::string_view reason = HandshakeRefusal(file, message);
  if (reason.empty()) return;
  absl::ReaderMutexLock lock(&g_mu);
  if (g_installed != nullptr) g_installed->Refused(reason);
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

HandshakeAudit::HandshakeAudit(AuditLog* audit, AuthMetrics* metrics, const Clock& clock,
                               int max_per_second)
    : audit_(audit), metrics_(metrics), clock_(clock), max_per_second_(max_per_second) {}

HandshakeAudit::~HandshakeAudit() { Uninstall(); }

void HandshakeAudit::Install() {
  absl::MutexLock lock(&g_mu);
  g_installed = this;
  gpr_set_log_function(&LogHook);
}

void HandshakeAudit::Uninstall() {
  absl::MutexLock lock(&g_mu);
  // The hook stays (it only logs without an instance): gRPC may be logging on another
  // thread right now, and swapping the function under it is not synchronised by gRPC.
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
  std::string text = absl::StrCat("TLS handshake refused: ", reason);
  if (left_out > 0) {
    absl::StrAppend(&text, " (and ", left_out, " more refused handshakes not recorded)");
  }
  Identity nobody;  // a refused handshake proves no identity, and gRPC logs no peer
  nobody.credential = "tls";
  audit_->Append(
      MakeAuditEntry(nobody, kTlsHandshake, "", 0, "", absl::UnauthenticatedError(text)));
}

}  // namespace genfarm::scheduler::auth
