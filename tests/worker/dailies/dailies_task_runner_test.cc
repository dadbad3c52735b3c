#include "worker/dailies/dailies_task_runner.h"

#include <OpenImageIO/imageio.h>
#include <stdio.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/frames/frame_io.h"

namespace genfarm::worker {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class DailiesTaskRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "genfarm-dailies-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // A scene-linear EXR sequence: a horizontal ramp that moves with the frame, with a
  // highlight above 1.0 (the display conversion must clamp it, not wrap).
  void WritePlates(int first, int last, int width, int height) {
    for (int f = first; f <= last; ++f) {
      Image img(width, height);
      for (int y = 0; y < height; ++y) {
        for (int x = 0; x < width; ++x) {
          const float v = static_cast<float>((x + f) % width) / width;
          img.at(x, y, 0) = v;
          img.at(x, y, 1) = 0.18f;
          img.at(x, y, 2) = y == 0 ? 4.0f : 1.f - v;
        }
      }
      ASSERT_TRUE(WriteFrame(Plate(f), img).ok());
    }
  }
  std::string Plate(int f) const { return absl::StrFormat("%s/plates/p.%04d.exr", dir_, f); }

  v1::Assignment Assignment(int first, int last) const {
    v1::Assignment a;
    a.set_attempt_id(7);
    a.set_job_id(3);
    a.set_job_name("sh010_demo");
    a.set_project("feature_x");
    a.set_shot("sh010");
    v1::StageSpec* s = a.mutable_stage();
    s->set_name("dailies");
    s->set_kind(v1::STAGE_KIND_DAILIES);
    s->set_input(dir_ + "/plates/p.####.exr");
    s->set_output(dir_ + "/dailies/sh010");
    s->set_frames(absl::StrCat(first, "-", last));
    for (int f = first; f <= last; ++f) {
      a.add_frames(f);
      a.add_stage_frames(f);
    }
    return a;
  }

  struct Recorded {
    std::vector<std::pair<int64_t, int64_t>> progress;
    std::vector<std::string> log;
  };
  TaskOutcome Run(DailiesTaskRunner& runner, const v1::Assignment& a,
                  const CancelToken* cancel = nullptr) {
    CancelToken none;
    TaskContext context;
    context.assignment = &a;
    context.cancel = cancel ? cancel : &none;
    context.progress = [this](int64_t done, int64_t last) {
      recorded_.progress.emplace_back(done, last);
    };
    context.log = [this](const std::string& line) { recorded_.log.push_back(line); };
    return runner.Run(context);
  }

  std::vector<std::string> DailiesFolder() const {
    std::vector<std::string> names;
    if (!fs::exists(dir_ + "/dailies")) return names;
    for (const auto& e : fs::directory_iterator(dir_ + "/dailies"))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
  Recorded recorded_;
  FakeClock clock_;
};

std::string Capture(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[256];
  while (fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

TEST_F(DailiesTaskRunnerTest, WritesContactSheetAndPlayableMovie) {
  // Odd frame size: the movie must be padded to even sides for yuv420p.
  WritePlates(1001, 1024, 63, 35);
  DailiesOptions options;
  options.sheet.columns = 6;
  options.sheet.thumbnail_width = 96;
  options.sheet.margin = 4;
  options.sheet.title_height = 24;
  DailiesTaskRunner runner(options, clock_);
  v1::Assignment a = Assignment(1001, 1024);

  TaskOutcome outcome = Run(runner, a);

  ASSERT_TRUE(outcome.status.ok()) << outcome.status;
  EXPECT_EQ(outcome.frames_written.size(), 24u);
  EXPECT_EQ(outcome.frames_written.front(), 1001);
  // Progress after every frame, in order.
  ASSERT_EQ(recorded_.progress.size(), 24u);
  EXPECT_EQ(recorded_.progress.front(), std::make_pair(int64_t{1}, int64_t{1001}));
  EXPECT_EQ(recorded_.progress.back(), std::make_pair(int64_t{24}, int64_t{1024}));
  // Only the two outputs: no temporary files or frame folders left behind.
  EXPECT_THAT(DailiesFolder(), ::testing::ElementsAre("sh010.mp4", "sh010_contact.jpg"));

  // Contact sheet: 6 columns x 4 rows of 96x53 thumbnails (63x35 scaled), under a title bar.
  auto in = OIIO::ImageInput::open(dir_ + "/dailies/sh010_contact.jpg");
  ASSERT_TRUE(in);
  EXPECT_EQ(in->spec().width, 6 * 96 + 7 * 4);
  EXPECT_EQ(in->spec().height, 24 + 4 * 53 + 5 * 4);
  in->close();

  // Movie: ffprobe decodes every frame; the sides were padded to even.
  const std::string movie = dir_ + "/dailies/sh010.mp4";
  EXPECT_EQ(
      Capture(
          "ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames "
          "-of csv=p=0 '" +
          movie + "'"),
      "24");
  EXPECT_EQ(Capture("ffprobe -v error -select_streams v:0 -show_entries "
                    "stream=codec_name,width,height,pix_fmt "
                    "-of csv=p=0 '" +
                    movie + "'"),
            "h264,64,36,yuv420p");
  EXPECT_THAT(recorded_.log.back(), HasSubstr("24 frames at 24 fps"));
}

TEST_F(DailiesTaskRunnerTest, LongSequencesAreSampledOnTheSheetButAllInTheMovie) {
  WritePlates(1, 30, 32, 18);
  DailiesOptions options;
  options.sheet.columns = 5;
  options.sheet.thumbnail_width = 32;
  options.sheet.margin = 0;
  options.sheet.title_height = 0;
  options.sheet.max_thumbnails = 10;
  DailiesTaskRunner runner(options, clock_);
  v1::Assignment a = Assignment(1, 30);
  (*a.mutable_stage()->mutable_params())["fps"] = "12";

  TaskOutcome outcome = Run(runner, a);

  ASSERT_TRUE(outcome.status.ok()) << outcome.status;
  auto in = OIIO::ImageInput::open(dir_ + "/dailies/sh010_contact.jpg");
  ASSERT_TRUE(in);
  EXPECT_EQ(in->spec().width, 5 * 32);
  EXPECT_EQ(in->spec().height, 2 * 18);
  in->close();
  const std::string movie = dir_ + "/dailies/sh010.mp4";
  EXPECT_EQ(
      Capture(
          "ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames "
          "-of csv=p=0 '" +
          movie + "'"),
      "30");
  EXPECT_EQ(
      Capture(
          "ffprobe -v error -select_streams v:0 -show_entries stream=r_frame_rate -of csv=p=0 '" +
          movie + "'"),
      "12/1");
}

TEST_F(DailiesTaskRunnerTest, MissingFrameFailsNamingFrameAndFileAndLeavesNothing) {
  WritePlates(1001, 1012, 32, 18);
  fs::remove(Plate(1007));
  DailiesTaskRunner runner({}, clock_);

  TaskOutcome outcome = Run(runner, Assignment(1001, 1012));

  EXPECT_EQ(outcome.status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(outcome.status.message(), HasSubstr("frame 1007"));
  EXPECT_THAT(outcome.status.message(), HasSubstr(Plate(1007)));
  EXPECT_EQ(outcome.reason, v1::FAILURE_REASON_INPUT_MISSING);
  EXPECT_TRUE(DailiesFolder().empty()) << ::testing::PrintToString(DailiesFolder());
}

TEST_F(DailiesTaskRunnerTest, CorruptFrameIsInputCorrupt) {
  WritePlates(1, 4, 32, 18);
  {
    FILE* f = fopen(Plate(3).c_str(), "w");
    fputs("not an exr", f);
    fclose(f);
  }
  DailiesTaskRunner runner({}, clock_);

  TaskOutcome outcome = Run(runner, Assignment(1, 4));

  EXPECT_EQ(outcome.reason, v1::FAILURE_REASON_INPUT_CORRUPT);
  EXPECT_THAT(outcome.status.message(), HasSubstr("frame 3"));
}

TEST_F(DailiesTaskRunnerTest, CancelledTaskStopsAndLeavesNothing) {
  WritePlates(1, 4, 32, 18);
  DailiesTaskRunner runner({}, clock_);
  CancelToken cancel;
  cancel.Cancel();

  TaskOutcome outcome = Run(runner, Assignment(1, 4), &cancel);

  EXPECT_EQ(outcome.status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(outcome.reason, v1::FAILURE_REASON_CANCELED);
  EXPECT_TRUE(recorded_.progress.empty());
  EXPECT_TRUE(DailiesFolder().empty()) << ::testing::PrintToString(DailiesFolder());
}

TEST_F(DailiesTaskRunnerTest, NoFontFailsClearly) {
  WritePlates(1, 2, 32, 18);
  DailiesOptions options;
  options.fonts = {"/nonexistent/DejaVuSans.ttf"};
  DailiesTaskRunner runner(options, clock_);

  TaskOutcome outcome = Run(runner, Assignment(1, 2));

  EXPECT_EQ(outcome.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(outcome.status.message(), HasSubstr("fonts-dejavu-core"));
}

TEST_F(DailiesTaskRunnerTest, FfmpegFailureIsReportedAndLeavesNoMovie) {
  WritePlates(1, 3, 32, 18);
  DailiesOptions options;
  options.ffmpeg = "false";  // exits 1 like a failed encode
  DailiesTaskRunner runner(options, clock_);

  TaskOutcome outcome = Run(runner, Assignment(1, 3));

  EXPECT_EQ(outcome.reason, v1::FAILURE_REASON_INTERNAL);
  EXPECT_THAT(outcome.status.message(), HasSubstr("ffmpeg exited with 1"));
  // The contact sheet was finished before the movie; no movie, no temporaries.
  EXPECT_THAT(DailiesFolder(), ::testing::ElementsAre("sh010_contact.jpg"));
}

TEST_F(DailiesTaskRunnerTest, BadFpsParamIsBadSpec) {
  DailiesTaskRunner runner({}, clock_);
  v1::Assignment a = Assignment(1, 2);
  (*a.mutable_stage()->mutable_params())["fps"] = "fast";

  TaskOutcome outcome = Run(runner, a);

  EXPECT_EQ(outcome.reason, v1::FAILURE_REASON_BAD_SPEC);
  EXPECT_THAT(outcome.status.message(), HasSubstr("params.fps"));
}

}  // namespace
}  // namespace genfarm::worker
