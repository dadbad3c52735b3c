// genfarm-worker-bench: frames per second of the worker pipeline against a bare LibTorch
// forward loop and a process-per-chunk farm, plus batch 1 vs the manifest's batch size.
// Parses flags and wires WorkerBench (worker_bench.h); with --single_chunk it is one
// chunk process of the process-per-chunk measurement.
//
//   genfarm-worker-bench --models var/models --model esrgan-slim-x2 --frames 32 --size 128x96
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/clock.h"
#include "common/flags_usage.h"
#include "spdlog/spdlog.h"
#include "worker/bench/worker_bench.h"

ABSL_FLAG(std::string, models, "var/models", "model repository folder");
ABSL_FLAG(std::string, model, "esrgan-slim-x2", "upscale model to benchmark");
ABSL_FLAG(int, frames, 32, "frames per measurement");
ABSL_FLAG(std::string, size, "128x96", "plate size WxH");
ABSL_FLAG(int, chunk, 4, "frames per process in the process-per-chunk measurement");
ABSL_FLAG(int, rounds, 3, "interleaved rounds; each path reports its best round");
ABSL_FLAG(std::string, work_dir, "",
          "folder for plates and outputs (default: a temporary folder, removed after)");
ABSL_FLAG(std::string, log_level, "warn", "trace, debug, info, warn, error");
// Single-chunk mode (spawned by the benchmark itself).
ABSL_FLAG(bool, single_chunk, false,
          "run one chunk the traditional way: load, read, run, write, exit");
ABSL_FLAG(std::string, model_dir, "", "single chunk: the model's folder");
ABSL_FLAG(std::string, input, "", "single chunk: input frame pattern");
ABSL_FLAG(std::string, output, "", "single chunk: output frame pattern");
ABSL_FLAG(int64_t, first, 0, "single chunk: first frame");
ABSL_FLAG(int64_t, last, 0, "single chunk: last frame");

namespace {

std::string SelfExe() {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "" : p.string();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace genfarm::worker;
  genfarm::SetFlagsUsage(
      "genfarm-worker-bench",
      "the worker benchmark: frames/s of the worker pipeline vs bare LibTorch vs a process per "
      "chunk.");
  absl::ParseCommandLine(argc, argv);
  spdlog::set_level(spdlog::level::from_str(absl::GetFlag(FLAGS_log_level)));
  genfarm::RealClock& clock = genfarm::RealClock::Get();

  if (absl::GetFlag(FLAGS_single_chunk)) {
    absl::Status s =
        RunSingleChunk(SingleChunkOptions{absl::GetFlag(FLAGS_model_dir),
                                          absl::GetFlag(FLAGS_input), absl::GetFlag(FLAGS_output),
                                          absl::GetFlag(FLAGS_first), absl::GetFlag(FLAGS_last)},
                       clock);
    if (!s.ok()) std::cerr << "genfarm-worker-bench: " << s.message() << "\n";
    return s.ok() ? 0 : 1;
  }

  WorkerBenchOptions options;
  options.models_dir = absl::GetFlag(FLAGS_models);
  options.model = absl::GetFlag(FLAGS_model);
  options.frames = absl::GetFlag(FLAGS_frames);
  options.chunk = absl::GetFlag(FLAGS_chunk);
  options.rounds = absl::GetFlag(FLAGS_rounds);
  std::vector<std::string> size = absl::StrSplit(absl::GetFlag(FLAGS_size), 'x');
  if (size.size() != 2 || !absl::SimpleAtoi(size[0], &options.width) ||
      !absl::SimpleAtoi(size[1], &options.height)) {
    std::cerr << "genfarm-worker-bench: --size must be WxH, e.g. 128x96\n";
    return 2;
  }
  options.self_exe = SelfExe();
  options.on_step = [](const std::string& line) {
    std::cerr << "genfarm-worker-bench: " << line << "\n";
  };

  std::string work_dir = absl::GetFlag(FLAGS_work_dir);
  const bool temporary = work_dir.empty();
  if (temporary) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "genfarm-bench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::cerr << "genfarm-worker-bench: cannot create a temporary folder\n";
      return 1;
    }
    work_dir = tmpl;
  } else {
    std::filesystem::create_directories(work_dir);
  }
  options.work_dir = work_dir;

  auto report = RunWorkerBench(options, clock);
  if (temporary) {
    std::error_code ignored;
    std::filesystem::remove_all(work_dir, ignored);
  }
  if (!report.ok()) {
    std::cerr << "genfarm-worker-bench: " << report.status().message() << "\n";
    return 1;
  }
  std::cout << FormatWorkerBenchReport(*report) << std::flush;
  return 0;
}
