// ModelRepository: the folder of models a worker serves. Each subfolder holds a
// manifest.json and the TorchScript file it names. Scan() validates every model (manifest
// fields, file present, sha256 matches, file is a TorchScript archive); a broken model is
// recorded in errors() (and logged) and skipped, the others stay available.
//
//   ModelRepository repo("/var/lib/genfarm/models");
//   GENFARM_RETURN_IF_ERROR(repo.Scan());          // fails only if the folder is unreadable
//   for (const ModelError& e : repo.errors()) ...  // e.model, e.status
//   GENFARM_ASSIGN_OR_RETURN(Manifest m, repo.Find("esrgan-slim-x2"));
//
// Checksums are computed once per file version: rescans reuse digests of files whose
// (path, mtime, size) did not change. Thread-safe: Scan() may run while others call
// models()/Find(), which return copies.
#ifndef GENFARM_WORKER_RUNTIME_MODEL_REPOSITORY_H_
#define GENFARM_WORKER_RUNTIME_MODEL_REPOSITORY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "worker/runtime/manifest.h"

namespace genfarm::worker {

struct ModelError {
  std::string model;  // the model folder name (the manifest may be unreadable)
  absl::Status status;
};

class ModelRepository {
 public:
  explicit ModelRepository(std::string dir);

  // (Re)reads every subfolder. Returns an error only when the repository folder itself
  // cannot be read; per-model problems go to errors().
  absl::Status Scan();

  const std::string& dir() const { return dir_; }
  // Valid models sorted by name, with Manifest::folder and model_path filled in.
  std::vector<Manifest> models() const;
  // Problems found by the last Scan(), sorted by model folder.
  std::vector<ModelError> errors() const;
  // NotFound names the repository and, when the model was rejected, why.
  absl::StatusOr<Manifest> Find(const std::string& name) const;

 private:
  struct FileKey {
    int64_t mtime_ns;
    int64_t size;
    bool operator==(const FileKey& o) const { return mtime_ns == o.mtime_ns && size == o.size; }
  };
  struct CachedDigest {
    FileKey key;
    std::string sha256;
  };

  absl::StatusOr<Manifest> LoadModel(const std::string& folder, const std::string& folder_name);
  absl::StatusOr<std::string> Checksum(const std::string& path);

  const std::string dir_;
  mutable absl::Mutex mu_;
  std::vector<Manifest> models_ ABSL_GUARDED_BY(mu_);
  std::vector<ModelError> errors_ ABSL_GUARDED_BY(mu_);
  // Touched only by Scan(), which scan_mu_ serialises.
  absl::Mutex scan_mu_;
  absl::flat_hash_map<std::string, CachedDigest> digests_ ABSL_GUARDED_BY(scan_mu_);
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_RUNTIME_MODEL_REPOSITORY_H_
