// RIFE v4.6 through TorchModelRunner::Interpolate: on a textured disc moving 8 px over a
// textured background, the model's midpoint must beat a 50/50 blend of the two frames.
// Needs the fetched model repository (worker/models/fetch_models.sh).
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

constexpr int kWidth = 192, kHeight = 128, kDisc = 40;

// `background` with a textured disc whose top-left corner is at (x, y).
Image Scene(const Image& background, const Image& sprite, int x, int y) {
  Image out = background;
  const float r = (kDisc - 1) / 2.0f;
  for (int j = 0; j < kDisc; ++j) {
    for (int i = 0; i < kDisc; ++i) {
      if ((i - r) * (i - r) + (j - r) * (j - r) > r * r) continue;
      for (int c = 0; c < 3; ++c) out.at(x + i, y + j, c) = sprite.at(i, j, c);
    }
  }
  return out;
}

double Psnr(const Image& a, const Image& b) {
  double mse = 0.0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const double d = a.pixels[i] - b.pixels[i];
    mse += d * d;
  }
  mse /= a.pixels.size();
  return mse == 0.0 ? INFINITY : 10.0 * std::log10(1.0 / mse);
}

TEST(RifeTest, MidpointBeatsABlendOnAMovingShape) {
  const std::string dir = testing::ModelsDir();
  if (!std::filesystem::exists(dir + "/rife-v4.6/manifest.json")) {
    FAIL() << dir << "/rife-v4.6 not found: run worker/models/fetch_models.sh "
           << "(or set GENFARM_MODELS to a model repository)";
  }
  ModelRepository repo(dir);
  ASSERT_TRUE(repo.Scan().ok());
  absl::StatusOr<Manifest> m = repo.Find("rife-v4.6");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->kind, ModelKind::kInterpolate);
  FakeClock clock;
  auto runner = TorchModelRunner::Load(*m, CpuDevice(), clock);
  ASSERT_TRUE(runner.ok()) << runner.status();

  Image background = testing::SmoothTexture(kWidth, kHeight, 21, 1.0f, 24, 0.0f);
  for (float& v : background.pixels) v = 0.25f + 0.5f * v;
  const Image sprite = testing::SmoothTexture(kDisc, kDisc, 22, 1.0f, 4, 0.0f);
  const Image f0 = Scene(background, sprite, 60, 40);
  const Image mid = Scene(background, sprite, 64, 40);
  const Image f1 = Scene(background, sprite, 68, 40);

  absl::StatusOr<Image> out = (*runner)->Interpolate(f0, f1, 0.5f, RunOptions{});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->width, kWidth);
  ASSERT_EQ(out->height, kHeight);
  Image blend(kWidth, kHeight);
  for (size_t i = 0; i < blend.pixels.size(); ++i) {
    blend.pixels[i] = 0.5f * (f0.pixels[i] + f1.pixels[i]);
  }
  const double rife_db = Psnr(*out, mid), blend_db = Psnr(blend, mid);
  std::printf("rife-v4.6 midpoint PSNR %.2f dB vs 50/50 blend %.2f dB\n", rife_db, blend_db);
  EXPECT_GT(rife_db, blend_db + 6.0);

  // t moves the disc along its path: t=0.25 is nearer frame 0, t=0.75 nearer frame 1.
  auto early = (*runner)->Interpolate(f0, f1, 0.25f, RunOptions{});
  auto late = (*runner)->Interpolate(f0, f1, 0.75f, RunOptions{});
  ASSERT_TRUE(early.ok() && late.ok());
  EXPECT_GT(Psnr(*early, f0), Psnr(*early, f1));
  EXPECT_GT(Psnr(*late, f1), Psnr(*late, f0));
}

}  // namespace
}  // namespace genfarm::worker
