// Helpers shared by the frame and pipeline tests: a temporary folder, a folder listing,
// and FakeNearestRunner, a ModelRunner that upscales by pixel replication and interpolates
// by linear blending (so expected outputs are computable by hand).
#ifndef GENFARM_TESTS_LIB_FRAME_TEST_UTIL_H_
#define GENFARM_TESTS_LIB_FRAME_TEST_UTIL_H_

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "worker/frames/image.h"
#include "worker/runtime/model_runner.h"

namespace genfarm::worker::testing_util {

class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string tmpl = (std::filesystem::path(::testing::TempDir()) / "genfarm-XXXXXX").string();
    char* made = mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  ~ScopedTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const {
    return (std::filesystem::path(path_) / name).string();
  }

 private:
  std::string path_;
};

// Every entry name in `dir`, recursively, relative to it.
inline std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    names.push_back(std::filesystem::relative(e.path(), dir).string());
  }
  return names;
}

inline bool HasTempFiles(const std::string& dir) {
  for (const std::string& name : ListDir(dir)) {
    if (name.find(".tmp-") != std::string::npos) return true;
  }
  return false;
}

// A w x h image whose pixel (x, y) is (base + x, base + y, base) * step.
inline Image Ramp(int w, int h, float base, float step) {
  Image img(w, h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      img.at(x, y, 0) = (base + x) * step;
      img.at(x, y, 1) = (base + y) * step;
      img.at(x, y, 2) = base * step;
    }
  }
  return img;
}

inline Image NearestUpscale(const Image& in, int scale) {
  Image out(in.width * scale, in.height * scale, in.channels);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      for (int c = 0; c < in.channels; ++c) out.at(x, y, c) = in.at(x / scale, y / scale, c);
    }
  }
  return out;
}

class FakeNearestRunner : public ModelRunner {
 public:
  explicit FakeNearestRunner(int scale = 2) : scale_(scale) {}

  absl::StatusOr<std::vector<Image>> Upscale(const std::vector<Image>& batch,
                                             const RunOptions& options) override {
    if (before_upscale) {
      absl::Status s = before_upscale(options);
      if (!s.ok()) return s;
    }
    calls.fetch_add(1);
    {
      absl::MutexLock lock(&mu);
      batch_sizes.push_back(int(batch.size()));
      seeds.insert(seeds.end(), options.frame_seeds.begin(), options.frame_seeds.end());
      for (const Image& img : batch) {
        for (float v : img.pixels) max_input = std::max(max_input, v);
      }
    }
    std::vector<Image> out;
    for (const Image& img : batch) out.push_back(NearestUpscale(img, scale_));
    return out;
  }

  absl::StatusOr<Image> Interpolate(const Image& a, const Image& b, float t,
                                    const RunOptions& options) override {
    {
      absl::MutexLock lock(&mu);
      interpolations.push_back(t);
    }
    Image out(a.width, a.height, a.channels);
    for (size_t i = 0; i < out.pixels.size(); ++i) {
      out.pixels[i] = (1 - t) * a.pixels[i] + t * b.pixels[i];
    }
    return out;
  }

  // Runs first in every Upscale call (on the compute thread); an error is returned as is.
  std::function<absl::Status(const RunOptions&)> before_upscale;
  std::atomic<int> calls{0};
  absl::Mutex mu;
  std::vector<int> batch_sizes ABSL_GUARDED_BY(mu);
  std::vector<int64_t> seeds ABSL_GUARDED_BY(mu);
  std::vector<float> interpolations ABSL_GUARDED_BY(mu);
  float max_input ABSL_GUARDED_BY(mu) = 0.f;

 private:
  int scale_;
};

}  // namespace genfarm::worker::testing_util

#endif  // GENFARM_TESTS_LIB_FRAME_TEST_UTIL_H_
