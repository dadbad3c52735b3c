#include "worker/pipeline/frame_pipeline.h"

#include <filesystem>
#include <map>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/frame_test_util.h"
#include "worker/frames/frame_io.h"
#include "worker/runtime/seed.h"

namespace genfarm::worker {
namespace {

using ::testing::HasSubstr;
using testing_util::FakeNearestRunner;
using testing_util::HasTempFiles;
using testing_util::NearestUpscale;
using testing_util::Ramp;
using testing_util::ScopedTempDir;

constexpr int kWidth = 8;
constexpr int kHeight = 6;

// A plate with a highlight: frame f's pixel (1, 1) red is 4 + f.
Image Plate(int64_t f) {
  Image img = Ramp(kWidth, kHeight, float(f % 5), 0.05f);
  img.at(1, 1, 0) = 4.f + float(f);
  return img;
}

class FramePipelineTest : public ::testing::Test {
 protected:
  std::string InputPath(int64_t f) const {
    return dir_.File(absl::StrFormat("in/plate.%04d.exr", f));
  }
  std::string OutputPath(int64_t f) const {
    return dir_.File(absl::StrFormat("out/up.%04d.exr", f));
  }

  void WritePlates(int64_t first, int64_t last) {
    for (int64_t f = first; f <= last; ++f) {
      WriteOptions options;
      options.sample_type = SampleType::kFloat;
      ASSERT_TRUE(WriteFrame(InputPath(f), Plate(f), options).ok());
    }
  }

  FramePipelineOptions Options(std::vector<int64_t> frames) {
    FramePipelineOptions o;
    o.frames = std::move(frames);
    o.input_path = [this](int64_t f) { return InputPath(f); };
    o.output_path = [this](int64_t f) { return OutputPath(f); };
    o.model.name = "fake-nearest";
    o.model.version = "1";
    o.model.sha256 = "feed";
    o.model.scale = 2;
    o.model.color = {ColorSpace::kSrgb, {0.f, 255.f}};
    o.model.batch_size = 3;
    o.stage_seed = 77;
    o.params.factor = 3;  // recorded in provenance whatever the model kind
    o.job = "42";
    o.task = "42/0";
    o.attempt = "3";
    o.write.sample_type = SampleType::kFloat;
    o.on_log = [this](const std::string& line) {
      absl::MutexLock lock(&log_mu_);
      log_.push_back(line);
    };
    return o;
  }

  std::vector<std::string> Log() {
    absl::MutexLock lock(&log_mu_);
    return log_;
  }

  std::vector<int64_t> FramesRange(int64_t first, int64_t last) {
    std::vector<int64_t> v;
    for (int64_t f = first; f <= last; ++f) v.push_back(f);
    return v;
  }

  ScopedTempDir dir_;
  absl::Mutex log_mu_;
  std::vector<std::string> log_ ABSL_GUARDED_BY(log_mu_);
};

TEST_F(FramePipelineTest, UpscalesASixteenFrameExrSequence) {
  WritePlates(1, 16);
  FakeNearestRunner runner(2);
  FramePipelineOptions options = Options(FramesRange(1, 16));
  std::vector<FrameProgress> progress;
  options.on_progress = [&](const FrameProgress& p) { progress.push_back(p); };
  FramePipeline pipeline(runner, std::move(options));
  absl::StatusOr<FramePipelineResult> result = pipeline.Run();
  ASSERT_TRUE(result.ok()) << result.status();

  EXPECT_THAT(result->frames_written, testing::ElementsAreArray(FramesRange(1, 16)));
  for (int64_t f = 1; f <= 16; ++f) {
    SCOPED_TRACE(f);
    absl::StatusOr<Frame> out = ReadFrame(OutputPath(f), f);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->image.width, 2 * kWidth);
    ASSERT_EQ(out->image.height, 2 * kHeight);
    const Image expected = NearestUpscale(Plate(f), 2);
    for (size_t i = 0; i < expected.pixels.size(); ++i) {
      ASSERT_NEAR(out->image.pixels[i], expected.pixels[i],
                  1e-4 * std::max(1.f, expected.pixels[i]));
    }
    EXPECT_NEAR(out->image.at(3, 3, 0), 4.f + f, 1e-3);  // the highlight survived
    absl::StatusOr<Provenance> p = ReadProvenance(OutputPath(f));
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->model, "fake-nearest");
    EXPECT_EQ(p->model_sha256, "feed");
    EXPECT_EQ(p->params_json, R"({"factor":3})");
    EXPECT_EQ(p->seed, 77);
    EXPECT_EQ(p->job, "42");
    EXPECT_EQ(p->task, "42/0");
    EXPECT_EQ(p->attempt, "3");
    EXPECT_EQ(p->frame, f);
  }
  EXPECT_FALSE(HasTempFiles(dir_.path()));

  absl::MutexLock lock(&runner.mu);
  EXPECT_THAT(runner.batch_sizes, testing::ElementsAre(3, 3, 3, 3, 3, 1));
  EXPECT_LE(runner.max_input, 255.f);  // the model never saw the highlight
  std::vector<int64_t> expected_seeds;
  for (int64_t f = 1; f <= 16; ++f) expected_seeds.push_back(DeriveFrameSeed(77, f));
  EXPECT_EQ(runner.seeds, expected_seeds);

  EXPECT_EQ(result->frames_with_over_range, 16);
  EXPECT_EQ(result->pixels, 16 * kWidth * kHeight);
  EXPECT_EQ(result->pixels_above_range, 16);
  ASSERT_EQ(progress.size(), 16u);
  EXPECT_EQ(progress.back().frames_done, 16);
  EXPECT_EQ(progress.back().frames_total, 16);
  EXPECT_THAT(Log(), testing::Contains(HasSubstr(
                         "frame 1: 2.1% pixels above 1.0, 0.0% below 0.0, highlights preserved "
                         "by residual")));
  EXPECT_GT(result->read_seconds, 0);
  EXPECT_GT(result->write_seconds, 0);
}

TEST_F(FramePipelineTest, SrgbPngOutputOfALinearPlate) {
  WritePlates(1, 2);
  FakeNearestRunner runner(2);
  FramePipelineOptions options = Options({1, 2});
  options.output_path = [this](int64_t f) {
    return dir_.File(absl::StrFormat("png/up.%04d.png", f));
  };
  options.write.sample_type = SampleType::kUint16;
  FramePipeline pipeline(runner, std::move(options));
  ASSERT_TRUE(pipeline.Run().ok());
  absl::StatusOr<Frame> out = ReadFrame(dir_.File("png/up.0002.png"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(FrameColorSpace(out->metadata), ColorSpace::kSrgb);
  const float linear = Plate(2).at(3, 2, 1);
  EXPECT_NEAR(out->image.at(6, 4, 1), LinearToSrgb(linear), 2.f / 65535);
}

TEST_F(FramePipelineTest, CancelMidWayStopsAndLeavesNoTempFiles) {
  WritePlates(1, 16);
  FakeNearestRunner runner(2);
  CancelToken cancel;
  runner.before_upscale = [&](const RunOptions&) {
    if (runner.calls.load() == 4) cancel.Cancel();  // during the 5th frame
    return absl::OkStatus();
  };
  FramePipelineOptions options = Options(FramesRange(1, 16));
  options.model.batch_size = 1;
  options.cancel = &cancel;
  FramePipeline pipeline(runner, std::move(options));
  absl::StatusOr<FramePipelineResult> result = pipeline.Run();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("of 16 frames written"));
  EXPECT_EQ(runner.calls.load(), 5);  // checked between frames: nothing after the 5th
  EXPECT_FALSE(HasTempFiles(dir_.path()));
  int written = 0;
  for (int64_t f = 1; f <= 16; ++f) {
    if (!std::filesystem::exists(OutputPath(f))) continue;
    ++written;
    EXPECT_LE(f, 5);
    EXPECT_TRUE(ReadFrame(OutputPath(f)).ok()) << "frame " << f << " is not a whole frame";
  }
  EXPECT_LT(written, 16);
}

TEST_F(FramePipelineTest, CancelDuringAWriteFinishesThatFrameAtomically) {
  WritePlates(1, 8);
  FakeNearestRunner runner(2);
  CancelToken cancel;
  FramePipelineOptions options = Options(FramesRange(1, 8));
  options.cancel = &cancel;
  options.write_frame = [&](const std::string& path, const Image& image,
                            const WriteOptions& write) {
    if (write.provenance->frame == 3) cancel.Cancel();
    return WriteFrame(path, image, write);
  };
  FramePipeline pipeline(runner, std::move(options));
  absl::StatusOr<FramePipelineResult> result = pipeline.Run();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(ReadFrame(OutputPath(3)).ok());
  for (int64_t f = 4; f <= 8; ++f) EXPECT_FALSE(std::filesystem::exists(OutputPath(f))) << f;
  EXPECT_FALSE(HasTempFiles(dir_.path()));
}

TEST_F(FramePipelineTest, MissingInputFailsNamingTheFrameAndFile) {
  WritePlates(1, 16);
  std::filesystem::remove(InputPath(7));
  FakeNearestRunner runner(2);
  FramePipeline pipeline(runner, Options(FramesRange(1, 16)));
  absl::StatusOr<FramePipelineResult> result = pipeline.Run();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(result.status().message(), "frame 7: input file " + InputPath(7) + " not found");
  for (int64_t f = 7; f <= 16; ++f) EXPECT_FALSE(std::filesystem::exists(OutputPath(f))) << f;
  EXPECT_FALSE(HasTempFiles(dir_.path()));
}

TEST_F(FramePipelineTest, ModelFailureNamesFrameAndModel) {
  WritePlates(1, 4);
  FakeNearestRunner runner(2);
  runner.before_upscale = [&](const RunOptions& run) {
    if (run.frame_seeds.front() == DeriveFrameSeed(77, 3)) {
      return absl::ResourceExhaustedError("out of device memory");
    }
    return absl::OkStatus();
  };
  FramePipelineOptions options = Options(FramesRange(1, 4));
  options.model.batch_size = 1;
  FramePipeline pipeline(runner, std::move(options));
  absl::StatusOr<FramePipelineResult> result = pipeline.Run();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(result.status().message()),
              testing::AllOf(HasSubstr("frame 3"), HasSubstr(InputPath(3)),
                             HasSubstr("fake-nearest"), HasSubstr("out of device memory")));
}

TEST_F(FramePipelineTest, WrongOutputSizeIsAnError) {
  WritePlates(1, 2);
  FakeNearestRunner runner(3);  // the traits say 2
  FramePipeline pipeline(runner, Options({1, 2}));
  absl::StatusOr<FramePipelineResult> result = pipeline.Run();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("expected scale 2"));
}

TEST_F(FramePipelineTest, WriteFailureStopsThePipeline) {
  WritePlates(1, 6);
  FakeNearestRunner runner(2);
  FramePipelineOptions options = Options(FramesRange(1, 6));
  options.output_path = [this](int64_t f) { return dir_.File(absl::StrFormat("o.%04d.nope", f)); };
  FramePipeline pipeline(runner, std::move(options));
  absl::StatusOr<FramePipelineResult> result = pipeline.Run();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("frame 1: output file "));
  EXPECT_FALSE(HasTempFiles(dir_.path()));
}

// Reading frame 3, computing frame 1 and writing frame 0 must be in progress at the same
// moment: each waits (with a deadline) for the others to have started. A pipeline that ran
// the stages one after another would time out.
TEST_F(FramePipelineTest, ReadComputeAndWriteOverlap) {
  absl::Mutex mu;
  bool reading3 = false, computing1 = false, writing0 = false;
  int timeouts = 0;
  auto wait_for = [&](const bool* flag) {
    absl::MutexLock lock(&mu);
    if (!mu.AwaitWithTimeout(absl::Condition(flag), absl::Seconds(20))) ++timeouts;
  };
  auto set = [&](bool* flag) {
    absl::MutexLock lock(&mu);
    *flag = true;
  };

  FakeNearestRunner runner(2);
  runner.before_upscale = [&](const RunOptions& run) {
    if (run.frame_seeds.front() == DeriveFrameSeed(77, 1)) {
      set(&computing1);
      wait_for(&writing0);
      wait_for(&reading3);
    }
    return absl::OkStatus();
  };
  FramePipelineOptions options = Options({0, 1, 2, 3});
  options.model.batch_size = 1;
  options.read_frame = [&](const std::string&, int64_t f) -> absl::StatusOr<Frame> {
    if (f == 3) {
      set(&reading3);
      wait_for(&computing1);
    }
    Frame frame;
    frame.image = Plate(f);
    frame.metadata.pixel_type = "float";
    return frame;
  };
  std::vector<int64_t> written;
  options.write_frame = [&](const std::string&, const Image& image, const WriteOptions& w) {
    if (w.provenance->frame == 0) {
      set(&writing0);
      wait_for(&computing1);
    }
    written.push_back(w.provenance->frame);
    return absl::OkStatus();
  };
  FramePipeline pipeline(runner, std::move(options));
  absl::StatusOr<FramePipelineResult> result = pipeline.Run();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(timeouts, 0);
  EXPECT_THAT(written, testing::ElementsAre(0, 1, 2, 3));
}

TEST_F(FramePipelineTest, RetimeTasksWriteEveryOutputOnce) {
  WritePlates(1, 5);
  FakeNearestRunner runner;
  std::map<int64_t, int> written;
  for (const std::vector<int64_t>& task : {std::vector<int64_t>{1, 2, 3}, {4, 5}}) {
    FramePipelineOptions options = Options(task);
    options.stage_frames = FramesRange(1, 5);
    options.model.kind = ModelKind::kInterpolate;
    options.model.scale = 1;
    options.model.color = {ColorSpace::kLinear, {0.f, 1.f}};
    options.params.factor = 2;
    FramePipeline pipeline(runner, std::move(options));
    absl::StatusOr<FramePipelineResult> result = pipeline.Run();
    ASSERT_TRUE(result.ok()) << result.status();
    for (int64_t f : result->frames_written) ++written[f];
  }
  ASSERT_EQ(written.size(), 9u);
  for (const auto& [frame, count] : written) EXPECT_EQ(count, 1) << frame;
  EXPECT_EQ(written.begin()->first, 1);
  EXPECT_EQ(written.rbegin()->first, 9);

  // Output 1 + 2k is input 1 + k; even outputs are half-way blends (highlights included,
  // through the residual: the model itself only saw [0, 1]).
  for (int64_t in = 1; in <= 5; ++in) {
    absl::StatusOr<Frame> copy = ReadFrame(OutputPath(1 + 2 * (in - 1)));
    ASSERT_TRUE(copy.ok()) << copy.status();
    EXPECT_EQ(copy->image.pixels, Plate(in).pixels);
  }
  absl::StatusOr<Frame> mid = ReadFrame(OutputPath(4));  // between inputs 2 and 3
  ASSERT_TRUE(mid.ok()) << mid.status();
  const Image a = Plate(2), b = Plate(3);
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    EXPECT_NEAR(mid->image.pixels[i], 0.5f * (a.pixels[i] + b.pixels[i]), 1e-5) << i;
  }
  EXPECT_NEAR(mid->image.at(1, 1, 0), 6.5f, 1e-5);
  absl::StatusOr<Provenance> p = ReadProvenance(OutputPath(4));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->frame, 4);
  EXPECT_EQ(p->params_json, R"({"factor":2})");  // typed values, not the spec's strings
  EXPECT_FALSE(HasTempFiles(dir_.path()));
}

// Params arrive typed (ParseModelParams refuses "two" before this; stage_params_test), but a
// caller filling the struct by hand still cannot run a retime by 0.
TEST_F(FramePipelineTest, RetimeRejectsBadParams) {
  FakeNearestRunner runner;
  FramePipelineOptions options = Options({1});
  options.model.kind = ModelKind::kInterpolate;
  options.params.factor = 0;
  FramePipeline pipeline(runner, std::move(options));
  EXPECT_EQ(pipeline.Run().status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace genfarm::worker
