#include "common/tls/grpc_credentials.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/strings/str_cat.h"

namespace genfarm::tls {

std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const TlsPem& pem) {
  grpc::SslServerCredentialsOptions options(pem.ca.empty()
                                                ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                                : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = pem.ca;
  options.pem_key_cert_pairs.push_back({pem.private_key, pem.cert_chain});
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    const TlsPem& pem, const std::string& bearer_token, const std::string& token_source) {
  if (!pem.enabled()) {
    if (!bearer_token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a token (", token_source,
          ") is sent only over TLS: give the farm CA (--tls_ca or $GENFARM_CA), or drop the "
          "token for an insecure loopback scheduler"));
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = pem.ca;
  options.pem_private_key = pem.private_key;
  options.pem_cert_chain = pem.cert_chain;
  std::shared_ptr<grpc::ChannelCredentials> ssl = grpc::SslCredentials(options);
  if (bearer_token.empty()) return ssl;
  return grpc::CompositeChannelCredentials(ssl, grpc::AccessTokenCredentials(bearer_token));
}

}  // namespace genfarm::tls
