// SHA-256 of files, for verifying model weights against their manifest.
//
//   GENFARM_ASSIGN_OR_RETURN(std::string hex, Sha256File("models/esrgan-slim-x2/model.pt"));
//   if (hex != manifest.sha256) ...
#ifndef GENFARM_WORKER_RUNTIME_SHA256_H_
#define GENFARM_WORKER_RUNTIME_SHA256_H_

#include <string>

#include "absl/status/statusor.h"

namespace genfarm::worker {

// Lowercase hex digest of the file's bytes. NotFound / Internal errors name the path.
absl::StatusOr<std::string> Sha256File(const std::string& path);

// Lowercase hex digest of `data`.
std::string Sha256Hex(const std::string& data);

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_RUNTIME_SHA256_H_
