#include "worker/runtime/model_repository.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"
#include "worker/runtime/sha256.h"

namespace genfarm::worker {
namespace fs = std::filesystem;

namespace {

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot be read"));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// TorchScript archives are zip files; refusing anything else at scan time turns a
// truncated or mislabelled download into a clear error instead of a load failure later.
absl::Status CheckTorchScriptArchive(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, sizeof(magic));
  if (in.gcount() != 4 || magic[0] != 'P' || magic[1] != 'K' || magic[2] != 3 || magic[3] != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a TorchScript archive (no zip header)"));
  }
  return absl::OkStatus();
}

}  // namespace

ModelRepository::ModelRepository(std::string dir) : dir_(std::move(dir)) {}

absl::StatusOr<std::string> ModelRepository::Checksum(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return absl::NotFoundError(absl::StrCat(path, ": ", ec.message()));
  const auto mtime = fs::last_write_time(path, ec);
  if (ec) return absl::NotFoundError(absl::StrCat(path, ": ", ec.message()));
  const FileKey key{static_cast<int64_t>(mtime.time_since_epoch().count()),
                    static_cast<int64_t>(size)};
  absl::MutexLock lock(&scan_mu_);
  auto it = digests_.find(path);
  if (it != digests_.end() && it->second.key == key) return it->second.sha256;
  GENFARM_ASSIGN_OR_RETURN(std::string sha, Sha256File(path));
  digests_[path] = CachedDigest{key, sha};
  return sha;
}

absl::StatusOr<Manifest> ModelRepository::LoadModel(const std::string& folder,
                                                    const std::string& folder_name) {
  const std::string manifest_path = (fs::path(folder) / "manifest.json").string();
  GENFARM_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(manifest_path));
  GENFARM_ASSIGN_OR_RETURN(Manifest m, ParseManifest(text, manifest_path));
  m.folder = folder;
  m.model_path = (fs::path(folder) / m.file).string();
  std::error_code ec;
  if (!fs::is_regular_file(m.model_path, ec)) {
    return absl::NotFoundError(absl::StrCat("model ", m.name, ": file ", m.model_path,
                                            " named by manifest.json does not exist"));
  }
  GENFARM_ASSIGN_OR_RETURN(std::string sha, Checksum(m.model_path));
  if (sha != m.sha256) {
    return absl::DataLossError(absl::StrCat("model ", m.name, ": checksum mismatch for ",
                                            m.model_path, ": manifest says ", m.sha256,
                                            ", file has ", sha));
  }
  absl::Status archive = CheckTorchScriptArchive(m.model_path);
  if (!archive.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("model ", m.name, ": ", archive.message()));
  }
  return m;
}

absl::Status ModelRepository::Scan() {
  std::error_code ec;
  fs::directory_iterator it(dir_, ec);
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat("model repository ", dir_, " cannot be read: ", ec.message()));
  }
  std::vector<fs::path> folders;
  for (const fs::directory_entry& entry : it) {
    if (entry.is_directory(ec)) folders.push_back(entry.path());
  }
  std::sort(folders.begin(), folders.end());

  std::vector<Manifest> models;
  std::vector<ModelError> errors;
  absl::flat_hash_set<std::string> names;
  for (const fs::path& folder : folders) {
    const std::string folder_name = folder.filename().string();
    if (!folder_name.empty() && folder_name[0] == '.') continue;  // .cache, .tmp-downloads
    if (!fs::exists(folder / "manifest.json", ec)) {
      errors.push_back(
          {folder_name, absl::NotFoundError(absl::StrCat(folder.string(), ": no manifest.json"))});
      continue;
    }
    absl::StatusOr<Manifest> m = LoadModel(folder.string(), folder_name);
    if (m.ok() && !names.insert(m->name).second) {
      m = absl::AlreadyExistsError(absl::StrCat("model ", m->name, " in ", folder.string(),
                                                ": another folder already provides this name"));
    }
    if (!m.ok()) {
      errors.push_back({folder_name, m.status()});
      continue;
    }
    models.push_back(*std::move(m));
  }
  std::sort(models.begin(), models.end(),
            [](const Manifest& a, const Manifest& b) { return a.name < b.name; });
  for (const ModelError& e : errors) {
    spdlog::error("model repository {}: skipping model {}: {}", dir_, e.model, e.status.ToString());
  }
  spdlog::info("model repository {}: {} models available, {} rejected", dir_, models.size(),
               errors.size());
  absl::MutexLock lock(&mu_);
  models_ = std::move(models);
  errors_ = std::move(errors);
  return absl::OkStatus();
}

std::vector<Manifest> ModelRepository::models() const {
  absl::MutexLock lock(&mu_);
  return models_;
}

std::vector<ModelError> ModelRepository::errors() const {
  absl::MutexLock lock(&mu_);
  return errors_;
}

absl::StatusOr<Manifest> ModelRepository::Find(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  for (const Manifest& m : models_) {
    if (m.name == name) return m;
  }
  for (const ModelError& e : errors_) {
    if (e.model == name) {
      return absl::NotFoundError(absl::StrCat("model ", name, " in repository ", dir_,
                                              " was rejected: ", e.status.message()));
    }
  }
  return absl::NotFoundError(absl::StrCat("model ", name, " is not in repository ", dir_));
}

}  // namespace genfarm::worker
