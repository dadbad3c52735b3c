// GrpcAuth: authentication of gRPC calls, and the door every call passes before its handler.
//   - Authenticate(context): the caller's Identity from the call's TLS auth context (the
//     client certificate gRPC verified against --tls_client_ca) and its "authorization"
//     metadata (bearer token). Handlers call it to learn who is calling.
//   - DoorProcessor(): a grpc::AuthMetadataProcessor for the server credentials. It runs on
//     every call before the handler and refuses, with the status the client sees, calls
//     without valid credentials (UNAUTHENTICATED) and calls the service-level rule forbids
//     (PERMISSION_DENIED): workers only on WorkerService, people never there, FarmService
//     decided in full, a project method only with its role in some project
//     (Authorizer::Check with no project). Per-project checks stay with the handlers.
//
//   GrpcAuth auth(&authenticator, authorizer);
//   auto creds = tls::ServerCredentials(pem);
//   creds->SetAuthMetadataProcessor(auth.DoorProcessor());
//   ...in a handler, once the job is known (one line per handler):
//   if (grpc::Status s = auth.Check(*context, {kCancelJob, job.project(), job.submitter()});
//       !s.ok()) return reactor->Finish(s);
//   absl::StatusOr<Identity> who = auth.Authenticate(*context);   // for the audit
//
// Authentication off (no authenticator): every call is anonymous and allowed.
// Thread-safe; the processor is non-blocking (hashing and table lookups only).
#ifndef GENFARM_SCHEDULER_AUTH_GRPC_AUTH_H_
#define GENFARM_SCHEDULER_AUTH_GRPC_AUTH_H_

#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/server_context.h>

#include <memory>

#include "absl/status/statusor.h"
#include "scheduler/auth/audit_log.h"
#include "scheduler/auth/auth_metrics.h"
#include "scheduler/auth/authenticator.h"
#include "scheduler/auth/authorizer.h"

namespace genfarm::scheduler::auth {

class GrpcAuth {
 public:
  // `authenticator` null: authentication off. `metrics` may be null. All must outlive this
  // and the processor.
  GrpcAuth(const Authenticator* authenticator, const Authorizer& authorizer,
           AuthMetrics* metrics = nullptr)
      : authenticator_(authenticator), authorizer_(authorizer), metrics_(metrics) {}

  absl::StatusOr<Identity> Authenticate(const grpc::ServerContextBase& context) const;

  // Authenticate, then Authorizer::Check, as the status to finish the call with.
  grpc::Status Check(const grpc::ServerContextBase& context, const Action& action) const;

  // Authenticate, then Authorizer::CheckWorkerId: the worker id a hello or a result names
  // must be the caller's certificate's.
  grpc::Status CheckWorkerId(const grpc::ServerContextBase& context,
                             absl::string_view claimed_worker_id) const;

  // For handlers that authenticated once on gRPC's thread and decide later on the core
  // thread, once the object is known: Authorizer::Check, a denial counted in the metric.
  absl::Status Allow(const Identity& who, const Action& action) const;

  // Counts a refusal decided elsewhere (path containment) in the denials metric.
  void CountDenial(absl::string_view method, absl::StatusCode code) const {
    if (metrics_ != nullptr) metrics_->Denied(method, code);
  }

  // Records a decision in the audit log (no-op without one). Non-blocking.
  void Audit(const Identity& who, absl::string_view method, std::string object, int64_t job_id,
             std::string project, const absl::Status& outcome) const;
  // The same, then `committed` once the record is committed (AuditLog::Append): on the
  // audit writer's thread; at once, with OK, without a log.
  void Audit(const Identity& who, absl::string_view method, std::string object, int64_t job_id,
             std::string project, const absl::Status& outcome,
             AuditLog::CommitCallback committed) const;

  // Call before DoorProcessor(): the door records its denials there. May be null.
  void set_audit(AuditLog* audit) { audit_ = audit; }
  AuditLog* audit() const { return audit_; }

  bool enabled() const { return authenticator_ != nullptr; }

  std::shared_ptr<grpc::AuthMetadataProcessor> DoorProcessor() const;

  const Authorizer& authorizer() const { return authorizer_; }

 private:
  const Authenticator* authenticator_;
  const Authorizer& authorizer_;
  AuthMetrics* metrics_;
  AuditLog* audit_ = nullptr;
};

// The caller as an anonymous identity from where it called (authentication off, or its
// credentials proved nobody).
Identity AnonymousCaller(const grpc::ServerContextBase& context);

// What the caller presented: the verified client certificate of a TLS connection and the
// bearer token of the call's metadata.
PeerCredentials CredentialsOf(const grpc::AuthContext* auth_context,
                              const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                              std::string peer);

}  // namespace genfarm::scheduler::auth

#endif  // GENFARM_SCHEDULER_AUTH_GRPC_AUTH_H_
