// DailiesTaskRunner: runs a dailies stage's task (every frame of the stage at once): reads
// the upstream stage's frames, converts them to sRGB for display, burns in the shot and
// frame number, and writes
//   <output>_contact.jpg   a contact sheet (thumbnail grid under a title bar)
//   <output>.mp4           an H.264 movie (ffmpeg, libx264, yuv420p) of every frame
// where <output> is the stage's output prefix, e.g. renders/sh010/dailies/sh010.
//
//   DailiesTaskRunner dailies({}, clock);    // DejaVu font, ffmpeg from PATH, 24 fps
//   TaskOutcome outcome = dailies.Run(context);
//
// Stage params (optional): fps (1..240, default 24), columns (1..64, default 6).
// Progress is reported per frame read; cancellation is honoured between frames and while
// ffmpeg runs. Both outputs are written to temporary names and renamed, and the burned-in
// PNG frames live in a temporary folder that is removed afterwards, so a killed task
// leaves no half file. Errors name the frame and the file (a missing input frame is
// INPUT_MISSING, an unreadable one INPUT_CORRUPT) or quote ffmpeg's stderr.
// Thread-safe: Run may be called concurrently (it keeps no state between calls).
#ifndef GENFARM_WORKER_DAILIES_DAILIES_TASK_RUNNER_H_
#define GENFARM_WORKER_DAILIES_DAILIES_TASK_RUNNER_H_

#include <string>
#include <vector>

#include "common/clock.h"
#include "worker/daemon/task_runner.h"  // protobuf: before OIIO, whose headers break its bswap
#include "worker/dailies/burn_in.h"
#include "worker/dailies/contact_sheet.h"

namespace genfarm::worker {

struct DailiesOptions {
  std::vector<std::string> fonts = DefaultFontCandidates();
  std::string ffmpeg = "ffmpeg";  // looked up on PATH
  int fps = 24;
  int crf = 18;
  std::string sheet_suffix = "_contact.jpg";
  std::string movie_suffix = ".mp4";
  ContactSheetOptions sheet;
};

class DailiesTaskRunner : public TaskRunner {
 public:
  DailiesTaskRunner(DailiesOptions options, const Clock& clock);
  TaskOutcome Run(const TaskContext& context) override;

  // The files a stage with output prefix `output` writes.
  std::string SheetPath(const std::string& output) const { return output + options_.sheet_suffix; }
  std::string MoviePath(const std::string& output) const { return output + options_.movie_suffix; }

 private:
  DailiesOptions options_;
  const Clock& clock_;
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_DAILIES_DAILIES_TASK_RUNNER_H_
