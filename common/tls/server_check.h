// ServerCheck: why a client refused the scheduler's certificate, in words, and told the
// scheduler so. gRPC 1.51's client reports a certificate it does not trust only as "Ssl
// handshake failed: ... certificate verify failed". It names neither certificate nor CA, and
// it hangs up without the TLS alert that says why: its TLS runs over memory buffers, and the
// alert OpenSSL writes there is dropped. So the scheduler's audit log never learns of it.
// After such a failure the CLI and the worker (and the Python client, its twin in
// client/python/genfarm/server_check.py) connect once more with OpenSSL on a plain socket,
// verifying against the same CA and name. That handshake fails the same way, sends the
// scheduler the alert (unknown ca, bad certificate, certificate expired) that it records
// (scheduler/auth/handshake_audit.h), and says what was wrong:
//
//   absl::Status why = CheckSchedulerCertificates("sched:7070", pem.ca,
//                                                 "--tls_ca /etc/genfarm/ca.pem",
//                                                 absl::Seconds(3));
//   // why.message(): "the scheduler at 127.0.0.1:7070 presented a certificate that
//   //   --tls_ca /etc/genfarm/ca.pem does not trust: self-signed certificate in
//   //   certificate chain (its certificate: subject O=GenFarm,...,CN=genfarm-scheduler,
//   //   issuer O=GenFarm,CN=GenFarm farm CA); give the CA that signed ..."
//
// Run only after a failed handshake, never before every call: it costs a connection. It
// sends no credentials (no client certificate, no token) and nothing after the handshake.
// Plain OpenSSL over a blocking socket with a deadline in real time (a network's, like gRPC's
// own deadlines); no gRPC.
#ifndef GENFARM_COMMON_TLS_SERVER_CHECK_H_
#define GENFARM_COMMON_TLS_SERVER_CHECK_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/tls/scheduler_address.h"

namespace genfarm::tls {

// OK when the endpoint's certificate verifies against `ca_pem` (the system's CA certificates
// when empty) for endpoint.tls_name, and also when there is no verdict (nothing answers,
// the handshake fails for another reason, the deadline passes): the caller's own error then
// stands. FailedPrecondition naming the endpoint, `ca_source`, OpenSSL's reason and the
// certificate's subject and issuer when it does not.
absl::Status CheckServerCertificate(const SchedulerEndpoint& endpoint, absl::string_view ca_pem,
                                    absl::string_view ca_source, absl::Duration timeout);

// The same for every scheduler `addresses` names (SchedulerEndpoints, at most 8), within
// `timeout` in all: the first refusal, or OK.
absl::Status CheckSchedulerCertificates(const std::string& addresses, absl::string_view ca_pem,
                                        absl::string_view ca_source, absl::Duration timeout);

}  // namespace genfarm::tls

#endif  // GENFARM_COMMON_TLS_SERVER_CHECK_H_
