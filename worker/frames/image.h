// An in-memory frame: float32, interleaved RGB (3 channels), row-major, top row first.
// Values are whatever the colour space says: scene-linear frames may exceed 1.0.
//
//   Image img(1920, 1080);
//   img.at(x, y, 0) = 0.5f;  // red of pixel (x, y)
#ifndef GENFARM_WORKER_FRAMES_IMAGE_H_
#define GENFARM_WORKER_FRAMES_IMAGE_H_

#include <cstddef>
#include <vector>

namespace genfarm::worker {

struct Image {
  Image() = default;
  Image(int w, int h, int c = 3) : width(w), height(h), channels(c), pixels(size_t(w) * h * c) {}
  float& at(int x, int y, int c) { return pixels[(size_t(y) * width + x) * channels + c]; }
  float at(int x, int y, int c) const { return pixels[(size_t(y) * width + x) * channels + c]; }

  int width = 0;
  int height = 0;
  int channels = 3;
  std::vector<float> pixels;
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_FRAMES_IMAGE_H_
