// ReadModelCatalogFile: the model facts a studio declares before any worker connects
// (`genfarm-scheduler --model_catalog FILE`), so jobs naming those models are planned at
// once instead of waiting for a worker's hello (docs/architecture.md, planning). A worker
// that later advertises different facts wins for jobs planned after it.
//
//   # models.yaml
//   models:
//     - {name: esrgan-slim-x2, kind: upscale}
//     - {name: rife-v4.6, kind: interpolate, window_before: 0, window_after: 1}
//
//   GENFARM_ASSIGN_OR_RETURN(std::vector<v1::ModelInfo> models, ReadModelCatalogFile(path));
//   core.LearnModels(models);
//
// Errors name the file, the entry and the field. Thread-safe (no state).
#ifndef GENFARM_SCHEDULER_SERVICE_MODEL_CATALOG_FILE_H_
#define GENFARM_SCHEDULER_SERVICE_MODEL_CATALOG_FILE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "genfarm/v1/types.pb.h"

namespace genfarm::scheduler {

// At most this many models in one file.
inline constexpr int kMaxCatalogFileModels = 1024;

absl::StatusOr<std::vector<v1::ModelInfo>> ReadModelCatalogFile(const std::string& path);

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_SERVICE_MODEL_CATALOG_FILE_H_
