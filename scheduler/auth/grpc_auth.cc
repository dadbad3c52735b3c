#include "scheduler/auth/grpc_auth.h"

#include <grpc/grpc_security_constants.h>

#include "absl/strings/str_cat.h"
#include "scheduler/service/grpc_status.h"

namespace genfarm::scheduler::auth {
namespace {

std::string ToString(grpc::string_ref s) { return std::string(s.data(), s.size()); }

class DoorProcessorImpl : public grpc::AuthMetadataProcessor {
 public:
  DoorProcessorImpl(const Authenticator* authenticator, const Authorizer& authorizer,
                    AuthMetrics* metrics, AuditLog* audit)
      : authenticator_(authenticator), authorizer_(authorizer), metrics_(metrics), audit_(audit) {}

  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override {
    if (authenticator_ == nullptr) return grpc::Status::OK;
    auto path = auth_metadata.find(":path");
    if (path == auth_metadata.end()) {
      // Fail closed: without the method there is no rule to apply.
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "call without a method path");
    }
    const std::string method = ToString(path->second);
    const MethodRule* rule = FindMethodRule(method);
    if (rule != nullptr && rule->scope == Scope::kOpen) return grpc::Status::OK;
    Identity who;
    absl::Status decision = Decide(method, CredentialsOf(context, auth_metadata, ""), &who);
    if (!decision.ok()) {
      if (metrics_ != nullptr) metrics_->Denied(method, decision.code());
      // The door does not see the peer's address nor the request: who and what only.
      if (audit_ != nullptr) audit_->Append(MakeAuditEntry(who, method, "", 0, "", decision));
    }
    return ToGrpcStatus(decision);
  }

 private:
  absl::Status Decide(const std::string& method, const PeerCredentials& credentials,
                      Identity* who) const {
    absl::StatusOr<Identity> identity = authenticator_->Authenticate(credentials);
    if (identity.ok()) *who = *identity;
    if (!identity.ok()) {
      return absl::Status(identity.status().code(),
                          absl::StrCat(ShortMethodName(method), ": ", identity.status().message()));
    }
    return authorizer_.Check(*identity, Action{method, std::nullopt, std::nullopt});
  }

  const Authenticator* authenticator_;
  const Authorizer& authorizer_;
  AuthMetrics* metrics_;
  AuditLog* audit_;
};

}  // namespace

PeerCredentials CredentialsOf(const grpc::AuthContext* auth_context,
                              const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                              std::string peer) {
  PeerCredentials credentials;
  credentials.peer = std::move(peer);
  auto authorization = metadata.find("authorization");
  if (authorization != metadata.end()) {
    credentials.bearer_token = TokenFromAuthorizationHeader(
        absl::string_view(authorization->second.data(), authorization->second.size()));
  }
  if (auth_context != nullptr) {
    std::vector<grpc::string_ref> transport =
        auth_context->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
    std::vector<grpc::string_ref> pem =
        auth_context->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
    // Only a certificate from a TLS handshake counts (gRPC verified it against the farm CA).
    if (!transport.empty() && ToString(transport.front()) == GRPC_SSL_TRANSPORT_SECURITY_TYPE &&
        !pem.empty()) {
      credentials.cert_pem = ToString(pem.front());
    }
  }
  return credentials;
}

Identity AnonymousCaller(const grpc::ServerContextBase& context) {
  Identity anonymous;
  anonymous.peer = context.peer();
  return anonymous;
}

absl::StatusOr<Identity> GrpcAuth::Authenticate(const grpc::ServerContextBase& context) const {
  if (authenticator_ == nullptr) return AnonymousCaller(context);
  std::shared_ptr<const grpc::AuthContext> auth_context = context.auth_context();
  return authenticator_->Authenticate(
      CredentialsOf(auth_context.get(), context.client_metadata(), context.peer()));
}

grpc::Status GrpcAuth::Check(const grpc::ServerContextBase& context, const Action& action) const {
  if (authenticator_ == nullptr) return grpc::Status::OK;
  absl::StatusOr<Identity> identity = Authenticate(context);
  if (!identity.ok()) return ToGrpcStatus(identity.status());
  return ToGrpcStatus(authorizer_.Check(*identity, action));
}

grpc::Status GrpcAuth::CheckWorkerId(const grpc::ServerContextBase& context,
                                     absl::string_view claimed_worker_id) const {
  if (authenticator_ == nullptr) return grpc::Status::OK;
  absl::StatusOr<Identity> identity = Authenticate(context);
  if (!identity.ok()) return ToGrpcStatus(identity.status());
  return ToGrpcStatus(authorizer_.CheckWorkerId(*identity, claimed_worker_id));
}

absl::Status GrpcAuth::Allow(const Identity& who, const Action& action) const {
  if (authenticator_ == nullptr) return absl::OkStatus();
  absl::Status decision = authorizer_.Check(who, action);
  if (!decision.ok() && metrics_ != nullptr) metrics_->Denied(action.method, decision.code());
  return decision;
}

void GrpcAuth::Audit(const Identity& who, absl::string_view method, std::string object,
                     int64_t job_id, std::string project, const absl::Status& outcome) const {
  Audit(who, method, std::move(object), job_id, std::move(project), outcome, nullptr);
}

void GrpcAuth::Audit(const Identity& who, absl::string_view method, std::string object,
                     int64_t job_id, std::string project, const absl::Status& outcome,
                     AuditLog::CommitCallback committed) const {
  if (audit_ == nullptr) {
    if (committed) committed(absl::OkStatus());
    return;
  }
  audit_->Append(
      MakeAuditEntry(who, method, std::move(object), job_id, std::move(project), outcome),
      std::move(committed));
}

std::shared_ptr<grpc::AuthMetadataProcessor> GrpcAuth::DoorProcessor() const {
  return std::make_shared<DoorProcessorImpl>(authenticator_, authorizer_, metrics_, audit_);
}

}  // namespace genfarm::scheduler::auth
