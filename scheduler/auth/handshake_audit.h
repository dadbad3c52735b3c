// HandshakeAudit: puts TLS handshakes the scheduler refused (a plaintext client, a client that
// does not trust the server's certificate and says so, a client certificate that is expired
// or from another CA) in the audit log and the denials metric. Such a refusal never becomes a call,
// and gRPC 1.51 gives the application no hook on it: the only place it surfaces is gRPC's own
// log line from the TLS layer ("Handshake failed with fatal error SSL_ERROR_SSL: ...
// certificate verify failed"). So this installs a gRPC log function (gpr_set_log_function)
// that passes every line on to gRPC's default logger and, for those lines, records
//
//   who: anonymous, method "tls:handshake", code UNAUTHENTICATED, and the reason OpenSSL
//   gave, after what it means where HandshakeMeaning knows.
//
// The line carries no peer address, so the record has none. Records are rate-limited
// (`max_per_second`; the next record says how many were left out), so a flood of bad
// handshakes cannot flood the log.
//
//   HandshakeAudit handshakes(audit.get(), metrics.get(), RealClock::Get());
//   handshakes.Install();   // process-wide; Uninstall() (or the destructor) puts it back
//
// Thread-safe: gRPC logs from any thread. One instance installed at a time.
#ifndef GENFARM_SCHEDULER_AUTH_HANDSHAKE_AUDIT_H_
#define GENFARM_SCHEDULER_AUTH_HANDSHAKE_AUDIT_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace genfarm::scheduler::auth {

class AuditLog;
class AuthMetrics;

// The method name handshake refusals are recorded under.
inline constexpr absl::string_view kTlsHandshake = "tls:handshake";

// The refusal a gRPC log line reports, or "" when it is not a failed TLS handshake.
absl::string_view HandshakeRefusal(absl::string_view file, absl::string_view message);

// What an OpenSSL reason means, in words, for the kinds of refusal the farm knows, else "":
// "wrong version number" is a client that does not speak TLS; "certificate verify failed"
// a client certificate the farm CA did not sign or that has expired; an alert about a
// certificate ("tlsv1 alert unknown ca", "sslv3 alert bad certificate") the client refusing
// the scheduler's (sent by genfarm's own clients, common/tls/server_check.h).
absl::string_view HandshakeMeaning(absl::string_view reason);

class HandshakeAudit {
 public:
  // `audit` and `metrics` may be null (nothing recorded there); both must outlive this.
  HandshakeAudit(AuditLog* audit, AuthMetrics* metrics, const Clock& clock,
                 int max_per_second = 20);
  ~HandshakeAudit();  // Uninstall()s
  HandshakeAudit(const HandshakeAudit&) = delete;
  HandshakeAudit& operator=(const HandshakeAudit&) = delete;

  void Install();
  void Uninstall();

  // One failed handshake (what the log hook calls; tests call it directly).
  void Refused(absl::string_view reason);

 private:
  AuditLog* const audit_;
  AuthMetrics* const metrics_;
  const Clock& clock_;
  const int max_per_second_;
  absl::Mutex mu_;
  absl::Time window_start_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int in_window_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t left_out_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace genfarm::scheduler::auth

#endif  // GENFARM_SCHEDULER_AUTH_HANDSHAKE_AUDIT_H_
