// TorchModelLoader: the production ModelLoader, loading TorchScript models into
// TorchModelRunners. Stateless apart from the clock it hands to runners; thread-safe.
//
//   TorchModelLoader loader(RealClock::Get());
//   ModelCache cache(loader, RealClock::Get());
#ifndef GENFARM_WORKER_RUNTIME_TORCH_MODEL_LOADER_H_
#define GENFARM_WORKER_RUNTIME_TORCH_MODEL_LOADER_H_

#include <memory>

#include "common/clock.h"
#include "worker/runtime/model_loader.h"

namespace genfarm::worker {

class TorchModelLoader : public ModelLoader {
 public:
  explicit TorchModelLoader(const Clock& clock) : clock_(clock) {}
  absl::StatusOr<std::unique_ptr<ModelRunner>> Load(const Manifest& manifest,
                                                    const DeviceSpec& device) override;

 private:
  const Clock& clock_;
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_RUNTIME_TORCH_MODEL_LOADER_H_
