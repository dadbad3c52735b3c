// WorkerBench: how fast the worker turns frames into frames, next to the two references a
// farm user weighs it against. For the same frames and model it times:
//   (a) the worker pipeline: FramePipeline (read ahead, colour, batched inference, write
//       behind) with a warm model from the ModelCache, real EXRs in and out;
//   (b) a bare LibTorch forward loop over in-memory tensors of the same shape
//       (TorchModelRunner::BenchForward): the ceiling, no I/O or colour work;
//   (c) the traditional farm way: one new process per chunk that loads the model, reads,
//       runs and writes (this binary re-spawned in single-chunk mode);
//   (d) the worker pipeline at batch 1, against (a) at the manifest's batch size;
// and reports a/b, a/c and a/d. Warm-up runs are excluded from every timing.
//
//   WorkerBenchOptions options;
//   options.models_dir = "var/models";  options.work_dir = "/tmp/bench";
//   options.self_exe = "/proc/self/exe";  // must accept the single-chunk flags
//   GENFARM_ASSIGN_OR_RETURN(WorkerBenchReport report, RunWorkerBench(options, RealClock::Get()));
//   std::cout << FormatWorkerBenchReport(report);
//
// Not thread-safe; one benchmark per process (it spawns children and loads LibTorch).
#ifndef GENFARM_WORKER_BENCH_WORKER_BENCH_H_
#define GENFARM_WORKER_BENCH_WORKER_BENCH_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"

namespace genfarm::worker {

struct WorkerBenchOptions {
  std::string models_dir = "var/models";
  std::string model = "esrgan-slim-x2";
  int frames = 32;
  int width = 128;
  int height = 96;
  int chunk = 4;         // frames per process in (c), as a farm chunk
  int rounds = 3;        // each path runs once per round; the best round counts
  std::string work_dir;  // plates and outputs go here; must exist
  std::string self_exe;  // spawned per chunk for (c) with the SingleChunkOptions flags
  std::function<void(const std::string&)> on_step;  // progress lines (optional)
};

struct BenchRow {
  std::string label;
  int batch = 0;  // frames per forward pass
  int frames = 0;
  double seconds = 0;      // wall
  double cpu_seconds = 0;  // user + system, this process's threads or the chunk processes
  double FramesPerSecond() const { return seconds > 0 ? frames / seconds : 0; }
};

struct WorkerBenchReport {
  int cores = 0;             // online CPUs (nproc)
  std::string cpu;           // /proc/cpuinfo "model name", may be empty
  std::string load_average;  // /proc/loadavg 1/5/15-minute figures at the start, may be empty
  std::string device;        // e.g. "cpu:0"
  std::string model;         // name and version
  int batch_size = 0;        // the manifest's
  int tile_size = 0;
  int frames = 0;
  int width = 0, height = 0, out_width = 0, out_height = 0;
  int chunk = 0;
  int rounds = 0;
  double load_seconds = 0;     // cold model load into the cache, in-process
  std::vector<BenchRow> rows;  // (a) to (e), the best round of each
  double a_over_b = 0, a_over_c = 0, a_over_d = 0;
};

absl::StatusOr<WorkerBenchReport> RunWorkerBench(const WorkerBenchOptions& options,
                                                 const Clock& clock);

// The report as a plain-text table with the ratios and the machine.
std::string FormatWorkerBenchReport(const WorkerBenchReport& report);

// One chunk the traditional way, in a fresh process: read the manifest in `model_dir`, load
// the TorchScript file, run frames first..last of `input` through the frame pipeline into
// `output`, exit. No model cache, no checksum scan of the repository.
struct SingleChunkOptions {
  std::string model_dir;  // the model's folder (manifest.json + TorchScript file)
  std::string input;      // frame patterns (####)
  std::string output;
  int64_t first = 0;
  int64_t last = 0;
};
absl::Status RunSingleChunk(const SingleChunkOptions& options, const Clock& clock);

// Writes a scene-linear half-float EXR plate sequence (sky gradient, a sun with values up
// to ~6.0, a checker disc moving 3 px per frame), like examples/make_plates.py.
absl::Status WritePlates(const std::string& pattern, int64_t first, int64_t last, int width,
                         int height);

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_BENCH_WORKER_BENCH_H_
