// ModelRunner: a loaded model that turns frames into frames. The frame pipeline talks to
// this interface only; TorchModelRunner (the only LibTorch user) implements it, tests use
// fakes. Images given to and returned by a runner are in the model's own colour space
// and value range (Manifest::color_space / value_range): the pipeline converts.
//
//   GENFARM_ASSIGN_OR_RETURN(std::vector<Image> big, runner.Upscale(batch, {.seed = 7}));
//   GENFARM_ASSIGN_OR_RETURN(Image mid, runner.Interpolate(a, b, 0.5f, {}));
#ifndef GENFARM_WORKER_RUNTIME_MODEL_RUNNER_H_
#define GENFARM_WORKER_RUNTIME_MODEL_RUNNER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/frames/image.h"

namespace genfarm::worker {

struct RunOptions {
  int64_t seed = 0;   // per-frame seed for generative models (see DeriveFrameSeed)
  bool tiled = true;  // tile frames larger than the manifest's tile size
  // Seeded models only: one seed per frame of an Upscale batch (DeriveFrameSeed(stage
  // seed, frame number)). When empty, frame i of the batch uses DeriveFrameSeed(seed, i).
  // Seeded models run frame by frame so a frame's output never depends on its batch.
  std::vector<int64_t> frame_seeds;
};

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;

  // Single-frame models (kind "upscale" and the like): one output per input, in order.
  // The batch is run in one forward pass per tile when the model allows it.
  virtual absl::StatusOr<std::vector<Image>> Upscale(const std::vector<Image>& batch,
                                                     const RunOptions& options) = 0;

  // Two-frame models (kind "interpolate"): the frame at time t in (0, 1) between a and b.
  virtual absl::StatusOr<Image> Interpolate(const Image& a, const Image& b, float t,
                                            const RunOptions& options) = 0;
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_RUNTIME_MODEL_RUNNER_H_
