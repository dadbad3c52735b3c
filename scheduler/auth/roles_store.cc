#include "scheduler/auth/roles_store.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace genfarm::scheduler::auth {
namespace {

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(absl::StrCat("roles file ", path, ": ", std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status InFile(const std::string& path, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
}

}  // namespace

const PersonConfig* RolesSnapshot::Person(const std::string& name) const {
  auto it = config.people.find(name);
  return it == config.people.end() ? nullptr : &it->second;
}

absl::StatusOr<std::shared_ptr<const RolesSnapshot>> RolesSnapshot::Build(RolesConfig config,
                                                                          int64_t generation) {
  auto snapshot = std::make_shared<RolesSnapshot>();
  for (const auto& [name, person] : config.people) {
    for (const std::string& digest : person.token_sha256) {
      GENFARM_RETURN_IF_ERROR(snapshot->tokens.Add(digest, name, person.expires));
    }
    if (!person.cert_cn.empty()) snapshot->person_by_cert_cn[person.cert_cn] = name;
  }
  snapshot->config = std::move(config);
  snapshot->generation = generation;
  return std::shared_ptr<const RolesSnapshot>(std::move(snapshot));
}

RolesStore::RolesStore(std::string path, std::shared_ptr<const RolesSnapshot> snapshot, Stamp stamp)
    : path_(std::move(path)), current_(std::move(snapshot)), stamp_(stamp) {}

absl::StatusOr<RolesStore::Stamp> RolesStore::StampOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("roles file ", path, ": ", std::strerror(errno)));
  }
  return Stamp{int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec,
               static_cast<int64_t>(st.st_size), static_cast<uint64_t>(st.st_ino)};
}

absl::StatusOr<std::unique_ptr<RolesStore>> RolesStore::Open(std::string path) {
  GENFARM_ASSIGN_OR_RETURN(Stamp stamp, StampOf(path));
  GENFARM_ASSIGN_OR_RETURN(std::string text, ReadAll(path));
  absl::StatusOr<RolesConfig> config = ParseRolesYaml(text);
  if (!config.ok()) return InFile(path, config.status());
  absl::StatusOr<std::shared_ptr<const RolesSnapshot>> snapshot =
      RolesSnapshot::Build(*std::move(config), 1);
  if (!snapshot.ok()) return InFile(path, snapshot.status());
  return std::unique_ptr<RolesStore>(new RolesStore(std::move(path), *std::move(snapshot), stamp));
}

absl::StatusOr<std::unique_ptr<RolesStore>> RolesStore::FromYaml(absl::string_view text) {
  GENFARM_ASSIGN_OR_RETURN(RolesConfig config, ParseRolesYaml(text));
  GENFARM_ASSIGN_OR_RETURN(std::shared_ptr<const RolesSnapshot> snapshot,
                           RolesSnapshot::Build(std::move(config), 1));
  return std::unique_ptr<RolesStore>(new RolesStore("", std::move(snapshot), Stamp{}));
}

std::shared_ptr<const RolesSnapshot> RolesStore::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

absl::StatusOr<bool> RolesStore::ReloadIfChanged() {
  if (path_.empty()) return false;
  absl::StatusOr<Stamp> stamp = StampOf(path_);
  int64_t generation = 0;
  {
    absl::MutexLock lock(&mu_);
    // A missing file is reported once, like an invalid one, and the roles stay in force.
    Stamp now = stamp.ok() ? *stamp : Stamp{};
    if (now == stamp_) return false;
    stamp_ = now;
    generation = current_->generation + 1;
  }
  if (!stamp.ok())
    return absl::Status(stamp.status().code(),
                        absl::StrCat(stamp.status().message(), "; keeping the roles in force"));
  // Parsed outside the lock: readers keep using the current roles meanwhile.
  absl::StatusOr<std::string> text = ReadAll(path_);
  absl::StatusOr<RolesConfig> config =
      text.ok() ? ParseRolesYaml(*text) : absl::StatusOr<RolesConfig>(text.status());
  absl::StatusOr<std::shared_ptr<const RolesSnapshot>> snapshot =
      config.ok() ? RolesSnapshot::Build(*std::move(config), generation)
                  : absl::StatusOr<std::shared_ptr<const RolesSnapshot>>(config.status());
  if (!snapshot.ok()) {
    return absl::Status(
        snapshot.status().code(),
        absl::StrCat(path_, ": ", snapshot.status().message(), "; keeping the roles in force"));
  }
  absl::MutexLock lock(&mu_);
  current_ = *std::move(snapshot);
  return true;
}

}  // namespace genfarm::scheduler::auth
