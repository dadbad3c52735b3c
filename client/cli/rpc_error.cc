#include "client/cli/rpc_error.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace genfarm::client {

absl::Status RpcErrorToStatus(grpc::StatusCode code, const std::string& message,
                              const std::string& address, bool connected) {
  if (code == grpc::StatusCode::OK) return absl::OkStatus();
  // gRPC and absl share the canonical code numbering.
  auto absl_code = static_cast<absl::StatusCode>(code);
  auto unreachable = [&](absl::string_view why) {
    return absl::Status(absl_code, absl::StrCat("cannot reach scheduler at ", address, " (", why,
                                                ") — is genfarm-scheduler running?"));
  };
  if (code == grpc::StatusCode::UNAVAILABLE && !connected) {
    std::string lower = absl::AsciiStrToLower(message);
    if (absl::StrContains(lower, "connection refused")) return unreachable("connection refused");
    if (absl::StrContains(lower, "dns") || absl::StrContains(lower, "resolve")) {
      return unreachable("cannot resolve address");
    }
    return unreachable("unavailable");
  }
  if (code == grpc::StatusCode::DEADLINE_EXCEEDED) {
    if (!connected) return unreachable("deadline exceeded");
    return absl::Status(absl_code, absl::StrCat("scheduler at ", address,
                                                " did not answer in time (deadline exceeded)"));
  }
  if (message.empty()) {
    return absl::Status(absl_code, absl::StrCat("scheduler at ", address, " returned ",
                                                absl::StatusCodeToString(absl_code)));
  }
  return absl::Status(absl_code, message);
}

}  // namespace genfarm::client
