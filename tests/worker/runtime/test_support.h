// Helpers shared by the worker runtime tests: deterministic test images, PNG reading and
// where the model repositories are.
//
//   Image img = SmoothTexture(/*width=*/200, /*height=*/120, /*seed=*/7, /*scale=*/255.0f);
//   absl::StatusOr<Image> png = ReadPng(dir + "/golden/fixture.png");
#ifndef GENFARM_TESTS_WORKER_RUNTIME_TEST_SUPPORT_H_
#define GENFARM_TESTS_WORKER_RUNTIME_TEST_SUPPORT_H_

#include <string>

#include "absl/status/statusor.h"
#include "worker/frames/image.h"

namespace genfarm::worker::testing {

// Random colours on a `cell`-pixel lattice, bilinearly smoothed, plus `noise` of
// per-pixel noise; values in [0, scale]. Same arguments, same image.
Image SmoothTexture(int width, int height, uint32_t seed, float scale = 1.0f, int cell = 8,
                    float noise = 0.3f);

// 8-bit RGB(A) PNG as a 0-255 float RGB Image (alpha dropped). Uses OpenImageIO.
absl::StatusOr<Image> ReadPng(const std::string& path);

// The fetched model repository: $GENFARM_MODELS, else the GENFARM_MODELS_DIR the build
// was configured with.
std::string ModelsDir();

// Max |a - b| over all values; the images must have the same size.
float MaxAbsDiff(const Image& a, const Image& b);

}  // namespace genfarm::worker::testing

#endif  // GENFARM_TESTS_WORKER_RUNTIME_TEST_SUPPORT_H_
