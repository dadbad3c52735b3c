#include "worker/daemon/model_task_runner.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/frame_pattern.h"
#include "common/path_containment.h"
#include "common/stage_params.h"
#include "worker/frames/thumbnail.h"
#include "worker/pipeline/frame_pipeline.h"

namespace genfarm::worker {
namespace {

// Removes `.NAME.tmp-*` siblings of output frames before they are written. A worker killed
// mid-write (SIGKILL, power loss) leaves its temporary file behind; the attempt that takes
// the task over cleans up after it. Only this task's own output frames are touched, so a
// live attempt of another task is never disturbed; a stale attempt of this task loses its
// temporary file, but its result is fenced off anyway. Thread-safe (the pipeline's writer
// threads call it); each frame is swept once and each folder listed once.
class StaleTempSweeper {
 public:
  void Sweep(const std::string& final_path) {
    namespace fs = std::filesystem;
    const fs::path path(final_path);
    const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
    const std::string dir = folder.string();
    const std::string prefix = "." + path.filename().string() + ".tmp-";
    absl::MutexLock lock(&mu_);
    if (!swept_.insert(final_path).second) return;
    auto [it, listed] = temps_.try_emplace(dir);
    if (listed) {
      std::error_code ec;
      for (fs::directory_iterator d(folder, ec), end; !ec && d != end; d.increment(ec)) {
        const std::string name = d->path().filename().string();
        if (absl::StartsWith(name, ".") && absl::StrContains(name, ".tmp-"))
          it->second.insert(d->path().string());
      }
    }
    for (auto t = it->second.lower_bound((folder / prefix).string());
         t != it->second.end() && absl::StartsWith(fs::path(*t).filename().string(), prefix);) {
      std::error_code ignored;
      fs::remove(*t, ignored);
      t = it->second.erase(t);
    }
  }

 private:
  absl::Mutex mu_;
  std::set<std::string> swept_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::set<std::string>> temps_ ABSL_GUARDED_BY(mu_);  // folder -> temp files
};

}  // namespace

ModelTaskRunner::ModelTaskRunner(ModelRepository& repository, ModelCache& cache,
                                 std::vector<DeviceSpec> devices, const Clock& clock)
    : repository_(repository), cache_(cache), devices_(std::move(devices)), clock_(clock) {}

const DeviceSpec& ModelTaskRunner::DeviceFor(int32_t index) const {
  for (const DeviceSpec& d : devices_) {
    if (d.is_cuda() && d.index == index) return d;
  }
  for (const DeviceSpec& d : devices_) {
    if (!d.is_cuda()) return d;
  }
  return devices_.front();
}

TaskOutcome ModelTaskRunner::Run(const TaskContext& context) {
  const v1::Assignment& a = *context.assignment;
  const v1::StageSpec& stage = a.stage();
  TaskOutcome outcome;
  const absl::Time start = clock_.Now();
  auto manifest = repository_.Find(stage.model());
  if (!manifest.ok()) {
    outcome.status = absl::FailedPreconditionError(
        absl::StrCat("model '", stage.model(),
                     "' is not in this worker's repository: ", manifest.status().message()));
    outcome.reason = v1::FAILURE_REASON_MODEL_UNAVAILABLE;
    return outcome;
  }
  auto input = FramePattern::Parse(stage.input());
  auto output = FramePattern::Parse(stage.output());
  if (!input.ok() || !output.ok()) {
    outcome.status = !input.ok() ? input.status() : output.status();
    outcome.reason = v1::FAILURE_REASON_BAD_SPEC;
    return outcome;
  }
  // Contained paths (docs/security.md): every frame this task reads or writes, symlinks
  // resolved, under the project's storage roots, before anything is opened.
  if (absl::Status contained = CheckTaskPathsContained(a, *input, *output); !contained.ok()) {
    outcome.status = contained;
    outcome.reason = v1::FAILURE_REASON_BAD_SPEC;
    return outcome;
  }
  const DeviceSpec& device = DeviceFor(a.device_index());
  // Whether Get() served a warm model or loaded it, for the task log (users and the
  // integration test read it to see that a second job reused the model). A model resident
  // before Get() whose load total did not move is a hit; the load total also moves on a
  // reload after a sha256 change or an eviction racing with us, which are loads.
  const std::string device_key = device.Key();
  bool resident_before = false;
  for (const LoadedModel& m : cache_.loaded()) {
    if (m.model == manifest->name && m.version == manifest->version && m.device == device_key)
      resident_before = true;
  }
  auto LoadSecondsOf = [&](const CacheStats& s) {
    auto it = s.load_seconds.find(manifest->name);
    return it == s.load_seconds.end() ? 0.0 : it->second;
  };
  const CacheStats stats_before = cache_.stats();
  const absl::Time load_start = clock_.Now();
  auto runner = cache_.Get(*manifest, device);
  outcome.load_seconds = absl::ToDoubleSeconds(clock_.Now() - load_start);
  const CacheStats stats_after = cache_.stats();
  if (!runner.ok()) {
    outcome.status = runner.status();
    outcome.reason = runner.status().code() == absl::StatusCode::kResourceExhausted
                         ? v1::FAILURE_REASON_OUT_OF_MEMORY
                         : v1::FAILURE_REASON_MODEL_ERROR;
    return outcome;
  }
  const bool cache_hit =
      resident_before && LoadSecondsOf(stats_after) == LoadSecondsOf(stats_before);
  if (cache_hit) {
    context.log(absl::StrCat("model ", manifest->name, " ", manifest->version, " warm on ",
                             device_key, " (cache hit)"));
  } else {
    context.log(absl::StrCat("model ", manifest->name, " ", manifest->version, " loaded on ",
                             device_key, " in ", absl::StrFormat("%.2f", outcome.load_seconds),
                             " s (cache miss)"));
  }

  FramePipelineOptions options;
  options.frames.assign(a.frames().begin(), a.frames().end());
  options.stage_frames.assign(a.stage_frames().begin(), a.stage_frames().end());
  options.input_path = [in = *input](int64_t f) { return in.Format(f); };
  options.output_path = [out = *output, sweeper = std::make_shared<StaleTempSweeper>()](int64_t f) {
    std::string path = out.Format(f);
    sweeper->Sweep(path);
    return path;
  };
  ModelTraits& traits = options.model;
  traits.name = manifest->name;
  traits.version = manifest->version;
  traits.sha256 = manifest->sha256;
  traits.kind = manifest->kind;
  auto space = ParseColorSpace(manifest->color_space);
  if (!space.ok()) {
    outcome.status = space.status();
    outcome.reason = v1::FAILURE_REASON_MODEL_ERROR;
    return outcome;
  }
  traits.color.space = *space;
  traits.color.range = {manifest->value_min, manifest->value_max};
  traits.scale = manifest->scale;
  traits.batch_size = manifest->batch_size;
  traits.window_before = manifest->window_before;
  traits.window_after = manifest->window_after;
  traits.seeded = manifest->seeded;
  options.stage_seed = stage.seed();
  // The same typed parse the scheduler validated the spec with (common/stage_params.h).
  auto params = ParseModelParams(stage.params(), absl::StrCat("stage '", stage.name(), "' params"));
  if (!params.ok()) {
    outcome.status = params.status();
    outcome.reason = v1::FAILURE_REASON_BAD_SPEC;
    return outcome;
  }
  options.params = *params;
  options.job = absl::StrCat(a.job_id());
  options.task = absl::StrCat(a.job_id(), "/", a.task_index());
  options.attempt = absl::StrCat(a.attempt_id());
  options.cancel = context.cancel;
  options.on_progress = [&](const FrameProgress& p) { context.progress(p.frames_done, p.frame); };
  options.on_log = context.log;
  options.write.before_rename = context.before_rename;

  FramePipeline pipeline(**runner, std::move(options));
  auto result = pipeline.Run();
  outcome.run_seconds = absl::ToDoubleSeconds(clock_.Now() - start);
  if (!result.ok()) {
    outcome.status = result.status();
    return outcome;
  }
  outcome.frames_written = result->frames_written;
  // --- Frame preview for the dashboard (worker/frames/thumbnail) ---
  // Made here, by the worker that wrote the frame, so the scheduler never reads frame
  // files. A preview that cannot be made is logged; it never fails the task.
  if (!outcome.frames_written.empty()) {
    const int64_t last =
        *std::max_element(outcome.frames_written.begin(), outcome.frames_written.end());
    ThumbnailOptions thumb_options;
    thumb_options.max_width = v1::THUMBNAIL_MAX_WIDTH;
    thumb_options.max_height = v1::THUMBNAIL_MAX_WIDTH;
    thumb_options.max_bytes = v1::THUMBNAIL_MAX_BYTES;
    absl::StatusOr<JpegThumbnail> thumb = MakeThumbnail(output->Format(last), thumb_options);
    if (thumb.ok()) {
      outcome.thumbnail.set_stage(stage.name());
      outcome.thumbnail.set_frame(last);
      outcome.thumbnail.set_width(thumb->width);
      outcome.thumbnail.set_height(thumb->height);
      outcome.thumbnail.set_jpeg(std::move(thumb->jpeg));
    } else {
      context.log(
          absl::StrCat("no dashboard preview of frame ", last, ": ", thumb.status().message()));
    }
  }
  // --- end frame preview ---
  if (observer_) {
    observer_(TaskTimings{manifest->name, static_cast<int64_t>(result->frames_written.size()),
                          result->read_seconds, result->compute_seconds, result->write_seconds});
  }
  return outcome;
}

}  // namespace genfarm::worker
