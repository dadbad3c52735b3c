// Runs TorchScript models the build generates (make_test_models.py) and, when the model
// repository has been fetched, esrgan-slim-x2.
#include "worker/runtime/torch_model_runner.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/runtime/test_support.h"
#include "worker/runtime/model_cache.h"
#include "worker/runtime/model_repository.h"
#include "worker/runtime/seed.h"
#include "worker/runtime/tiling.h"
#include "worker/runtime/torch_model_loader.h"

namespace genfarm::worker {
namespace {

using ::testing::HasSubstr;
using testing::MaxAbsDiff;
using ::testing::Not;
using testing::SmoothTexture;

class TorchModelRunnerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new ModelRepository(GENFARM_TEST_MODELS_DIR);
    ASSERT_TRUE(repo_->Scan().ok());
    ASSERT_TRUE(repo_->errors().empty()) << repo_->errors()[0].status;
  }
  static void TearDownTestSuite() { delete repo_; }

  std::unique_ptr<TorchModelRunner> Load(const std::string& name) {
    absl::StatusOr<Manifest> m = repo_->Find(name);
    EXPECT_TRUE(m.ok()) << m.status();
    if (!m.ok()) return nullptr;
    absl::StatusOr<std::unique_ptr<TorchModelRunner>> runner =
        TorchModelRunner::Load(*m, CpuDevice(), clock_);
    EXPECT_TRUE(runner.ok()) << runner.status();
    return runner.ok() ? std::move(*runner) : nullptr;
  }

  static Image Run(TorchModelRunner& runner, const Image& img, bool tiled) {
    RunOptions options;
    options.tiled = tiled;
    absl::StatusOr<std::vector<Image>> out = runner.Upscale({img}, options);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? (*out)[0] : Image();
  }

  static ModelRepository* repo_;
  FakeClock clock_;
};
ModelRepository* TorchModelRunnerTest::repo_ = nullptr;

// Largest |tiled - untiled| per output column, to look for seams.
std::vector<float> ColumnMaxDiff(const Image& a, const Image& b) {
  std::vector<float> cols(a.width, 0.0f);
  for (int y = 0; y < a.height; ++y) {
    for (int x = 0; x < a.width; ++x) {
      for (int c = 0; c < 3; ++c) {
        cols[x] = std::max(cols[x], std::abs(a.at(x, y, c) - b.at(x, y, c)));
      }
    }
  }
  return cols;
}

// Output columns within the overlap of two tiles, i.e. where a seam would be.
std::vector<bool> SeamColumns(int width, int tile, int overlap, int scale) {
  std::vector<bool> seam(width * scale, false);
  std::vector<int> starts = PlanTileStarts(width, tile, overlap);
  for (size_t i = 1; i < starts.size(); ++i) {
    const int begin = starts[i], end = std::min(width, starts[i - 1] + tile);
    for (int x = begin * scale; x < end * scale; ++x) seam[x] = true;
  }
  return seam;
}

TEST_F(TorchModelRunnerTest, TiledMatchesUntiledExactlyForSmallReceptiveField) {
  auto runner = Load("tiny-x2");
  ASSERT_NE(runner, nullptr);
  const Image img = SmoothTexture(150, 97, 1);  // 5 x 4 tiles of 32 + 8, batches of 3
  const Image whole = Run(*runner, img, /*tiled=*/false);
  const Image tiled = Run(*runner, img, /*tiled=*/true);
  ASSERT_EQ(whole.width, 300);
  ASSERT_EQ(whole.height, 194);
  ASSERT_EQ(tiled.width, 300);
  ASSERT_EQ(tiled.height, 194);
  // Receptive radius 2 < the 3 px zero-weight margin: tiling changes nothing.
  EXPECT_LT(MaxAbsDiff(whole, tiled), 1e-5);

  // The untiled output is not trivially equal to the input upsampled: the model does work.
  float from_input = 0.0f;
  for (int y = 0; y < 194; ++y)
    for (int x = 0; x < 300; ++x)
      from_input = std::max(from_input, std::abs(whole.at(x, y, 0) - img.at(x / 2, y / 2, 0)));
  EXPECT_GT(from_input, 1e-3);
}

TEST_F(TorchModelRunnerTest, PadsToPadMultipleAndCropsBack) {
  auto padded = Load("tiny-pad8-x2");
  auto plain = Load("tiny-x2");  // same weights, accepts any size
  ASSERT_NE(padded, nullptr);
  ASSERT_NE(plain, nullptr);
  const Image img = SmoothTexture(45, 29, 2);  // neither is a multiple of 8
  for (bool tiled : {false, true}) {
    const Image got = Run(*padded, img, tiled);
    const Image want = Run(*plain, img, tiled);
    ASSERT_EQ(got.width, 90);
    ASSERT_EQ(got.height, 58);
    // Identical except near the bottom/right edge, where replicate padding replaces the
    // zero padding the plain model sees.
    float diff = 0.0f;
    for (int y = 0; y < 58 - 6; ++y)
      for (int x = 0; x < 90 - 6; ++x)
        for (int c = 0; c < 3; ++c)
          diff = std::max(diff, std::abs(got.at(x, y, c) - want.at(x, y, c)));
    EXPECT_LT(diff, 1e-5) << "tiled=" << tiled;
  }
}

TEST_F(TorchModelRunnerTest, BatchOfMixedSizesMatchesSingleFrames) {
  auto runner = Load("tiny-x2");
  ASSERT_NE(runner, nullptr);
  std::vector<Image> frames = {SmoothTexture(70, 40, 3), SmoothTexture(20, 25, 4),
                               SmoothTexture(70, 40, 5), SmoothTexture(33, 64, 6)};
  absl::StatusOr<std::vector<Image>> batch = runner->Upscale(frames, RunOptions{});
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    const Image single = Run(*runner, frames[i], true);
    EXPECT_EQ((*batch)[i].width, frames[i].width * 2);
    EXPECT_LT(MaxAbsDiff((*batch)[i], single), 1e-5) << "frame " << i;
  }
}

TEST_F(TorchModelRunnerTest, OutputIsClampedToTheValueRange) {
  auto runner = Load("tiny-x2");
  ASSERT_NE(runner, nullptr);
  Image white(40, 40);
  std::fill(white.pixels.begin(), white.pixels.end(), 1.0f);
  const Image out = Run(*runner, white, true);
  auto [lo, hi] = std::minmax_element(out.pixels.begin(), out.pixels.end());
  EXPECT_GE(*lo, 0.0f);
  EXPECT_EQ(*hi, 1.0f);  // 1 + 0.2 * conv exceeds 1 somewhere and is clamped
}

TEST_F(TorchModelRunnerTest, SeededModelReproducesEachFrameAloneOrInABatch) {
  auto runner = Load("noise-x1");
  ASSERT_NE(runner, nullptr);
  const std::vector<Image> frames = {SmoothTexture(24, 16, 7), SmoothTexture(24, 16, 8)};
  RunOptions batch_options;
  batch_options.frame_seeds = {DeriveFrameSeed(42, 1001), DeriveFrameSeed(42, 1002)};
  auto batch = runner->Upscale(frames, batch_options);
  ASSERT_TRUE(batch.ok()) << batch.status();

  RunOptions alone;  // re-render frame 1002 by itself
  alone.frame_seeds = {DeriveFrameSeed(42, 1002)};
  auto single = runner->Upscale({frames[1]}, alone);
  ASSERT_TRUE(single.ok()) << single.status();
  EXPECT_EQ((*single)[0].pixels, (*batch)[1].pixels);
  EXPECT_GT(MaxAbsDiff((*batch)[0], frames[0]), 0.01f);  // noise was added

  RunOptions other;
  other.frame_seeds = {DeriveFrameSeed(43, 1002)};
  auto different = runner->Upscale({frames[1]}, other);
  ASSERT_TRUE(different.ok());
  EXPECT_GT(MaxAbsDiff((*different)[0], (*batch)[1]), 0.01f);

  RunOptions wrong;
  wrong.frame_seeds = {1, 2, 3};
  EXPECT_EQ(runner->Upscale(frames, wrong).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SeedTest, DeriveFrameSeedIsStableAndSpreads) {
  EXPECT_EQ(DeriveFrameSeed(42, 1001), DeriveFrameSeed(42, 1001));
  EXPECT_NE(DeriveFrameSeed(42, 1001), DeriveFrameSeed(42, 1002));
  EXPECT_NE(DeriveFrameSeed(42, 1001), DeriveFrameSeed(43, 1001));
  EXPECT_GE(DeriveFrameSeed(-5, -7), 0);
  // Pinned: the value is provenance in output headers and must never change.
  EXPECT_EQ(DeriveFrameSeed(1, 1), 4533873174211652711LL);
}

TEST_F(TorchModelRunnerTest, InterpolateRunsTheTwoFrameModel) {
  auto runner = Load("blend");
  ASSERT_NE(runner, nullptr);
  const Image a = SmoothTexture(33, 21, 9), b = SmoothTexture(33, 21, 10);
  absl::StatusOr<Image> mid = runner->Interpolate(a, b, 0.25f, RunOptions{});
  ASSERT_TRUE(mid.ok()) << mid.status();
  Image want(33, 21);
  for (size_t i = 0; i < want.pixels.size(); ++i) {
    want.pixels[i] = 0.75f * a.pixels[i] + 0.25f * b.pixels[i];
  }
  EXPECT_LT(MaxAbsDiff(*mid, want), 1e-6);

  EXPECT_EQ(runner->Interpolate(a, SmoothTexture(30, 21, 1), 0.5f, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status wrong_kind = runner->Upscale({a}, {}).status();
  EXPECT_EQ(wrong_kind.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(wrong_kind.message(), HasSubstr("model blend"));
}

TEST_F(TorchModelRunnerTest, BadInputsAreErrorsNamingTheModel) {
  auto runner = Load("tiny-x2");
  ASSERT_NE(runner, nullptr);
  Image broken(10, 10);
  broken.pixels.resize(7);
  absl::Status s = runner->Upscale({broken}, {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("model tiny-x2: frame 0"));
  EXPECT_TRUE(runner->Upscale({}, {}).ok());
}

TEST_F(TorchModelRunnerTest, UnloadableModelFailsWithItsNameWhileOthersServe) {
  TorchModelLoader loader(clock_);
  ModelCache cache(loader, clock_);
  absl::StatusOr<Manifest> bad = repo_->Find("not-torchscript");
  ASSERT_TRUE(bad.ok()) << bad.status();  // passes the scan: it is a zip with the right hash
  auto got = cache.Get(*bad, CpuDevice());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(got.status().message(), HasSubstr("model not-torchscript: cannot load"));

  absl::StatusOr<Manifest> good = repo_->Find("tiny-x2");
  ASSERT_TRUE(good.ok());
  auto runner = cache.Get(*good, CpuDevice());
  ASSERT_TRUE(runner.ok()) << runner.status();
  EXPECT_TRUE((*runner)->Upscale({SmoothTexture(8, 8, 1)}, {}).ok());
  EXPECT_EQ(cache.stats().loads, 1);
  EXPECT_EQ(cache.stats().load_failures, 1);
}

// A forward that runs out of memory is kResourceExhausted (the worker's out_of_memory), not
// a model error, and not a crash: inside forward() the TorchScript interpreter rethrows the
// allocator's c10::Error as a std::runtime_error, which must not escape the runner.
TEST_F(TorchModelRunnerTest, OutOfMemoryInsideForwardIsResourceExhausted) {
  auto hungry = Load("hungry-x1");  // asks the real CPU allocator for 2^62 bytes
  ASSERT_NE(hungry, nullptr);
  absl::Status s = hungry->Upscale({SmoothTexture(8, 8, 1)}, {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(s.message(), HasSubstr("model hungry-x1: upscale failed: RuntimeError: "));
  EXPECT_THAT(s.message(), HasSubstr("DefaultCPUAllocator: can't allocate memory"));
  EXPECT_THAT(s.message(), Not(HasSubstr("Traceback")));  // one line for `genfarm status`
  EXPECT_EQ(hungry->BenchForward(1, 1, 8, 8).status().code(), absl::StatusCode::kResourceExhausted);

  auto cuda = Load("cuda-oom-x1");  // CUDA's out-of-memory text, as the interpreter passes it on
  ASSERT_NE(cuda, nullptr);
  s = cuda->Upscale({SmoothTexture(8, 8, 1)}, {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(s.message(), HasSubstr("CUDA out of memory. Tried to allocate 20.00 GiB"));

  // The runner still serves after an out-of-memory failure.
  EXPECT_TRUE(hungry->Upscale({}, {}).ok());
  auto tiny = Load("tiny-x2");
  ASSERT_NE(tiny, nullptr);
  EXPECT_TRUE(tiny->Upscale({SmoothTexture(8, 8, 1)}, {}).ok());
}

TEST_F(TorchModelRunnerTest, OtherErrorsInsideForwardAreInternalNotACrash) {
  auto raises = Load("raises-x1");
  ASSERT_NE(raises, nullptr);
  absl::Status s = raises->Upscale({SmoothTexture(8, 8, 1)}, {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_THAT(s.message(), HasSubstr("model raises-x1: upscale failed: "));
  EXPECT_THAT(s.message(), HasSubstr("the model cannot handle this input"));
}

TEST_F(TorchModelRunnerTest, CudaDeviceIsRefusedWithoutCuda) {
  absl::StatusOr<Manifest> m = repo_->Find("tiny-x2");
  ASSERT_TRUE(m.ok());
  auto runner = TorchModelRunner::Load(*m, DeviceSpec{"cuda", 7, "gpu", 1 << 30}, clock_);
  EXPECT_FALSE(runner.ok());
  EXPECT_THAT(runner.status().message(), HasSubstr("model tiny-x2"));
}

TEST_F(TorchModelRunnerTest, BenchForwardTimesOnTheInjectedClock) {
  auto runner = Load("tiny-x2");
  ASSERT_NE(runner, nullptr);
  absl::StatusOr<double> seconds = runner->BenchForward(3, 2, 16, 16);
  ASSERT_TRUE(seconds.ok()) << seconds.status();
  EXPECT_EQ(*seconds, 0.0);  // the fake clock did not move
  EXPECT_FALSE(runner->BenchForward(0, 1, 1, 1).ok());
  auto blend = Load("blend");
  ASSERT_NE(blend, nullptr);
  EXPECT_TRUE(blend->BenchForward(1, 1, 16, 16).ok());
}

// The real thing: esrgan-slim-x2's receptive field is wider than a test model's, so tiling
// is close rather than exact, and must not leave seams.
TEST(EsrganTilingTest, TiledAgreesWithUntiledWithoutSeams) {
  const std::string dir = testing::ModelsDir();
  if (!std::filesystem::exists(dir + "/esrgan-slim-x2/manifest.json")) {
    FAIL() << dir << "/esrgan-slim-x2 not found: run worker/models/fetch_models.sh "
           << "(or set GENFARM_MODELS to a model repository)";
  }
  ModelRepository repo(dir);
  ASSERT_TRUE(repo.Scan().ok());
  absl::StatusOr<Manifest> m = repo.Find("esrgan-slim-x2");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_GT(m->tile_size, 0);
  FakeClock clock;
  auto runner = TorchModelRunner::Load(*m, CpuDevice(), clock);
  ASSERT_TRUE(runner.ok()) << runner.status();

  const int w = m->tile_size * 2 + 37, h = m->tile_size + 45;  // 3 x 2 tiles
  const Image img = SmoothTexture(w, h, 11, 255.0f);
  RunOptions whole_opts, tiled_opts;
  whole_opts.tiled = false;
  auto whole = (*runner)->Upscale({img}, whole_opts);
  auto tiled = (*runner)->Upscale({img}, tiled_opts);
  ASSERT_TRUE(whole.ok() && tiled.ok());
  const Image& a = (*whole)[0];
  const Image& b = (*tiled)[0];
  ASSERT_EQ(b.width, w * 2);
  ASSERT_EQ(b.height, h * 2);

  double sum = 0.0;
  for (size_t i = 0; i < a.pixels.size(); ++i) sum += std::abs(a.pixels[i] - b.pixels[i]);
  const float max_diff = MaxAbsDiff(a, b);
  std::vector<float> cols = ColumnMaxDiff(a, b);
  std::vector<bool> seam = SeamColumns(w, m->tile_size, m->tile_overlap, 2);
  float seam_max = 0.0f, elsewhere_max = 0.0f;
  for (int x = 0; x < b.width; ++x)
    (seam[x] ? seam_max : elsewhere_max) = std::max(seam[x] ? seam_max : elsewhere_max, cols[x]);
  std::printf(
      "esrgan-slim-x2 tiled vs untiled (0-255): max %.4f, mean %.6f, seam columns max "
      "%.4f, other columns max %.4f\n",
      max_diff, sum / a.pixels.size(), seam_max, elsewhere_max);
  // Below one 8-bit level everywhere: no visible seam.
  EXPECT_LT(max_diff, 1.0f);
  EXPECT_LT(sum / a.pixels.size(), 0.01);
  // Seam columns are no worse than elsewhere (other columns include the horizontal seams,
  // so "elsewhere" is not trivially zero); allow an 8-bit-invisible margin.
  EXPECT_LE(seam_max, std::max(elsewhere_max, 0.5f));
}

}  // namespace
}  // namespace genfarm::worker
