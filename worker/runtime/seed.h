// Per-frame seeds for generative models. A stage has one seed; each frame's seed is
// derived from it and the frame number alone, so re-rendering frame 1042 by itself (a
// retry, a partial re-render) reproduces exactly what the full run produced.
//
//   RunOptions options;
//   options.frame_seeds = {DeriveFrameSeed(stage.seed, 1041), DeriveFrameSeed(stage.seed, 1042)};
#ifndef GENFARM_WORKER_RUNTIME_SEED_H_
#define GENFARM_WORKER_RUNTIME_SEED_H_

#include <cstdint>

namespace genfarm::worker {

// splitmix64 finaliser over (stage_seed, frame): stable across platforms and releases
// (it is provenance written into output headers: never change it). Non-negative, so it
// is valid for torch::manual_seed and for any consumer that dislikes signed seeds.
inline int64_t DeriveFrameSeed(int64_t stage_seed, int64_t frame) {
  uint64_t z = static_cast<uint64_t>(stage_seed) +
               0x9E3779B97F4A7C15ULL * (static_cast<uint64_t>(frame) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z = z ^ (z >> 31);
  return static_cast<int64_t>(z & 0x7FFFFFFFFFFFFFFFULL);
}

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_RUNTIME_SEED_H_
