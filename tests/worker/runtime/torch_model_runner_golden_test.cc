// Golden tests: the converted UpscalerJS models, run through TorchModelRunner, reproduce
// the packages' own sample outputs (assets/samples/<N>x/result.png) within 1 LSB. Needs the
// fetched model repository (worker/models/fetch_models.sh); missing it is a failure.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "common/clock.h"
#include "gtest/gtest.h"
#include "tests/worker/runtime/test_support.h"
#include "worker/runtime/model_repository.h"
#include "worker/runtime/torch_model_runner.h"

namespace genfarm::worker {
namespace {

struct Golden {
  std::string model;
  int scale;
};

class GoldenTest : public ::testing::TestWithParam<Golden> {};

TEST_P(GoldenTest, MatchesThePackageSampleWithinOneLsb) {
  const Golden& g = GetParam();
  const std::string dir = testing::ModelsDir();
  if (!std::filesystem::exists(dir + "/" + g.model + "/manifest.json")) {
    FAIL() << dir << "/" << g.model << " not found: run worker/models/fetch_models.sh "
           << "(or set GENFARM_MODELS to a model repository)";
  }
  ModelRepository repo(dir);
  ASSERT_TRUE(repo.Scan().ok());
  absl::StatusOr<Manifest> m = repo.Find(g.model);  // also verifies the checksum
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->scale, g.scale);
  ASSERT_EQ(m->value_max, 255.0f);  // the fixture's 8-bit values go in unscaled

  absl::StatusOr<Image> fixture = testing::ReadPng(m->folder + "/golden/fixture.png");
  ASSERT_TRUE(fixture.ok()) << fixture.status();
  absl::StatusOr<Image> want = testing::ReadPng(m->folder + "/golden/result.png");
  ASSERT_TRUE(want.ok()) << want.status();
  ASSERT_EQ(want->width, fixture->width * g.scale);
  ASSERT_EQ(want->height, fixture->height * g.scale);

  // The fixture fits in one manifest tile, so also run it cut into small tiles: blending
  // must not cost accuracy. Overlap stays the manifest's (sized for the receptive field).
  Manifest small_tiles = *m;
  small_tiles.tile_size = 2 * m->tile_overlap + 16;
  FakeClock clock;
  auto runner = TorchModelRunner::Load(*m, CpuDevice(), clock);
  ASSERT_TRUE(runner.ok()) << runner.status();
  auto small_runner = TorchModelRunner::Load(small_tiles, CpuDevice(), clock);
  ASSERT_TRUE(small_runner.ok()) << small_runner.status();
  // 0: manifest tiles (default options), 1: one whole-frame pass, 2: small tiles.
  for (int variant : {0, 1, 2}) {
    RunOptions options;
    options.tiled = variant != 1;
    const bool tiled = variant != 1;
    TorchModelRunner& r = variant == 2 ? **small_runner : **runner;
    auto out = r.Upscale({*fixture}, options);
    ASSERT_TRUE(out.ok()) << out.status();
    const Image& got = (*out)[0];
    ASSERT_EQ(got.width, want->width);
    ASSERT_EQ(got.height, want->height);
    // Like the reference: clip to 0-255 (the runner did) and round half to even.
    float max_diff = 0.0f;
    double sum = 0.0;
    int differing = 0;
    for (size_t i = 0; i < got.pixels.size(); ++i) {
      const float d = std::abs(std::nearbyint(got.pixels[i]) - want->pixels[i]);
      max_diff = std::max(max_diff, d);
      sum += d;
      differing += d > 0;
    }
    static const char* kVariant[] = {"manifest tiles", "whole frame", "small tiles"};
    std::printf("golden %s (%s): max |diff| %.0f, mean |diff| %.6f, %d values differ\n",
                g.model.c_str(), kVariant[variant], max_diff, sum / got.pixels.size(), differing);
    EXPECT_LE(max_diff, 1.0f) << g.model << " " << kVariant[variant] << " tiled=" << tiled;
  }
}

INSTANTIATE_TEST_SUITE_P(Upscalers, GoldenTest,
                         ::testing::Values(Golden{"esrgan-slim-x2", 2}, Golden{"esrgan-slim-x3", 3},
                                           Golden{"esrgan-slim-x4", 4}),
                         [](const ::testing::TestParamInfo<Golden>& info) {
                           std::string name = info.param.model;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace genfarm::worker
