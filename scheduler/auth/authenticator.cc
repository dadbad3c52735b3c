#include "scheduler/auth/authenticator.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/tls/certificate_info.h"
#include "scheduler/auth/roles_file.h"

namespace genfarm::scheduler::auth {
namespace {

bool ConsumeScheme(absl::string_view& value, absl::string_view scheme) {
  if (value.size() <= scheme.size() || !absl::StartsWithIgnoreCase(value, scheme) ||
      value[scheme.size()] != ' ') {
    return false;
  }
  value.remove_prefix(scheme.size() + 1);
  value = absl::StripAsciiWhitespace(value);
  return true;
}

absl::Status Expired(const PersonConfig& person) {
  return absl::UnauthenticatedError(absl::StrCat("the credentials of ", person.name, " expired at ",
                                                 absl::FormatTime(*person.expires)));
}

}  // namespace

std::string TokenFromAuthorizationHeader(absl::string_view value) {
  value = absl::StripAsciiWhitespace(value);
  if (ConsumeScheme(value, "Bearer")) return std::string(value);
  if (ConsumeScheme(value, "Basic")) {
    std::string decoded;
    if (!absl::Base64Unescape(value, &decoded)) return "";
    const size_t colon = decoded.find(':');
    return colon == std::string::npos ? "" : decoded.substr(colon + 1);
  }
  return "";
}

absl::StatusOr<Identity> Authenticator::Authenticate(const PeerCredentials& credentials) const {
  std::shared_ptr<const RolesSnapshot> roles = roles_.Current();
  const absl::Time now = clock_.Now();
  Identity identity;
  identity.peer = credentials.peer;
  if (!credentials.bearer_token.empty()) {
    std::optional<TokenStore::Match> match = roles->tokens.Find(credentials.bearer_token);
    if (!match) {
      return absl::UnauthenticatedError(
          "the bearer token matches nobody in the roles file (wrong, revoked or mistyped)");
    }
    const PersonConfig* person = roles->Person(match->person);
    if (person->expires && now >= *person->expires) return Expired(*person);
    identity.kind = IdentityKind::kPerson;
    identity.name = match->person;
    identity.credential = "token";
    return identity;
  }
  if (!credentials.cert_pem.empty()) {
    absl::StatusOr<tls::CertificateInfo> cert = tls::ParseCertificate(credentials.cert_pem);
    if (!cert.ok()) {
      return absl::UnauthenticatedError(
          absl::StrCat("client certificate: ", cert.status().message()));
    }
    if (roles->config.revoked_certificates.count(CanonicalSerial(cert->serial_hex)) > 0) {
      return absl::UnauthenticatedError(absl::StrCat(
          "the certificate of ", cert->common_name, " (serial ", cert->serial_hex, ") is revoked"));
    }
    identity.credential = "certificate";
    if (cert->HasUnit(tls::kWorkerUnit)) {
      identity.kind = IdentityKind::kWorker;
      identity.name = cert->common_name;
      return identity;
    }
    if (cert->HasUnit(tls::kUserUnit)) {
      auto it = roles->person_by_cert_cn.find(cert->common_name);
      if (it == roles->person_by_cert_cn.end()) {
        return absl::UnauthenticatedError(absl::StrCat(
            "the user certificate CN=", cert->common_name, " is not in the roles file (cert_cn)"));
      }
      const PersonConfig* person = roles->Person(it->second);
      if (person->expires && now >= *person->expires) return Expired(*person);
      identity.kind = IdentityKind::kPerson;
      identity.name = it->second;
      return identity;
    }
    return absl::UnauthenticatedError(absl::StrCat("the client certificate CN=", cert->common_name,
                                                   " is neither a worker's (OU=", tls::kWorkerUnit,
                                                   ") nor a person's (OU=", tls::kUserUnit, ")"));
  }
  return absl::UnauthenticatedError(
      "no credentials: people send a bearer token (GENFARM_TOKEN, --token), workers their "
      "certificate (--tls_cert)");
}

}  // namespace genfarm::scheduler::auth
