// Identity: who is calling, as the authentication layer established it and the policy
// (authorizer.h) and the audit log consume it. No gRPC types: grpc_auth.h makes one from a
// call, http_gate.h from an HTTP request.
//
//   Identity who{IdentityKind::kPerson, "alice", "token", "ipv4:10.0.0.5:51234"};
//   spdlog::info("{} cancelled job 12", DescribeIdentity(who));   // "person alice (token)"
#ifndef GENFARM_SCHEDULER_AUTH_IDENTITY_H_
#define GENFARM_SCHEDULER_AUTH_IDENTITY_H_

#include <string>

#include "absl/strings/string_view.h"

namespace genfarm::scheduler::auth {

enum class IdentityKind {
  kAnonymous,  // no credentials (or authentication is off)
  kPerson,     // a bearer token or a user certificate (OU=genfarm-user) named in the roles file
  kWorker,     // a worker certificate (OU=genfarm-worker) from the farm CA; name = its CN
};

struct Identity {
  IdentityKind kind = IdentityKind::kAnonymous;
  std::string name;        // the person's name in the roles file, or the worker id
  std::string credential;  // how it was proven: "token", "certificate", or "" (anonymous)
  std::string peer;        // where from, for logs and the audit ("ipv4:10.0.0.5:51234")
};

absl::string_view IdentityKindName(IdentityKind kind);  // "anonymous", "person", "worker"

// "person alice (token)", "worker w1 (certificate)", "anonymous".
std::string DescribeIdentity(const Identity& identity);

}  // namespace genfarm::scheduler::auth

#endif  // GENFARM_SCHEDULER_AUTH_IDENTITY_H_
