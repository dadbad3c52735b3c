// TLS files: the PEM certificate, private key and CA a daemon or client was pointed at by its
// flags, read and checked up front so that a wrong path or a swapped file is one clear error
// naming the flag and the file, not a handshake failure later.
//
//   TlsFiles files;
//   files.cert = {"--tls_cert", absl::GetFlag(FLAGS_tls_cert)};
//   files.key = {"--tls_key", absl::GetFlag(FLAGS_tls_key)};
//   files.ca = {"--tls_client_ca", absl::GetFlag(FLAGS_tls_client_ca)};
//   GENFARM_ASSIGN_OR_RETURN(TlsPem pem, LoadTlsFiles(files));
//   if (pem.enabled()) ...  // pem.cert_chain, pem.private_key, pem.ca
//
// Plain C++ (OpenSSL for the checks); common/tls/grpc_credentials.h turns a TlsPem into gRPC
// credentials and common/http/http_server.h into an HTTPS listener.
#ifndef GENFARM_COMMON_TLS_TLS_FILES_H_
#define GENFARM_COMMON_TLS_TLS_FILES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace genfarm::tls {

// A file named by a flag; an empty path means the flag was not given.
struct NamedFile {
  std::string flag;
  std::string path;
};

struct TlsFiles {
  NamedFile cert{"--tls_cert", ""};  // our certificate chain (server, or client for mTLS)
  NamedFile key{"--tls_key", ""};    // its private key
  NamedFile ca{"--tls_ca", ""};      // the CA that signs the peer's certificate
};

// The PEM text of the files given (empty where a flag was not given).
struct TlsPem {
  std::string cert_chain;
  std::string private_key;
  std::string ca;
  // Paths, for libraries that take files (cpp-httplib's SSLServer).
  std::string cert_path;
  std::string key_path;
  std::string ca_path;

  bool has_identity() const { return !cert_chain.empty(); }
  // Any TLS asked for: our own certificate, or only a CA to verify the peer with.
  bool enabled() const { return !cert_chain.empty() || !ca.empty(); }
};

// Reads and checks the files: a certificate goes with its key (both or neither), each file
// holds the PEM block it should, and the key is the certificate's. Errors name the flag and
// the path: "--tls_key /etc/genfarm/server.key: No such file or directory".
absl::StatusOr<TlsPem> LoadTlsFiles(const TlsFiles& files);

// One PEM file: its text, or an error naming the flag and the path. `block` is the PEM label
// that must appear in it ("CERTIFICATE", "PRIVATE KEY": any "... PRIVATE KEY" block passes).
absl::StatusOr<std::string> ReadPemFile(const NamedFile& file, absl::string_view block);

}  // namespace genfarm::tls

#endif  // GENFARM_COMMON_TLS_TLS_FILES_H_
