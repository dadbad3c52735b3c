// Turns a failed RPC into an error a person at a terminal can act on. The one place the CLI
// converts gRPC status to absl::Status.
//
//   absl::Status s = RpcErrorToStatus(grpc::StatusCode::UNAVAILABLE, "failed to connect...",
//                                     "127.0.0.1:7070", /*connected=*/false);
//   // "cannot reach scheduler at 127.0.0.1:7070 (connection refused) — is genfarm-scheduler
//   //  running?"
#ifndef GENFARM_CLIENT_CLI_RPC_ERROR_H_
#define GENFARM_CLIENT_CLI_RPC_ERROR_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status_code_enum.h"

namespace genfarm::client {

// `connected` says whether the channel had reached the scheduler: a deadline on a connected
// channel means a slow scheduler, not a missing one. OK maps to OkStatus.
absl::Status RpcErrorToStatus(grpc::StatusCode code, const std::string& message,
                              const std::string& address, bool connected);

}  // namespace genfarm::client

#endif  // GENFARM_CLIENT_CLI_RPC_ERROR_H_
