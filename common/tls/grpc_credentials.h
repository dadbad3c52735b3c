// gRPC credentials from TLS files (tls_files.h): the one place the daemons and the CLI turn PEM
// text into grpc::ServerCredentials / grpc::ChannelCredentials, so all of them ask for the same
// things (server verified against the farm CA, client certificates requested by the server).
//
//   GENFARM_ASSIGN_OR_RETURN(tls::TlsPem pem, tls::LoadTlsFiles(files));
//   auto creds = tls::ChannelCredentials(pem, token);   // insecure when !pem.enabled()
//   auto channel = grpc::CreateChannel(address, creds);
//
// An adapter over grpc++ (like common/http over cpp-httplib); no business logic.
#ifndef GENFARM_COMMON_TLS_GRPC_CREDENTIALS_H_
#define GENFARM_COMMON_TLS_GRPC_CREDENTIALS_H_

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/tls/tls_files.h"

namespace genfarm::tls {

// TLS with the server's certificate and key. With a CA, clients are asked for a certificate
// and one they present must verify against it; clients without one (people with tokens)
// still connect, and the scheduler's auth layer decides what they may call.
// Requires pem.has_identity().
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const TlsPem& pem);

// A client channel's credentials: TLS verifying the server against pem.ca (the system roots
// when empty), presenting pem's certificate when it has one (workers, people with client
// certificates), and sending `bearer_token` on every call when not empty. Insecure when no
// TLS is asked for; a token without TLS is an error (it would travel in the clear).
// `token_source` names where the token came from, for that error ("$GENFARM_TOKEN").
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    const TlsPem& pem, const std::string& bearer_token = "",
    const std::string& token_source = "--token");

}  // namespace genfarm::tls

#endif  // GENFARM_COMMON_TLS_GRPC_CREDENTIALS_H_
