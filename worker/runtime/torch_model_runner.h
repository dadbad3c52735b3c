// TorchModelRunner: a TorchScript model loaded onto one device, the only LibTorch user in
// the runtime (this header is torch-free; the module lives behind a pointer).
//
// Upscale tiles frames larger than the manifest's tile size, runs up to batch_size tiles
// (or whole frames) per forward pass, blends overlapping tiles with feathered weights and
// crops to exactly scale x the input size. Interpolate runs forward(img0, img1, t).
// Outputs are clamped to the manifest's value range. Seeded models are seeded per frame
// (RunOptions::frame_seeds) right before that frame runs, so a frame renders the same alone
// or in a batch. On CUDA: one stream per runner, float16 when the manifest allows it.
//
//   GENFARM_ASSIGN_OR_RETURN(std::unique_ptr<TorchModelRunner> runner,
//                            TorchModelRunner::Load(manifest, CpuDevice(), RealClock::Get()));
//   GENFARM_ASSIGN_OR_RETURN(std::vector<Image> out, runner->Upscale(frames, RunOptions{}));
//   GENFARM_ASSIGN_OR_RETURN(double seconds, runner->BenchForward(10, 4, 128, 128));
//
// Thread-safe: calls are serialised per runner (one forward at a time per model and
// device); LibTorch errors come back as absl::Status naming the model: kResourceExhausted
// when memory ran out (the CPU allocator's or CUDA's out-of-memory, also when the TorchScript
// interpreter rethrows it from inside forward), which the worker reports as out_of_memory;
// kInternal for any other LibTorch failure (model_error). No exception escapes.
#ifndef GENFARM_WORKER_RUNTIME_TORCH_MODEL_RUNNER_H_
#define GENFARM_WORKER_RUNTIME_TORCH_MODEL_RUNNER_H_

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "worker/frames/image.h"
#include "worker/runtime/device_spec.h"
#include "worker/runtime/manifest.h"
#include "worker/runtime/model_runner.h"

namespace genfarm::worker {

class TorchModelRunner : public ModelRunner {
 public:
  // Loads manifest.model_path (set by ModelRepository) onto `device`. `clock` times
  // BenchForward and must outlive the runner.
  static absl::StatusOr<std::unique_ptr<TorchModelRunner>> Load(const Manifest& manifest,
                                                                const DeviceSpec& device,
                                                                const Clock& clock);
  ~TorchModelRunner() override;

  absl::StatusOr<std::vector<Image>> Upscale(const std::vector<Image>& batch,
                                             const RunOptions& options) override;
  absl::StatusOr<Image> Interpolate(const Image& a, const Image& b, float t,
                                    const RunOptions& options) override;

  // Bare forward loop over random in-memory inputs of [batch, 3, h, w] (no tiling, no
  // copies to or from Images): seconds for `iterations` passes after one warm-up pass.
  absl::StatusOr<double> BenchForward(int iterations, int batch, int h, int w);

  const Manifest& manifest() const { return manifest_; }
  const DeviceSpec& device() const { return device_; }

  struct TorchState;  // LibTorch objects; defined in the .cc only

 private:
  TorchModelRunner(Manifest manifest, DeviceSpec device, const Clock& clock,
                   std::unique_ptr<TorchState> state);

  const Manifest manifest_;
  const DeviceSpec device_;
  const Clock& clock_;
  absl::Mutex mu_;
  std::unique_ptr<TorchState> state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_RUNTIME_TORCH_MODEL_RUNNER_H_
