#include "worker/dailies/dailies_task_runner.h"

#include <OpenImageIO/imagebufalgo.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/frame_pattern.h"
#include "common/frame_set.h"
#include "common/stage_params.h"
#include "worker/dailies/subprocess.h"
#include "worker/frames/frame_io.h"

namespace genfarm::worker {
namespace {

namespace fs = std::filesystem;

TaskOutcome Fail(absl::Status status, v1::FailureReason reason) {
  TaskOutcome outcome;
  outcome.status = std::move(status);
  outcome.reason = reason;
  return outcome;
}

// Removes the burned-in frame folder on every return path.
class TempDir {
 public:
  ~TempDir() {
    if (!path_.empty()) {
      std::error_code ignored;
      fs::remove_all(path_, ignored);
    }
  }
  absl::Status Make(const fs::path& parent, const std::string& stem) {
    std::string tmpl =
        (parent / absl::StrCat(".", stem, "_frames.tmp-", getpid(), "-XXXXXX")).string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      return absl::PermissionDeniedError(absl::StrCat("cannot create a temporary folder in ",
                                                      parent.string(), ": ", strerror(errno)));
    }
    path_ = tmpl;
    return absl::OkStatus();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The last few lines of ffmpeg's stderr, for the task log and the failure message.
std::string Tail(const std::string& text, size_t lines) {
  std::vector<std::string> all = absl::StrSplit(text, '\n', absl::SkipWhitespace());
  if (all.size() > lines) all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(lines));
  return absl::StrJoin(all, " | ");
}

}  // namespace

DailiesTaskRunner::DailiesTaskRunner(DailiesOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock) {}

TaskOutcome DailiesTaskRunner::Run(const TaskContext& context) {
  const absl::Time start = clock_.Now();
  const v1::Assignment& a = *context.assignment;
  const v1::StageSpec& stage = a.stage();
  auto log = [&](const std::string& line) {
    if (context.log) context.log(line);
  };

  auto input = FramePattern::Parse(stage.input());
  if (!input.ok()) return Fail(input.status(), v1::FAILURE_REASON_BAD_SPEC);
  if (stage.output().empty()) {
    return Fail(
        absl::InvalidArgumentError(absl::StrCat("stage '", stage.name(), "': no output prefix")),
        v1::FAILURE_REASON_BAD_SPEC);
  }
  // The same typed parse the scheduler validated the spec with (common/stage_params.h).
  auto params =
      ParseDailiesParams(stage.params(), absl::StrCat("stage '", stage.name(), "' params"));
  if (!params.ok()) return Fail(params.status(), v1::FAILURE_REASON_BAD_SPEC);
  const int fps = params->fps.value_or(options_.fps);
  const int columns = params->columns.value_or(options_.sheet.columns);
  std::vector<int64_t> frames(a.frames().begin(), a.frames().end());
  std::sort(frames.begin(), frames.end());
  frames.erase(std::unique(frames.begin(), frames.end()), frames.end());
  if (frames.empty()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("stage '", stage.name(), "': no frames")),
                v1::FAILURE_REASON_BAD_SPEC);
  }
  auto font = FindFont(options_.fonts);
  if (!font.ok()) return Fail(font.status(), v1::FAILURE_REASON_INTERNAL);

  const std::string sheet_path = SheetPath(stage.output());
  const std::string movie_path = MoviePath(stage.output());
  const fs::path out_prefix(stage.output());
  const fs::path out_dir = out_prefix.has_parent_path() ? out_prefix.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) {
    return Fail(absl::PermissionDeniedError(absl::StrCat("cannot create output folder ",
                                                         out_dir.string(), ": ", ec.message())),
                v1::FAILURE_REASON_OUTPUT_WRITE);
  }
  TempDir temp;
  if (absl::Status s = temp.Make(out_dir, out_prefix.filename().string()); !s.ok()) {
    return Fail(s, v1::FAILURE_REASON_OUTPUT_WRITE);
  }

  const std::string shot = a.shot().empty() ? a.job_name() : a.shot();
  const std::string range = FrameSet::Format(frames);
  log(absl::StrCat("dailies: ", frames.size(), " frames ", range, " of ", stage.input(), " at ",
                   fps, " fps"));

  const int count = static_cast<int>(frames.size());
  const std::vector<int> on_sheet = SampleForSheet(count, options_.sheet.max_thumbnails);
  size_t next_on_sheet = 0;
  std::unique_ptr<ContactSheet> sheet;
  int movie_width = 0, movie_height = 0;

  for (int i = 0; i < count; ++i) {
    if (context.cancel != nullptr && context.cancel->cancelled()) {
      return Fail(absl::CancelledError(absl::StrCat("canceled before frame ", frames[i])),
                  v1::FAILURE_REASON_CANCELED);
    }
    const int64_t f = frames[i];
    auto frame = ReadFrame(input->Format(f), f);
    if (!frame.ok()) return Fail(frame.status(), ReasonForStatus(frame.status()));
    OIIO::ImageBuf display = ToDisplay(*frame);

    if (sheet == nullptr) {
      ContactSheetOptions sheet_options = options_.sheet;
      sheet_options.columns = columns;
      ContactSheetLayout layout =
          ContactSheetLayout::For(static_cast<int>(on_sheet.size()), frame->image.width,
                                  frame->image.height, sheet_options);
      std::string title = absl::StrCat(shot, "   ", a.job_name(), "   ", a.project(), "   ", count,
                                       " frames ", range);
      if (on_sheet.size() < frames.size())
        absl::StrAppend(&title, " (", on_sheet.size(), " shown)");
      sheet = std::make_unique<ContactSheet>(layout, *font, title);
      movie_width = frame->image.width;
      movie_height = frame->image.height;
    }
    const BurnInText label{shot, absl::StrCat(f)};
    if (next_on_sheet < on_sheet.size() && on_sheet[next_on_sheet] == i) {
      if (absl::Status s = sheet->Add(display, label); !s.ok()) {
        return Fail(absl::InternalError(absl::StrCat("frame ", f, ": ", s.message())),
                    v1::FAILURE_REASON_INTERNAL);
      }
      ++next_on_sheet;
    }

    // Movie frames all take the first frame's size; a frame of another size is resized.
    if (frame->image.width != movie_width || frame->image.height != movie_height) {
      log(absl::StrCat("frame ", f, ": ", frame->image.width, "x", frame->image.height,
                       " resized to ", movie_width, "x", movie_height, " for the movie"));
      OIIO::ImageBuf resized;
      OIIO::ROI size(0, movie_width, 0, movie_height, 0, 1, 0, display.nchannels());
      OIIO::ImageBufAlgo::resize(resized, display, "", 0, size);
      display = std::move(resized);
    }
    if (absl::Status s = BurnIn(label, *font, &display); !s.ok()) {
      return Fail(absl::InternalError(absl::StrCat("frame ", f, ": ", s.message())),
                  v1::FAILURE_REASON_INTERNAL);
    }
    OIIO::ImageBuf even = PadToEven(display);
    const std::string png = (fs::path(temp.path()) / absl::StrFormat("%06d.png", i)).string();
    if (!even.write(png, OIIO::TypeDesc::UINT8)) {
      return Fail(absl::InternalError(absl::StrCat("frame ", f, ": cannot write movie frame ", png,
                                                   ": ", even.geterror())),
                  v1::FAILURE_REASON_OUTPUT_WRITE);
    }
    if (context.progress) context.progress(i + 1, f);
  }

  if (absl::Status s = sheet->Write(sheet_path, context.before_rename); !s.ok())
    return Fail(s, s.code() == absl::StatusCode::kAborted ? v1::FAILURE_REASON_WORKER_LOST
                                                          : v1::FAILURE_REASON_OUTPUT_WRITE);
  log(absl::StrCat("contact sheet ", sheet_path, " (", sheet->image().spec().width, "x",
                   sheet->image().spec().height, ")"));

  // ffmpeg picks the container from the name, so the temporary keeps ".mp4".
  const std::string temp_movie =
      (out_dir / absl::StrCat(".", out_prefix.filename().string(), ".tmp-", getpid(), ".mp4"))
          .string();
  std::vector<std::string> argv = {options_.ffmpeg,
                                   "-nostdin",
                                   "-hide_banner",
                                   "-loglevel",
                                   "error",
                                   "-y",
                                   "-framerate",
                                   absl::StrCat(fps),
                                   "-start_number",
                                   "0",
                                   "-i",
                                   (fs::path(temp.path()) / "%06d.png").string(),
                                   "-c:v",
                                   "libx264",
                                   "-pix_fmt",
                                   "yuv420p",
                                   "-crf",
                                   absl::StrCat(options_.crf),
                                   "-movflags",
                                   "+faststart",
                                   "-metadata",
                                   absl::StrCat("title=", shot, " ", a.job_name(), " ", range),
                                   "-metadata",
                                   "comment=GenFarm dailies",
                                   temp_movie};
  auto ffmpeg = RunSubprocess(argv, context.cancel);
  if (!ffmpeg.ok()) {
    std::remove(temp_movie.c_str());
    return Fail(ffmpeg.status(), ffmpeg.status().code() == absl::StatusCode::kCancelled
                                     ? v1::FAILURE_REASON_CANCELED
                                     : v1::FAILURE_REASON_INTERNAL);
  }
  if (ffmpeg->exit_code != 0) {
    std::remove(temp_movie.c_str());
    log(absl::StrCat("ffmpeg failed (exit ", ffmpeg->exit_code, "):\n", ffmpeg->stderr_tail));
    return Fail(
        absl::InternalError(absl::StrCat("movie ", movie_path, ": ffmpeg exited with ",
                                         ffmpeg->exit_code, ": ", Tail(ffmpeg->stderr_tail, 3))),
        v1::FAILURE_REASON_INTERNAL);
  }
  if (context.before_rename) {
    if (absl::Status fenced = context.before_rename(); !fenced.ok()) {
      std::remove(temp_movie.c_str());
      return Fail(fenced, v1::FAILURE_REASON_WORKER_LOST);
    }
  }
  if (std::rename(temp_movie.c_str(), movie_path.c_str()) != 0) {
    const int err = errno;
    std::remove(temp_movie.c_str());
    return Fail(absl::InternalError(absl::StrCat("cannot rename ", temp_movie, " to ", movie_path,
                                                 ": ", strerror(err))),
                v1::FAILURE_REASON_OUTPUT_WRITE);
  }
  TaskOutcome outcome;
  outcome.frames_written = frames;
  outcome.run_seconds = absl::ToDoubleSeconds(clock_.Now() - start);
  log(absl::StrFormat("movie %s (%dx%d, %d frames at %d fps) in %.1f s", movie_path,
                      movie_width + movie_width % 2, movie_height + movie_height % 2, count, fps,
                      outcome.run_seconds));
  return outcome;
}

}  // namespace genfarm::worker
