#include "worker/runtime/torch_model_loader.h"

#include <utility>

#include "common/status_macros.h"
#include "worker/runtime/torch_model_runner.h"

namespace genfarm::worker {

absl::StatusOr<std::unique_ptr<ModelRunner>> TorchModelLoader::Load(const Manifest& manifest,
                                                                    const DeviceSpec& device) {
  GENFARM_ASSIGN_OR_RETURN(std::unique_ptr<TorchModelRunner> runner,
                           TorchModelRunner::Load(manifest, device, clock_));
  return std::unique_ptr<ModelRunner>(std::move(runner));
}

}  // namespace genfarm::worker
