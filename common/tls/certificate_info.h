// CertificateInfo: the few fields of an X.509 certificate GenFarm acts on: the common name
// (a worker's id, a person's name), the organizational units that say what kind of peer it
// is (deploy/certs.sh writes OU=genfarm-worker or OU=genfarm-user), the serial number (for
// revocation) and the end of its validity. Parsed with OpenSSL from PEM text.
//
//   GENFARM_ASSIGN_OR_RETURN(CertificateInfo cert, ParseCertificate(pem));
//   if (cert.HasUnit(kWorkerUnit)) worker_id = cert.common_name;
//
// Parsing is not verification: the caller must have the certificate from a TLS handshake that
// verified it against the farm CA (gRPC does, with --tls_client_ca).
#ifndef GENFARM_COMMON_TLS_CERTIFICATE_INFO_H_
#define GENFARM_COMMON_TLS_CERTIFICATE_INFO_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace genfarm::tls {

// The OU values deploy/certs.sh gives each kind of client certificate.
inline constexpr absl::string_view kWorkerUnit = "genfarm-worker";
inline constexpr absl::string_view kUserUnit = "genfarm-user";

struct CertificateInfo {
  std::string common_name;
  std::vector<std::string> organizational_units;
  // Lower-case hex as BN_bn2hex gives it: whole bytes, so it may start with a 0 (compare
  // serials through CanonicalSerial, scheduler/auth/roles_file.h).
  std::string serial_hex;
  absl::Time not_after;

  bool HasUnit(absl::string_view unit) const;
};

// The first certificate in `pem`.
absl::StatusOr<CertificateInfo> ParseCertificate(absl::string_view pem);

}  // namespace genfarm::tls

#endif  // GENFARM_COMMON_TLS_CERTIFICATE_INFO_H_
