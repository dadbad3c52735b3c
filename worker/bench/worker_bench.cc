#include "worker/bench/worker_bench.h"

#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/frame_pattern.h"
#include "common/status_macros.h"
#include "worker/frames/frame_io.h"
#include "worker/pipeline/frame_pipeline.h"
#include "worker/runtime/devices.h"
#include "worker/runtime/manifest.h"
#include "worker/runtime/model_cache.h"
#include "worker/runtime/model_repository.h"
#include "worker/runtime/torch_model_loader.h"
#include "worker/runtime/torch_model_runner.h"

extern char** environ;

namespace genfarm::worker {
namespace {

namespace fs = std::filesystem;

constexpr char kPlates[] = "plates/plate.####.exr";
constexpr int64_t kFirstFrame = 1001;

// CPU seconds (user + system) used so far by this process (RUSAGE_SELF, all threads) or
// by its waited-for children (RUSAGE_CHILDREN). Unlike wall time, it barely moves when
// other work shares the machine, so it shows cost where throughput figures are noisy.
double CpuSeconds(int who) {
  rusage u{};
  getrusage(who, &u);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

// Pipeline options for frames first..last of an upscale model, built from the manifest the
// same way ModelTaskRunner does, except for the batch size under test.
absl::StatusOr<FramePipelineOptions> PipelineOptions(const Manifest& manifest, int batch,
                                                     const std::string& input,
                                                     const std::string& output, int64_t first,
                                                     int64_t last) {
  GENFARM_ASSIGN_OR_RETURN(FramePattern in, FramePattern::Parse(input));
  GENFARM_ASSIGN_OR_RETURN(FramePattern out, FramePattern::Parse(output));
  GENFARM_ASSIGN_OR_RETURN(ColorSpace space, ParseColorSpace(manifest.color_space));
  FramePipelineOptions options;
  for (int64_t f = first; f <= last; ++f) options.frames.push_back(f);
  options.input_path = [in](int64_t f) { return in.Format(f); };
  options.output_path = [out](int64_t f) { return out.Format(f); };
  ModelTraits& traits = options.model;
  traits.name = manifest.name;
  traits.version = manifest.version;
  traits.sha256 = manifest.sha256;
  traits.kind = manifest.kind;
  traits.color.space = space;
  traits.color.range = {manifest.value_min, manifest.value_max};
  traits.scale = manifest.scale;
  traits.batch_size = batch;
  traits.seeded = manifest.seeded;
  options.job = "bench";
  options.task = "bench/0";
  options.attempt = "0";
  return options;
}

absl::StatusOr<FramePipelineResult> RunPipeline(ModelRunner& runner, const Manifest& manifest,
                                                int batch, const std::string& input,
                                                const std::string& output, int64_t first,
                                                int64_t last) {
  GENFARM_ASSIGN_OR_RETURN(FramePipelineOptions options,
                           PipelineOptions(manifest, batch, input, output, first, last));
  FramePipeline pipeline(runner, std::move(options));
  return pipeline.Run();
}

// Times one pipeline pass over all frames. With `warm_up`, first two untimed passes over
// the first two batches: the TorchScript profiling executor profiles the first run of a
// shape and compiles on the second, neither of which a warm worker pays.
absl::StatusOr<BenchRow> TimePipeline(ModelRunner& runner, const Manifest& manifest, int batch,
                                      const WorkerBenchOptions& options, const std::string& tag,
                                      bool warm_up, const Clock& clock) {
  const std::string input = (fs::path(options.work_dir) / kPlates).string();
  const int64_t last = kFirstFrame + options.frames - 1;
  const int64_t warm_last = std::min<int64_t>(last, kFirstFrame + 2 * batch - 1);
  for (int pass = 0; warm_up && pass < 2; ++pass) {
    GENFARM_RETURN_IF_ERROR(
        RunPipeline(runner, manifest, batch, input,
                    (fs::path(options.work_dir) / ("warmup_" + tag) / "out.####.exr").string(),
                    kFirstFrame, warm_last)
            .status());
  }
  const double cpu_start = CpuSeconds(RUSAGE_SELF);
  const absl::Time start = clock.Now();
  GENFARM_ASSIGN_OR_RETURN(
      FramePipelineResult result,
      RunPipeline(runner, manifest, batch, input,
                  (fs::path(options.work_dir) / tag / "out.####.exr").string(), kFirstFrame, last));
  const double seconds = absl::ToDoubleSeconds(clock.Now() - start);
  const double cpu_seconds = CpuSeconds(RUSAGE_SELF) - cpu_start;
  if (static_cast<int>(result.frames_written.size()) != options.frames) {
    return absl::InternalError(absl::StrCat("benchmark: pipeline wrote ",
                                            result.frames_written.size(), " of ", options.frames,
                                            " frames"));
  }
  return BenchRow{"", batch, options.frames, seconds, cpu_seconds};
}

absl::StatusOr<BenchRow> TimeBareForward(TorchModelRunner& runner, int batch,
                                         const WorkerBenchOptions& options, bool warm_up) {
  const int iterations = (options.frames + batch - 1) / batch;
  // BenchForward warms up with one pass; two more let the profiling executor compile the
  // graph for this shape before the timed loop (see TimePipeline).
  if (warm_up)
    GENFARM_RETURN_IF_ERROR(runner.BenchForward(2, batch, options.height, options.width).status());
  const double cpu_start = CpuSeconds(RUSAGE_SELF);
  GENFARM_ASSIGN_OR_RETURN(double seconds,
                           runner.BenchForward(iterations, batch, options.height, options.width));
  // Includes BenchForward's own warm-up pass: one batch more than timed.
  const double cpu_seconds = (CpuSeconds(RUSAGE_SELF) - cpu_start) * iterations / (iterations + 1);
  return BenchRow{"", batch, iterations * batch, seconds, cpu_seconds};
}

absl::Status SpawnAndWait(const std::string& exe, const std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(exe.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int err = posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), environ); err != 0) {
    return absl::InternalError(absl::StrCat("benchmark: cannot start ", exe, ": ", strerror(err)));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      return absl::InternalError(absl::StrCat("benchmark: waitpid: ", strerror(errno)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat(
        "benchmark: single-chunk process `", absl::StrJoin(argv.begin(), argv.end() - 1, " "), "` ",
        WIFEXITED(status) ? absl::StrCat("exited with ", WEXITSTATUS(status))
                          : absl::StrCat("died of signal ", WTERMSIG(status))));
  }
  return absl::OkStatus();
}

// (c): one process per chunk, sequentially, as a one-slot farm blade would run them.
absl::StatusOr<BenchRow> TimeProcessPerChunk(const Manifest& manifest,
                                             const WorkerBenchOptions& options, bool warm_up,
                                             const Clock& clock) {
  const std::string input = (fs::path(options.work_dir) / kPlates).string();
  auto chunk_args = [&](const std::string& out_dir, int64_t first, int64_t last) {
    return std::vector<std::string>{
        "--single_chunk",
        absl::StrCat("--model_dir=", manifest.folder),
        absl::StrCat("--input=", input),
        absl::StrCat("--output=", (fs::path(options.work_dir) / out_dir / "out.####.exr").string()),
        absl::StrCat("--first=", first),
        absl::StrCat("--last=", last)};
  };
  const int64_t last = kFirstFrame + options.frames - 1;
  // Warm-up: the first exec of the binary and its shared libraries fills the page cache,
  // which a farm blade running the same job for hours would also have.
  if (warm_up) {
    GENFARM_RETURN_IF_ERROR(SpawnAndWait(
        options.self_exe, chunk_args("warmup_c", kFirstFrame,
                                     std::min<int64_t>(last, kFirstFrame + options.chunk - 1))));
  }
  const double cpu_start = CpuSeconds(RUSAGE_CHILDREN);
  const absl::Time start = clock.Now();
  for (int64_t first = kFirstFrame; first <= last; first += options.chunk) {
    GENFARM_RETURN_IF_ERROR(
        SpawnAndWait(options.self_exe,
                     chunk_args("c", first, std::min<int64_t>(last, first + options.chunk - 1))));
  }
  return BenchRow{"", manifest.batch_size, options.frames,
                  absl::ToDoubleSeconds(clock.Now() - start),
                  CpuSeconds(RUSAGE_CHILDREN) - cpu_start};
}

std::string CpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "model name")) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos)
        return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  return "";
}

// Other work on the machine skews every figure; the report says how busy it was.
std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  if (!(in >> one >> five >> fifteen)) return "";
  return absl::StrCat(one, " ", five, " ", fifteen);
}

absl::StatusOr<DeviceSpec> FirstDevice() {
  GENFARM_ASSIGN_OR_RETURN(std::vector<DeviceSpec> devices, EnumerateDevices());
  if (devices.empty()) return absl::UnavailableError("benchmark: no device found");
  return devices.front();  // a CUDA device when there is one, else the CPU
}

}  // namespace

absl::Status WritePlates(const std::string& pattern, int64_t first, int64_t last, int width,
                         int height) {
  GENFARM_ASSIGN_OR_RETURN(FramePattern p, FramePattern::Parse(pattern));
  WriteOptions write;
  write.sample_type = SampleType::kHalf;
  write.color_space = ColorSpace::kLinear;
  write.compression = "zip";
  for (int64_t frame = first; frame <= last; ++frame) {
    const float t = static_cast<float>(frame - first);
    Image img(width, height);
    const float sun_x = width * 0.8f, sun_y = height * 0.2f, sun_sigma = width * 0.04f;
    const float cx = width * 0.2f + 3.0f * t, cy = height * 0.55f, r = height * 0.22f;
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        const float fy = static_cast<float>(y) / height;
        const float sun = std::exp(-((x - sun_x) * (x - sun_x) + (y - sun_y) * (y - sun_y)) /
                                   (2 * sun_sigma * sun_sigma));
        float rgb[3] = {0.05f + 0.25f * fy + 6.0f * sun, 0.1f + 0.3f * fy + 5.0f * sun,
                        0.35f + 0.2f * fy + 3.5f * sun};
        if ((x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r) {
          const float checker =
              std::fmod(std::floor((x - cx) / 4) + std::floor((y - cy) / 4) + 1000.0f, 2.0f);
          rgb[0] = 0.6f * checker + 0.1f;
          rgb[1] = 0.3f + 0.2f * checker;
          rgb[2] = 0.1f + 0.05f * checker;
        }
        for (int c = 0; c < 3; ++c) img.at(x, y, c) = rgb[c];
      }
    }
    GENFARM_RETURN_IF_ERROR(WriteFrame(p.Format(frame), img, write));
  }
  return absl::OkStatus();
}

absl::Status RunSingleChunk(const SingleChunkOptions& options, const Clock& clock) {
  const fs::path manifest_path = fs::path(options.model_dir) / "manifest.json";
  std::ifstream in(manifest_path);
  if (!in)
    return absl::NotFoundError(absl::StrCat("single chunk: cannot read ", manifest_path.string()));
  std::stringstream text;
  text << in.rdbuf();
  GENFARM_ASSIGN_OR_RETURN(Manifest manifest, ParseManifest(text.str(), manifest_path.string()));
  manifest.folder = options.model_dir;
  manifest.model_path = (fs::path(options.model_dir) / manifest.file).string();
  GENFARM_ASSIGN_OR_RETURN(DeviceSpec device, FirstDevice());
  GENFARM_ASSIGN_OR_RETURN(std::unique_ptr<TorchModelRunner> runner,
                           TorchModelRunner::Load(manifest, device, clock));
  return RunPipeline(*runner, manifest, manifest.batch_size, options.input, options.output,
                     options.first, options.last)
      .status();
}

absl::StatusOr<WorkerBenchReport> RunWorkerBench(const WorkerBenchOptions& options,
                                                 const Clock& clock) {
  if (options.frames < 1 || options.width < 1 || options.height < 1 || options.chunk < 1 ||
      options.rounds < 1) {
    return absl::InvalidArgumentError("benchmark: frames, size, chunk and rounds must be positive");
  }
  auto step = [&](const std::string& line) {
    if (options.on_step) options.on_step(line);
  };
  ModelRepository repository(options.models_dir);
  GENFARM_RETURN_IF_ERROR(repository.Scan());
  GENFARM_ASSIGN_OR_RETURN(Manifest manifest, repository.Find(options.model));
  if (manifest.kind != ModelKind::kUpscale) {
    return absl::InvalidArgumentError(
        absl::StrCat("benchmark: model ", manifest.name, " is a ", ModelKindName(manifest.kind),
                     " model; the benchmark runs single-frame (upscale) models"));
  }
  GENFARM_ASSIGN_OR_RETURN(DeviceSpec device, FirstDevice());

  WorkerBenchReport report;
  report.cores = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  report.cpu = CpuModelName();
  report.load_average = LoadAverage();
  report.device = device.Key();
  report.model = absl::StrCat(manifest.name, " ", manifest.version);
  report.batch_size = manifest.batch_size;
  report.tile_size = manifest.tile_size;
  report.frames = options.frames;
  report.width = options.width;
  report.height = options.height;
  report.out_width = options.width * manifest.scale;
  report.out_height = options.height * manifest.scale;
  report.chunk = options.chunk;

  step(
      absl::StrFormat("writing %d plates at %dx%d", options.frames, options.width, options.height));
  GENFARM_RETURN_IF_ERROR(WritePlates((fs::path(options.work_dir) / kPlates).string(), kFirstFrame,
                                      kFirstFrame + options.frames - 1, options.width,
                                      options.height));

  TorchModelLoader loader(clock);
  ModelCache cache(loader, clock);
  const absl::Time load_start = clock.Now();
  GENFARM_ASSIGN_OR_RETURN(std::shared_ptr<ModelRunner> runner, cache.Get(manifest, device));
  report.load_seconds = absl::ToDoubleSeconds(clock.Now() - load_start);
  auto* torch_runner = dynamic_cast<TorchModelRunner*>(runner.get());
  if (torch_runner == nullptr)
    return absl::InternalError("benchmark: the cache did not return a TorchModelRunner");

  // Rounds interleave the paths so that load from elsewhere on the machine hits them
  // alike; each row keeps its best (least disturbed) round.
  const int batch = manifest.batch_size;
  std::vector<BenchRow> best(5);
  auto keep_best = [&](int i, BenchRow row, const std::string& label) {
    row.label = label;
    if (best[i].seconds <= 0) {
      best[i] = row;
      return;
    }
    best[i].seconds = std::min(best[i].seconds, row.seconds);
    best[i].cpu_seconds = std::min(best[i].cpu_seconds, row.cpu_seconds);
  };
  for (int round = 0; round < options.rounds; ++round) {
    const bool warm_up = round == 0;
    const std::string of = absl::StrCat(" (round ", round + 1, " of ", options.rounds, ")");
    step("(a) worker pipeline" + of);
    GENFARM_ASSIGN_OR_RETURN(BenchRow a,
                             TimePipeline(*runner, manifest, batch, options, "a", warm_up, clock));
    keep_best(0, a, "(a) worker pipeline: warm model, EXR in/out");
    step("(b) bare forward" + of);
    GENFARM_ASSIGN_OR_RETURN(BenchRow b, TimeBareForward(*torch_runner, batch, options, warm_up));
    keep_best(1, b, "(b) bare LibTorch forward, in-memory tensors");
    step("(c) process per chunk" + of);
    GENFARM_ASSIGN_OR_RETURN(BenchRow c, TimeProcessPerChunk(manifest, options, warm_up, clock));
    keep_best(
        2, c,
        absl::StrCat("(c) new process per chunk of ", options.chunk, ": load+read+run+write"));
    step("(d) worker pipeline at batch 1" + of);
    GENFARM_ASSIGN_OR_RETURN(BenchRow d,
                             TimePipeline(*runner, manifest, 1, options, "d", warm_up, clock));
    keep_best(3, d, "(d) worker pipeline at batch 1");
    step("(e) bare forward at batch 1" + of);
    GENFARM_ASSIGN_OR_RETURN(BenchRow e, TimeBareForward(*torch_runner, 1, options, warm_up));
    keep_best(4, e, "(e) bare LibTorch forward at batch 1");
  }
  const BenchRow &a = best[0], &b = best[1], &c = best[2], &d = best[3], &e = best[4];
  report.rounds = options.rounds;
  report.rows = {a, b, c, d, e};
  auto ratio = [](const BenchRow& x, const BenchRow& y) {
    return y.FramesPerSecond() > 0 ? x.FramesPerSecond() / y.FramesPerSecond() : 0;
  };
  report.a_over_b = ratio(a, b);
  report.a_over_c = ratio(a, c);
  report.a_over_d = ratio(a, d);
  return report;
}

std::string FormatWorkerBenchReport(const WorkerBenchReport& r) {
  std::string out = "GenFarm worker benchmark\n";
  absl::StrAppendFormat(
      &out, "  machine  %d cores (nproc)%s, device %s%s\n", r.cores,
      r.cpu.empty() ? "" : absl::StrCat(", ", r.cpu), r.device,
      r.load_average.empty() ? "" : absl::StrCat("; load average ", r.load_average));
  absl::StrAppendFormat(&out, "  model    %s: manifest batch %d, tile %d; cold load %.2f s\n",
                        r.model, r.batch_size, r.tile_size, r.load_seconds);
  absl::StrAppendFormat(&out,
                        "  frames   %d scene-linear EXR plates %dx%d -> %dx%d; chunk %d for (c)\n",
                        r.frames, r.width, r.height, r.out_width, r.out_height, r.chunk);
  absl::StrAppendFormat(
      &out,
      "  timing   wall clock and CPU time (all threads / child processes), best of %d "
      "interleaved round%s; warm-up runs excluded\n",
      r.rounds, r.rounds == 1 ? "" : "s");
  if (r.tile_size > 0 && std::max(r.width, r.height) > r.tile_size) {
    out +=
        "  note     frames exceed the tile size: (a) and (d) tile, (b) and (e) run whole frames\n";
  }
  out += "\n";
  absl::StrAppendFormat(&out, "  %-52s %5s %6s %8s %9s %12s\n", "path", "batch", "frames",
                        "seconds", "frames/s", "cpu s/frame");
  for (const BenchRow& row : r.rows) {
    absl::StrAppendFormat(&out, "  %-52s %5d %6d %8.2f %9.2f %12.3f\n", row.label, row.batch,
                          row.frames, row.seconds, row.FramesPerSecond(),
                          row.frames > 0 ? row.cpu_seconds / row.frames : 0.0);
  }
  out += "\n";
  absl::StrAppendFormat(
      &out, "  a/b  %5.2f  worker pipeline vs bare forward (1.00 = no pipeline overhead)\n",
      r.a_over_b);
  absl::StrAppendFormat(&out,
                        "  a/c  %5.2f  warm worker vs a new process per chunk (traditional farm)\n",
                        r.a_over_c);
  absl::StrAppendFormat(&out, "  a/d  %5.2f  pipeline at manifest batch %d vs batch 1\n",
                        r.a_over_d, r.batch_size);
  return out;
}

}  // namespace genfarm::worker
