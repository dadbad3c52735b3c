// FramePipeline runs one task's frames through a model: a reader thread reads ahead,
// the calling thread converts colour, batches and runs the model, a writer thread writes
// behind. Reads, compute and writes overlap; queues between them are bounded.
//
//   FramePipelineOptions options;
//   options.frames = {1001, 1002, 1003};
//   options.input_path = [&](int64_t f) { return in_pattern.PathFor(f); };
//   options.output_path = [&](int64_t f) { return out_pattern.PathFor(f); };
//   options.model = traits;            // from the runtime's Manifest
//   options.stage_seed = 7;
//   GENFARM_ASSIGN_OR_RETURN(options.params, ParseModelParams(stage.params(), "params"));
//   options.job = "42";  options.task = "42/3";  options.attempt = "9";
//   options.cancel = &cancel_token;
//   options.on_progress = [&](const FrameProgress& p) { stream.SendProgress(p); };
//   options.on_log = [&](const std::string& line) { task_log.Append(line); };
//   FramePipeline pipeline(runner, std::move(options));
//   absl::StatusOr<FramePipelineResult> result = pipeline.Run();
//
// Upscale models: `frames` are both the input and output frame numbers.
// Interpolate models: `frames` are the input frames this task owns and `stage_frames` the
// stage's whole input set; outputs follow MapRetime (common/retime_mapping.h), the same
// mapping the scheduler planned with, factor params.factor (default kDefaultRetimeFactor).
//
// Colour: each input is in the colour space its header states (or input_color_space);
// it is converted to the model's space and range with the highlight policy of colour.h
// (values out of range are kept as a residual and added back), then written in the
// output's space (output_color_space, else EXR linear / others sRGB).
//
// Seeds: RunOptions::frame_seeds[i] = DeriveFrameSeed(stage_seed, frame) for upscaling;
// interpolated frames are seeded with DeriveFrameSeed(stage_seed, output frame).
//
// Cancellation is checked between frames by all three stages. On cancel the reader stops,
// queued frames not yet being written are discarded, a write in progress completes (it is
// atomic: temporary name + rename), and Run returns Cancelled. No temporary file is left.
// Failure: the first error wins, all stages stop, Run returns it; messages name the frame
// and the file. Frames already written stay (they are complete and carry provenance).
//
// Thread-safety: Run may be called once. Callbacks are invoked from pipeline threads
// (on_progress from the writer thread), one at a time per callback.
#ifndef GENFARM_WORKER_PIPELINE_FRAME_PIPELINE_H_
#define GENFARM_WORKER_PIPELINE_FRAME_PIPELINE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/stage_params.h"
#include "worker/frames/colour.h"
#include "worker/frames/frame.h"
#include "worker/frames/frame_io.h"
#include "worker/frames/image.h"
#include "worker/pipeline/cancel_token.h"
#include "worker/pipeline/model_traits.h"
#include "worker/runtime/model_runner.h"

namespace genfarm::worker {

struct FrameProgress {
  int64_t frame = 0;         // output frame just written
  int64_t frames_done = 0;   // outputs written so far by this task
  int64_t frames_total = 0;  // outputs this task will write
  double seconds = 0;        // this frame's read + compute + write time
};

struct FramePipelineOptions {
  // --- What to render ---
  std::vector<int64_t> frames;  // see class comment
  // Interpolate only: the stage's first input frame and the stage frames around `frames`
  // (at least the next one), as the scheduler's Assignment.stage_frames carries them.
  std::vector<int64_t> stage_frames;
  std::function<std::string(int64_t)> input_path;
  std::function<std::string(int64_t)> output_path;
  ModelTraits model;
  int64_t stage_seed = 0;
  ModelParams params;  // typed stage params; written into provenance as ModelParamsJson

  // --- Provenance ids (strings so any id format fits) ---
  std::string job;
  std::string task;
  std::string attempt;

  // --- Colour and output format ---
  std::optional<ColorSpace> input_color_space;   // override what input headers say
  std::optional<ColorSpace> output_color_space;  // default: by output extension
  HighlightPolicy highlights = HighlightPolicy::kResidual;
  ResidualFilter residual_filter = ResidualFilter::kNearest;
  // sample_type kAuto keeps the input's sample type when input and output formats match,
  // else the output format's default (frame_io.h). color_space/provenance are set per frame.
  WriteOptions write;

  // --- Flow control ---
  int read_ahead_batches = 2;   // reader queue capacity, in batches
  int write_behind_frames = 4;  // writer queue capacity, in frames
  const CancelToken* cancel = nullptr;

  // --- Observers (optional) ---
  std::function<void(const FrameProgress&)> on_progress;
  std::function<void(const std::string&)> on_log;
  Clock* clock = nullptr;  // for timings; default RealClock::Get()

  // --- Seams for tests (default: ReadFrame / WriteFrame) ---
  std::function<absl::StatusOr<Frame>(const std::string& path, int64_t frame)> read_frame;
  std::function<absl::Status(const std::string& path, const Image& image,
                             const WriteOptions& options)>
      write_frame;
};

struct FramePipelineResult {
  std::vector<int64_t> frames_written;  // output frames, in the order they were written
  double read_seconds = 0;     // totals per stage (stages overlap, so these exceed wall time)
  double compute_seconds = 0;  // colour conversion + model
  double write_seconds = 0;
  double wall_seconds = 0;
  int64_t pixels = 0;              // input pixels seen by the model
  int64_t pixels_above_range = 0;  // summed over frames, see colour.h
  int64_t pixels_below_range = 0;
  int64_t frames_with_over_range = 0;
};

// Owns nothing but its options; borrows the runner, which must outlive Run().
class FramePipeline {
 public:
  FramePipeline(ModelRunner& runner, FramePipelineOptions options);
  FramePipeline(const FramePipeline&) = delete;
  FramePipeline& operator=(const FramePipeline&) = delete;

  absl::StatusOr<FramePipelineResult> Run();

 private:
  ModelRunner& runner_;
  FramePipelineOptions options_;
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_PIPELINE_FRAME_PIPELINE_H_
