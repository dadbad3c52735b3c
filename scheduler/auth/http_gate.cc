#include "scheduler/auth/http_gate.h"

#include "absl/strings/str_cat.h"
#include "scheduler/auth/method_rules.h"

namespace genfarm::scheduler::auth {
namespace {

// The method_rules.h area a path belongs to: Prometheus' paths, or the dashboard's.
absl::string_view AreaOf(const std::string& path) {
  return path == "/metrics" || path == "/sd/workers" ? kHttpMetrics : kHttpDashboard;
}

}  // namespace

HttpGate::HttpGate(const Authenticator* authenticator, const Authorizer& authorizer,
                   const std::string& metrics_token_sha256, AuthMetrics* metrics)
    : authenticator_(authenticator), authorizer_(authorizer), metrics_(metrics) {
  if (!metrics_token_sha256.empty()) {
    // A malformed digest simply matches nothing; main.cc hashes the token itself.
    metrics_token_.Add(metrics_token_sha256, "prometheus", std::nullopt).IgnoreError();
  }
}

absl::Status HttpGate::Check(const std::string& path, const std::string& authorization_header,
                             const std::string& peer) const {
  Identity who;
  return Decide(path, authorization_header, peer, &who);
}

absl::Status HttpGate::Decide(const std::string& path, const std::string& authorization_header,
                              const std::string& peer, Identity* who) const {
  who->peer = peer;
  if (authenticator_ == nullptr || path == "/healthz") return absl::OkStatus();
  const std::string token = TokenFromAuthorizationHeader(authorization_header);
  const absl::string_view area = AreaOf(path);
  if (area == kHttpMetrics && metrics_token_.Find(token)) return absl::OkStatus();
  PeerCredentials credentials;
  credentials.bearer_token = token;
  credentials.peer = peer;
  absl::StatusOr<Identity> identity = authenticator_->Authenticate(credentials);
  if (!identity.ok()) {
    return absl::Status(identity.status().code(),
                        absl::StrCat(path, ": ", identity.status().message()));
  }
  *who = *identity;
  absl::Status allowed =
      authorizer_.Check(*identity, Action{std::string(area), std::nullopt, std::nullopt});
  if (!allowed.ok()) {
    return absl::Status(allowed.code(), absl::StrCat(path, ": ", allowed.message()));
  }
  return absl::OkStatus();
}

void HttpGate::Install(httplib::Server& server) const {
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    Identity who;
    absl::Status s = Decide(req.path, req.get_header_value("Authorization"),
                            absl::StrCat(req.remote_addr, ":", req.remote_port), &who);
    if (s.ok()) return httplib::Server::HandlerResponse::Unhandled;
    if (metrics_ != nullptr) metrics_->Denied("http", s.code());
    if (audit_ != nullptr) {
      audit_->Append(
          MakeAuditEntry(who, AreaOf(req.path), absl::StrCat(req.method, " ", req.path), 0, "", s));
    }
    if (s.code() == absl::StatusCode::kUnauthenticated) {
      res.status = 401;
      res.set_header("WWW-Authenticate", "Basic realm=\"GenFarm\", charset=\"UTF-8\"");
    } else {
      res.status = 403;
    }
    res.set_content(absl::StrCat(s.message(), "\n"), "text/plain");
    return httplib::Server::HandlerResponse::Handled;
  });
}

}  // namespace genfarm::scheduler::auth
