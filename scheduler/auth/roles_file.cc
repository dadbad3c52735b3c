#include "scheduler/auth/roles_file.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace genfarm::scheduler::auth {
namespace {

absl::Status ErrorAt(const YAML::Node& node, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("roles file line ", node.Mark().line + 1, ": ", what));
}

absl::Status OnlyKeys(const YAML::Node& map, absl::string_view where,
                      const std::vector<std::string>& allowed) {
  if (!map.IsMap()) return ErrorAt(map, absl::StrCat(where, " must be a mapping"));
  for (const auto& kv : map) {
    const std::string key = kv.first.as<std::string>();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return ErrorAt(kv.first, absl::StrCat("unknown key '", key, "' in ", where, " (expected ",
                                            absl::StrJoin(allowed, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Scalar(const YAML::Node& node, absl::string_view what) {
  if (!node.IsScalar()) return ErrorAt(node, absl::StrCat(what, " must be a single value"));
  return node.as<std::string>();
}

// A scalar or a list of scalars.
absl::StatusOr<std::vector<std::string>> Scalars(const YAML::Node& node, absl::string_view what) {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    out.push_back(node.as<std::string>());
    return out;
  }
  if (!node.IsSequence()) return ErrorAt(node, absl::StrCat(what, " must be a value or a list"));
  for (const YAML::Node& item : node) {
    GENFARM_ASSIGN_OR_RETURN(std::string s, Scalar(item, what));
    out.push_back(std::move(s));
  }
  return out;
}

absl::Status ParsePerson(const std::string& name, const YAML::Node& node, PersonConfig& person) {
  const std::string where = absl::StrCat("people.", name);
  GENFARM_RETURN_IF_ERROR(OnlyKeys(node, where, {"token_sha256", "cert_cn", "expires", "roles"}));
  person.name = name;
  if (node["token_sha256"]) {
    GENFARM_ASSIGN_OR_RETURN(person.token_sha256,
                             Scalars(node["token_sha256"], where + ".token_sha256"));
    for (std::string& digest : person.token_sha256) {
      if (digest.size() != 64 || !std::all_of(digest.begin(), digest.end(), [](char c) {
            return absl::ascii_isxdigit(static_cast<unsigned char>(c));
          })) {
        return ErrorAt(node["token_sha256"],
                       absl::StrCat(where,
                                    ".token_sha256: expected 64 hex digits (the SHA-256 of the "
                                    "token, as deploy/certs.sh --token prints it)"));
      }
      absl::AsciiStrToLower(&digest);
    }
  }
  if (node["cert_cn"]) {
    GENFARM_ASSIGN_OR_RETURN(person.cert_cn, Scalar(node["cert_cn"], where + ".cert_cn"));
  }
  if (person.token_sha256.empty() && person.cert_cn.empty()) {
    return ErrorAt(node, absl::StrCat(where,
                                      " has neither token_sha256 nor cert_cn: they could "
                                      "never log in"));
  }
  if (node["expires"]) {
    GENFARM_ASSIGN_OR_RETURN(std::string text, Scalar(node["expires"], where + ".expires"));
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
      return ErrorAt(node["expires"], absl::StrCat(where, ".expires: '", text,
                                                   "' is not an RFC 3339 time such as "
                                                   "2027-06-30T00:00:00Z (",
                                                   err, ")"));
    }
    person.expires = t;
  }
  const YAML::Node roles = node["roles"];
  if (!roles) return ErrorAt(node, absl::StrCat(where, " has no roles"));
  if (!roles.IsMap())
    return ErrorAt(roles, absl::StrCat(where, ".roles must map projects to roles"));
  for (const auto& kv : roles) {
    const std::string project = kv.first.as<std::string>();
    GENFARM_ASSIGN_OR_RETURN(std::string role_name,
                             Scalar(kv.second, absl::StrCat(where, ".roles.", project)));
    absl::StatusOr<Role> role = ParseRole(role_name);
    if (!role.ok()) {
      return ErrorAt(kv.second,
                     absl::StrCat(where, ".roles.", project, ": ", role.status().message()));
    }
    if ((*role == Role::kOps || *role == Role::kAdmin) && project != kAllProjects) {
      return ErrorAt(kv.second, absl::StrCat(where, ".roles.", project, ": ", role_name,
                                             " is farm-wide: give it as '*': ", role_name));
    }
    person.roles[project] = *role;
  }
  return absl::OkStatus();
}

absl::Status ParseProject(const std::string& name, const YAML::Node& node, ProjectConfig& project) {
  const std::string where = absl::StrCat("projects.", name);
  GENFARM_RETURN_IF_ERROR(OnlyKeys(node, where, {"storage_roots"}));
  if (!node["storage_roots"]) return absl::OkStatus();
  GENFARM_ASSIGN_OR_RETURN(std::vector<std::string> roots,
                           Scalars(node["storage_roots"], where + ".storage_roots"));
  for (const std::string& root : roots) {
    std::filesystem::path p(root);
    if (!p.is_absolute()) {
      return ErrorAt(node["storage_roots"],
                     absl::StrCat(where, ".storage_roots: '", root, "' is not an absolute path"));
    }
    std::string normal = p.lexically_normal().string();
    while (normal.size() > 1 && absl::EndsWith(normal, "/")) normal.pop_back();
    project.storage_roots.push_back(normal);
  }
  return absl::OkStatus();
}

absl::StatusOr<RolesConfig> Parse(const YAML::Node& root) {
  RolesConfig config;
  if (root.IsNull()) return absl::InvalidArgumentError("roles file is empty");
  GENFARM_RETURN_IF_ERROR(
      OnlyKeys(root, "the roles file", {"people", "projects", "revoked_certificates"}));
  std::map<std::string, std::string> cert_owner;
  if (const YAML::Node people = root["people"]) {
    if (!people.IsMap()) return ErrorAt(people, "people must map names to people");
    for (const auto& kv : people) {
      const std::string name = kv.first.as<std::string>();
      PersonConfig person;
      GENFARM_RETURN_IF_ERROR(ParsePerson(name, kv.second, person));
      if (!person.cert_cn.empty()) {
        auto [it, inserted] = cert_owner.emplace(person.cert_cn, name);
        if (!inserted) {
          return ErrorAt(kv.second, absl::StrCat("cert_cn ", person.cert_cn, " is given to both ",
                                                 it->second, " and ", name));
        }
      }
      config.people.emplace(name, std::move(person));
    }
  }
  if (const YAML::Node projects = root["projects"]) {
    if (!projects.IsMap()) return ErrorAt(projects, "projects must map names to projects");
    for (const auto& kv : projects) {
      const std::string name = kv.first.as<std::string>();
      GENFARM_RETURN_IF_ERROR(ParseProject(name, kv.second, config.projects[name]));
    }
  }
  if (const YAML::Node revoked = root["revoked_certificates"]) {
    GENFARM_ASSIGN_OR_RETURN(std::vector<std::string> serials,
                             Scalars(revoked, "revoked_certificates"));
    for (const std::string& written : serials) {
      const std::string serial = CanonicalSerial(written);
      if (serial.empty() || !std::all_of(serial.begin(), serial.end(), [](char c) {
            return absl::ascii_isxdigit(static_cast<unsigned char>(c));
          })) {
        return ErrorAt(revoked,
                       "revoked_certificates: serial numbers are hex (openssl x509 "
                       "-noout -serial)");
      }
      config.revoked_certificates.insert(serial);
    }
  }
  return config;
}

}  // namespace

std::string CanonicalSerial(absl::string_view hex) {
  std::string serial = absl::AsciiStrToLower(hex);
  if (absl::StartsWith(serial, "0x")) serial.erase(0, 2);
  if (serial.empty()) return serial;
  serial.erase(0, std::min(serial.find_first_not_of('0'), serial.size() - 1));
  return serial;
}

absl::StatusOr<RolesConfig> ParseRolesYaml(absl::string_view text) {
  try {
    return Parse(YAML::Load(std::string(text)));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("roles file line ", e.mark.line + 1, ": ", e.msg));
  }
}

}  // namespace genfarm::scheduler::auth
