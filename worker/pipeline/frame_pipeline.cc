#include "worker/pipeline/frame_pipeline.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/retime_mapping.h"
#include "common/stage_params.h"
#include "worker/pipeline/bounded_queue.h"
#include "worker/runtime/seed.h"

namespace genfarm::worker {
namespace {

struct ReadItem {
  int64_t frame = 0;
  std::string path;
  absl::Status status;
  Frame data;
  double seconds = 0;
};

struct WriteItem {
  int64_t frame = 0;
  std::string path;
  Image image;
  WriteOptions options;
  double seconds = 0;  // read + compute share so far
};

// One canonical name per container, so ".tif" and ".tiff" count as the same format.
std::string FormatOfPath(const std::string& path) {
  std::string ext = absl::AsciiStrToLower(std::filesystem::path(path).extension().string());
  if (ext == ".tif") return ".tiff";
  if (ext == ".jpeg") return ".jpg";
  return ext;
}

absl::Status WithPrefix(const absl::Status& status, const std::string& prefix) {
  absl::Status out(status.code(), absl::StrCat(prefix, status.message()));
  // Payloads (the failure reason, frame_io.h) survive the prefix.
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

// The state of one Run(): three stages and the queues between them.
class PipelineRun {
 public:
  PipelineRun(ModelRunner& runner, const FramePipelineOptions& options)
      : runner_(runner),
        o_(options),
        clock_(options.clock != nullptr ? *options.clock : RealClock::Get()),
        batch_size_(std::max(1, options.model.batch_size)),
        read_q_(size_t(std::max(1, options.read_ahead_batches)) * batch_size_),
        write_q_(size_t(std::max(1, options.write_behind_frames))) {
    read_frame_ = o_.read_frame ? o_.read_frame : [](const std::string& path, int64_t frame) {
      return ReadFrame(path, frame);
    };
    write_frame_ = o_.write_frame ? o_.write_frame : WriteFrame;
  }

  absl::StatusOr<FramePipelineResult> Execute() {
    const absl::Time start = clock_.Now();
    if (!o_.input_path || !o_.output_path) {
      return absl::InvalidArgumentError("frame pipeline: input_path and output_path are required");
    }
    std::vector<int64_t> reads;
    std::vector<RetimeOutput> retime;
    if (o_.model.kind == ModelKind::kInterpolate) {
      // Typed and range-checked by ParseModelParams before it got here (stage_params.h).
      const int factor = o_.params.factor.value_or(kDefaultRetimeFactor);
      absl::StatusOr<std::vector<RetimeOutput>> mapped =
          MapRetime(o_.stage_frames.empty() ? o_.frames : o_.stage_frames, o_.frames, factor);
      if (!mapped.ok()) return mapped.status();
      retime = *std::move(mapped);
      reads = RetimeInputFrames(retime);
      total_ = int64_t(retime.size());
    } else {
      reads = o_.frames;
      total_ = int64_t(reads.size());
    }

    std::thread reader([&] { ReaderLoop(reads); });
    std::thread writer([&] { WriterLoop(); });
    if (o_.model.kind == ModelKind::kInterpolate) {
      ComputeInterpolate(retime);
    } else {
      ComputeUpscale();
    }
    if (!Stopped()) write_q_.Close();
    reader.join();
    writer.join();

    absl::MutexLock lock(&mu_);
    result_.wall_seconds = Seconds(start);
    if (!first_error_.ok()) {
      if (absl::IsCancelled(first_error_)) {
        return absl::CancelledError(absl::StrCat("task cancelled after ",
                                                 result_.frames_written.size(), " of ", total_,
                                                 " frames written"));
      }
      return first_error_;
    }
    return result_;
  }

 private:
  bool IsCancelled() const { return o_.cancel != nullptr && o_.cancel->cancelled(); }
  bool Stopped() const { return stop_.load(std::memory_order_acquire); }
  // Checked between frames: turns a cancel request into a stop of all stages.
  bool CheckStop() {
    if (Stopped()) return true;
    if (IsCancelled()) {
      Fail(absl::CancelledError("task cancelled"));
      return true;
    }
    return false;
  }

  double Seconds(absl::Time since) const { return absl::ToDoubleSeconds(clock_.Now() - since); }

  // First error wins; everyone stops and queued frames are dropped.
  void Fail(absl::Status status) {
    {
      absl::MutexLock lock(&mu_);
      if (first_error_.ok()) first_error_ = std::move(status);
    }
    stop_.store(true, std::memory_order_release);
    read_q_.Abort();
    write_q_.Abort();
  }

  void Log(const std::string& line) {
    if (!o_.on_log) return;
    absl::MutexLock lock(&log_mu_);
    o_.on_log(line);
  }

  void ReaderLoop(const std::vector<int64_t>& frames) {
    for (int64_t f : frames) {
      if (CheckStop()) break;
      ReadItem item;
      item.frame = f;
      item.path = o_.input_path(f);
      const absl::Time t0 = clock_.Now();
      absl::StatusOr<Frame> read = read_frame_(item.path, f);
      item.seconds = Seconds(t0);
      {
        absl::MutexLock lock(&mu_);
        result_.read_seconds += item.seconds;
      }
      const bool failed = !read.ok();
      if (failed) {
        item.status = read.status();
      } else {
        item.data = *std::move(read);
      }
      // Errors travel in order, so frames before a bad one are still rendered.
      if (!read_q_.Push(std::move(item)) || failed) break;
    }
    read_q_.Close();
  }

  void WriterLoop() {
    while (std::optional<WriteItem> item = write_q_.Pop()) {
      if (CheckStop()) break;
      const absl::Time t0 = clock_.Now();
      absl::Status status = write_frame_(item->path, item->image, item->options);
      const double dt = Seconds(t0);
      if (!status.ok()) {
        Fail(status);
        break;
      }
      FrameProgress progress;
      {
        absl::MutexLock lock(&mu_);
        result_.write_seconds += dt;
        result_.frames_written.push_back(item->frame);
        progress.frames_done = int64_t(result_.frames_written.size());
      }
      progress.frame = item->frame;
      progress.frames_total = total_;
      progress.seconds = item->seconds + dt;
      if (o_.on_progress) o_.on_progress(progress);
    }
  }

  // Pops the next read; nullopt when the reader is done or the pipeline stopped. A read
  // error stops the pipeline.
  std::optional<ReadItem> NextRead() {
    std::optional<ReadItem> item = read_q_.Pop();
    if (!item) return std::nullopt;
    if (!item->status.ok()) {
      Fail(item->status);
      return std::nullopt;
    }
    NoteFrame(*item);
    return item;
  }

  // One-time notes about the input (per task, not per frame, to keep the log readable).
  void NoteFrame(const ReadItem& item) {
    if (noted_) return;
    noted_ = true;
    const FrameMetadata& md = item.data.metadata;
    if (md.dropped_alpha) {
      Log(absl::StrCat("frame ", item.frame, ": input has an alpha channel; it is dropped"));
    }
    if (md.was_grey) {
      Log(absl::StrCat("frame ", item.frame, ": greyscale input, replicated to RGB"));
    }
    if (!o_.input_color_space && !md.color_space.empty() && !ParseColorSpace(md.color_space).ok()) {
      Log(absl::StrCat("frame ", item.frame, ": colour space \"", md.color_space,
                       "\" not understood, treated as ", ColorSpaceName(FrameColorSpace(md))));
    }
  }

  ColorSpace InputSpace(const FrameMetadata& md) const {
    return o_.input_color_space.value_or(FrameColorSpace(md));
  }

  ModelInput Prepare(int64_t frame, const Frame& data) {
    ModelInput in = ToModel(data.image, InputSpace(data.metadata), o_.model.color, o_.highlights);
    {
      absl::MutexLock lock(&mu_);
      result_.pixels += in.pixels;
      result_.pixels_above_range += in.pixels_above_range;
      result_.pixels_below_range += in.pixels_below_range;
      if (in.pixels_out_of_range > 0) ++result_.frames_with_over_range;
    }
    if (in.pixels_out_of_range > 0) Log(OverRangeMessage(frame, in, o_.highlights));
    return in;
  }

  WriteItem MakeWrite(int64_t out_frame, const ReadItem& source, Image image, double seconds) {
    WriteItem w;
    w.frame = out_frame;
    w.path = o_.output_path(out_frame);
    w.image = std::move(image);
    w.seconds = seconds;
    w.options = o_.write;
    w.options.color_space = OutputSpace(w.path);
    if (w.options.sample_type == SampleType::kAuto &&
        FormatOfPath(w.path) == FormatOfPath(source.path)) {
      const FrameMetadata& md = source.data.metadata;
      const SampleType same = SampleTypeFromMetadata(md);
      const bool odd_bits = (same == SampleType::kUint16 && md.bits_per_sample != 16) ||
                            (same == SampleType::kUint8 && md.bits_per_sample != 8);
      if (!odd_bits) w.options.sample_type = same;  // 10/12-bit keep the format's default
    }
    Provenance p;
    p.model = o_.model.name;
    p.model_version = o_.model.version;
    p.model_sha256 = o_.model.sha256;
    p.params_json = ModelParamsJson(o_.params);
    p.seed = o_.stage_seed;
    p.job = o_.job;
    p.task = o_.task;
    p.attempt = o_.attempt;
    p.frame = out_frame;
    w.options.provenance = std::move(p);
    return w;
  }

  ColorSpace OutputSpace(const std::string& path) const {
    return o_.output_color_space.value_or(DefaultColorSpaceForPath(path));
  }

  absl::Status CheckSize(int64_t frame, const Image& in, const Image& out, int scale) {
    if (out.channels == 3 && out.width == in.width * scale && out.height == in.height * scale &&
        out.pixels.size() == size_t(out.width) * out.height * 3) {
      return absl::OkStatus();
    }
    return absl::InternalError(absl::StrCat(
        "frame ", frame, ": model ", o_.model.name, " returned a ", out.width, "x", out.height, "x",
        out.channels, " image for a ", in.width, "x", in.height, " input, expected scale ", scale));
  }

  void ComputeUpscale() {
    std::optional<ReadItem> carry;  // first frame of the next batch (a different size)
    bool reader_done = false;
    while (!CheckStop()) {
      std::vector<ReadItem> batch;
      if (carry) {
        batch.push_back(*std::move(carry));
        carry.reset();
      }
      while (!reader_done && int(batch.size()) < batch_size_) {
        std::optional<ReadItem> item = NextRead();
        if (!item) {
          reader_done = true;
          break;
        }
        if (!batch.empty() && (item->data.image.width != batch[0].data.image.width ||
                               item->data.image.height != batch[0].data.image.height)) {
          carry = std::move(item);  // a batch is one tensor: same size only
          break;
        }
        batch.push_back(*std::move(item));
      }
      if (batch.empty() || Stopped()) break;
      if (!RunUpscaleBatch(batch)) break;
    }
  }

  bool RunUpscaleBatch(std::vector<ReadItem>& batch) {
    const absl::Time t0 = clock_.Now();
    std::vector<ModelInput> inputs;
    std::vector<Image> images;
    RunOptions run;
    for (ReadItem& item : batch) {
      inputs.push_back(Prepare(item.frame, item.data));
      images.push_back(std::move(inputs.back().image));
      run.frame_seeds.push_back(DeriveFrameSeed(o_.stage_seed, item.frame));
    }
    run.seed = run.frame_seeds.front();
    const std::string frames_label =
        batch.size() == 1 ? absl::StrCat("frame ", batch[0].frame)
                          : absl::StrCat("frames ", batch.front().frame, "-", batch.back().frame);
    absl::StatusOr<std::vector<Image>> outs = runner_.Upscale(images, run);
    if (!outs.ok()) {
      Fail(WithPrefix(outs.status(), absl::StrCat(frames_label, " (", batch.front().path,
                                                  "): model ", o_.model.name, " failed: ")));
      return false;
    }
    if (outs->size() != batch.size()) {
      Fail(absl::InternalError(absl::StrCat(frames_label, ": model ", o_.model.name, " returned ",
                                            outs->size(), " frames for ", batch.size())));
      return false;
    }
    std::vector<WriteItem> writes;
    for (size_t i = 0; i < batch.size(); ++i) {
      const ReadItem& item = batch[i];
      absl::Status size_ok =
          CheckSize(item.frame, item.data.image, (*outs)[i], std::max(1, o_.model.scale));
      if (!size_ok.ok()) {
        Fail(size_ok);
        return false;
      }
      const ColorSpace in_space = InputSpace(item.data.metadata);
      Image out = FromModel((*outs)[i], o_.model.color, in_space);
      absl::Status added = AddResidual(inputs[i].residual, o_.residual_filter, &out);
      if (!added.ok()) {
        Fail(WithPrefix(added, absl::StrCat("frame ", item.frame, ": ")));
        return false;
      }
      out = ConvertColorSpace(out, in_space, OutputSpace(o_.output_path(item.frame)));
      writes.push_back(MakeWrite(item.frame, item, std::move(out), 0));
    }
    const double dt = Seconds(t0);
    {
      absl::MutexLock lock(&mu_);
      result_.compute_seconds += dt;
    }
    for (size_t i = 0; i < writes.size(); ++i) {
      writes[i].seconds = batch[i].seconds + dt / double(batch.size());
      if (!write_q_.Push(std::move(writes[i]))) return false;
    }
    return true;
  }

  struct Prepared {
    ReadItem read;
    std::optional<ModelInput> model_input;  // converted on first use by an in-between
  };

  void ComputeInterpolate(const std::vector<RetimeOutput>& outputs) {
    std::map<int64_t, Prepared> cache;
    // Pops reads until `frame` is cached; false when the pipeline stopped or the reader ended.
    auto ensure = [&](int64_t frame) {
      while (cache.find(frame) == cache.end()) {
        std::optional<ReadItem> item = NextRead();
        if (!item) return false;
        const int64_t f = item->frame;
        cache[f].read = *std::move(item);
      }
      return true;
    };
    for (const RetimeOutput& o : outputs) {
      if (CheckStop()) return;
      if (!ensure(o.from) || !ensure(o.to)) {
        if (!Stopped()) {
          Fail(absl::InternalError(absl::StrCat("frame ", o.output_frame, ": input frame ", o.from,
                                                " or ", o.to, " was never read")));
        }
        return;
      }
      cache.erase(cache.begin(), cache.lower_bound(o.from));  // inputs are used in order
      const absl::Time t0 = clock_.Now();
      Prepared& a = cache[o.from];
      const ColorSpace in_space = InputSpace(a.read.data.metadata);
      const std::string out_path = o_.output_path(o.output_frame);
      Image out;
      double read_share = 0;
      if (o.is_copy()) {
        out = ConvertColorSpace(a.read.data.image, in_space, OutputSpace(out_path));
        read_share = a.read.seconds;
      } else {
        Prepared& b = cache[o.to];
        if (InputSpace(b.read.data.metadata) != in_space) {
          Fail(absl::InvalidArgumentError(
              absl::StrCat("frame ", o.to, ": input file ", b.read.path,
                           " is in a different colour space from frame ", o.from)));
          return;
        }
        if (!a.model_input) a.model_input = Prepare(o.from, a.read.data);
        if (!b.model_input) b.model_input = Prepare(o.to, b.read.data);
        RunOptions run;
        run.seed = DeriveFrameSeed(o_.stage_seed, o.output_frame);
        run.frame_seeds = {run.seed};
        absl::StatusOr<Image> mid =
            runner_.Interpolate(a.model_input->image, b.model_input->image, o.t, run);
        if (!mid.ok()) {
          Fail(WithPrefix(mid.status(),
                          absl::StrCat("frame ", o.output_frame, " (between ", a.read.path, " and ",
                                       b.read.path, "): model ", o_.model.name, " failed: ")));
          return;
        }
        absl::Status size_ok = CheckSize(o.output_frame, a.read.data.image, *mid, 1);
        if (!size_ok.ok()) {
          Fail(size_ok);
          return;
        }
        out = FromModel(*mid, o_.model.color, in_space);
        absl::StatusOr<Image> residual =
            BlendResiduals(a.model_input->residual, b.model_input->residual, o.t);
        absl::Status added =
            residual.ok() ? AddResidual(*residual, o_.residual_filter, &out) : residual.status();
        if (!added.ok()) {
          Fail(WithPrefix(added, absl::StrCat("frame ", o.output_frame, ": ")));
          return;
        }
        out = ConvertColorSpace(out, in_space, OutputSpace(out_path));
      }
      const double dt = Seconds(t0);
      {
        absl::MutexLock lock(&mu_);
        result_.compute_seconds += dt;
      }
      if (!write_q_.Push(MakeWrite(o.output_frame, a.read, std::move(out), read_share + dt))) {
        return;
      }
    }
  }

  ModelRunner& runner_;
  const FramePipelineOptions& o_;
  Clock& clock_;
  const int batch_size_;
  std::function<absl::StatusOr<Frame>(const std::string&, int64_t)> read_frame_;
  std::function<absl::Status(const std::string&, const Image&, const WriteOptions&)> write_frame_;
  BoundedQueue<ReadItem> read_q_;
  BoundedQueue<WriteItem> write_q_;
  int64_t total_ = 0;   // set before the threads start
  bool noted_ = false;  // compute thread only
  std::atomic<bool> stop_{false};

  absl::Mutex mu_;
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
  FramePipelineResult result_ ABSL_GUARDED_BY(mu_);
  absl::Mutex log_mu_;
};

}  // namespace

FramePipeline::FramePipeline(ModelRunner& runner, FramePipelineOptions options)
    : runner_(runner), options_(std::move(options)) {}

absl::StatusOr<FramePipelineResult> FramePipeline::Run() {
  PipelineRun run(runner_, options_);
  return run.Execute();
}

}  // namespace genfarm::worker
