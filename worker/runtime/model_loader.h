// ModelLoader: turns a verified Manifest into a ModelRunner on a device. ModelCache calls
// it on a miss; production uses TorchModelLoader, tests a fake that needs no LibTorch.
//
//   TorchModelLoader loader(RealClock::Get());
//   GENFARM_ASSIGN_OR_RETURN(std::unique_ptr<ModelRunner> runner,
//                            loader.Load(manifest, CpuDevice()));
#ifndef GENFARM_WORKER_RUNTIME_MODEL_LOADER_H_
#define GENFARM_WORKER_RUNTIME_MODEL_LOADER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "worker/runtime/device_spec.h"
#include "worker/runtime/manifest.h"
#include "worker/runtime/model_runner.h"

namespace genfarm::worker {

class ModelLoader {
 public:
  virtual ~ModelLoader() = default;
  // Loads manifest.model_path onto `device`. Errors name the model. May be called from
  // several threads at once (for different models).
  virtual absl::StatusOr<std::unique_ptr<ModelRunner>> Load(const Manifest& manifest,
                                                            const DeviceSpec& device) = 0;
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_RUNTIME_MODEL_LOADER_H_
