#include "tests/worker/runtime/test_support.h"

#include <OpenImageIO/imageio.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace genfarm::worker::testing {

Image SmoothTexture(int width, int height, uint32_t seed, float scale, int cell, float noise) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  const int gw = width / cell + 2, gh = height / cell + 2;
  std::vector<float> grid(static_cast<size_t>(gw) * gh * 3);
  for (float& v : grid) v = uni(gen);
  auto g = [&](int x, int y, int c) { return grid[(static_cast<size_t>(y) * gw + x) * 3 + c]; };
  Image img(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const float fx = static_cast<float>(x) / cell, fy = static_cast<float>(y) / cell;
      const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
      const float ax = fx - x0, ay = fy - y0;
      for (int c = 0; c < 3; ++c) {
        const float top = g(x0, y0, c) * (1 - ax) + g(x0 + 1, y0, c) * ax;
        const float bottom = g(x0, y0 + 1, c) * (1 - ax) + g(x0 + 1, y0 + 1, c) * ax;
        const float smooth = top * (1 - ay) + bottom * ay;
        img.at(x, y, c) = scale * ((1.0f - noise) * smooth + noise * uni(gen));
      }
    }
  }
  return img;
}

absl::StatusOr<Image> ReadPng(const std::string& path) {
  auto in = OIIO::ImageInput::open(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": ", OIIO::geterror()));
  }
  const OIIO::ImageSpec& spec = in->spec();
  if (spec.nchannels < 3) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": expected RGB(A), got ", spec.nchannels, " channels"));
  }
  std::vector<unsigned char> raw(static_cast<size_t>(spec.width) * spec.height * spec.nchannels);
  if (!in->read_image(0, 0, 0, spec.nchannels, OIIO::TypeDesc::UINT8, raw.data())) {
    return absl::DataLossError(absl::StrCat(path, ": ", in->geterror()));
  }
  Image img(spec.width, spec.height);
  for (int y = 0; y < spec.height; ++y) {
    for (int x = 0; x < spec.width; ++x) {
      for (int c = 0; c < 3; ++c) {
        img.at(x, y, c) = raw[(static_cast<size_t>(y) * spec.width + x) * spec.nchannels + c];
      }
    }
  }
  return img;
}

std::string ModelsDir() {
  if (const char* env = std::getenv("GENFARM_MODELS"); env != nullptr && *env != '\0') {
    return env;
  }
  return GENFARM_MODELS_DIR;
}

float MaxAbsDiff(const Image& a, const Image& b) {
  if (a.pixels.size() != b.pixels.size()) return INFINITY;
  float m = 0.0f;
  for (size_t i = 0; i < a.pixels.size(); ++i) m = std::max(m, std::abs(a.pixels[i] - b.pixels[i]));
  return m;
}

}  // namespace genfarm::worker::testing
