#include "worker/runtime/torch_model_runner.h"

#include <torch/cuda.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <map>
#include <new>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"
#include "worker/runtime/seed.h"
#include "worker/runtime/tiling.h"

#ifdef GENFARM_TORCH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace genfarm::worker {

struct TorchModelRunner::TorchState {
  torch::jit::Module module;
  torch::Device device = torch::kCPU;
  torch::Dtype dtype = torch::kFloat32;
#ifdef GENFARM_TORCH_CUDA
  std::optional<c10::cuda::CUDAStream> stream;  // this runner's stream, CUDA only
#endif
};

namespace {

// Every seeded forward touches LibTorch's process-wide default generators (TorchScript
// code such as torch.randn_like draws from them), so seeding + forward is one critical
// section across all runners.
absl::Mutex& SeedMutex() {
  static absl::Mutex* mu = new absl::Mutex();
  return *mu;
}

// Whether LibTorch's text says an allocation failed. c10::OutOfMemoryError is not enough:
// LibTorch 1.13's CPU allocator throws a plain c10::Error ("DefaultCPUAllocator: can't
// allocate memory: you tried to allocate N bytes. Error code 12 (Cannot allocate memory)"),
// and the TorchScript interpreter rethrows whatever an op threw, CUDA's "CUDA out of memory"
// included, as a std::runtime_error carrying only the text.
bool SaysOutOfMemory(const std::string& msg) {
  const std::string lower = absl::AsciiStrToLower(msg);
  for (const char* needle : {"out of memory", "can't allocate memory", "cannot allocate memory",
                             "not enough memory", "failed to allocate"}) {
    if (absl::StrContains(lower, needle)) return true;
  }
  return false;
}

// What to show the user of a LibTorch exception: c10::Error without its C++ backtrace; a
// std::bad_alloc as out of memory; an error rethrown by the TorchScript interpreter as its last
// line ("RuntimeError: ..."), the TorchScript traceback above it going to the worker's log only.
std::string TorchErrorText(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    return c10_error->what_without_backtrace();
  }
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) {
    return absl::StrCat("out of memory (", e.what(), ")");
  }
  std::string text = e.what();
  if (absl::StrContains(text, "TorchScript interpreter")) {
    spdlog::warn("{}", text);
    const size_t last = text.rfind("Error: ");
    if (last != std::string::npos) {
      const size_t start = text.rfind('\n', last);
      text = text.substr(start == std::string::npos ? 0 : start + 1);
    }
  }
  return std::string(absl::StripAsciiWhitespace(text));
}

// The one place LibTorch failures become absl::Status: kResourceExhausted for memory (the
// worker reports out_of_memory, docs/failures.md), kInternal for the rest (model_error).
absl::Status FromTorchError(const std::string& model, const std::string& what,
                            const std::exception& e) {
  const std::string msg = TorchErrorText(e);
  const std::string text = absl::StrCat("model ", model, ": ", what, ": ", msg);
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr ||
      dynamic_cast<const std::bad_alloc*>(&e) != nullptr || SaysOutOfMemory(msg)) {
    return absl::ResourceExhaustedError(text);
  }
  return absl::InternalError(text);
}

// Applies the runner's CUDA stream for the lifetime of the scope; a no-op on the CPU.
class StreamScope {
 public:
  explicit StreamScope(TorchModelRunner::TorchState& state) {
#ifdef GENFARM_TORCH_CUDA
    if (state.stream.has_value()) guard_.emplace(*state.stream);
#else
    (void)state;
#endif
  }

 private:
#ifdef GENFARM_TORCH_CUDA
  std::optional<c10::cuda::CUDAStreamGuard> guard_;
#endif
};

absl::Status CheckImage(const Manifest& m, const Image& img, const std::string& what) {
  if (img.width <= 0 || img.height <= 0 || img.channels != 3 ||
      img.pixels.size() != static_cast<size_t>(img.width) * img.height * 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model ", m.name, ": ", what, " must be a non-empty RGB image, got ", img.width, "x",
        img.height, "x", img.channels, " with ", img.pixels.size(), " values"));
  }
  return absl::OkStatus();
}

// [3, h, w] view of a region of an interleaved image. The image must outlive the view.
torch::Tensor RegionView(const Image& img, const TileRect& r) {
  torch::Tensor hwc = torch::from_blob(const_cast<float*>(img.pixels.data()),
                                       {img.height, img.width, 3}, torch::kFloat32);
  return hwc.slice(0, r.y, r.y + r.height).slice(1, r.x, r.x + r.width).permute({2, 0, 1});
}

torch::Tensor PadToMultiple(const torch::Tensor& x, int multiple) {
  if (multiple <= 1) return x;
  const int64_t h = x.size(2), w = x.size(3);
  const int64_t ph = (multiple - h % multiple) % multiple;
  const int64_t pw = (multiple - w % multiple) % multiple;
  if (ph == 0 && pw == 0) return x;
  return torch::replication_pad2d(x, {0, pw, 0, ph});
}

Image ToImage(const torch::Tensor& chw) {
  torch::Tensor hwc = chw.permute({1, 2, 0}).contiguous().to(torch::kFloat32);
  Image img(static_cast<int>(chw.size(2)), static_cast<int>(chw.size(1)));
  std::memcpy(img.pixels.data(), hwc.data_ptr<float>(), img.pixels.size() * sizeof(float));
  return img;
}

absl::StatusOr<torch::Tensor> OutputTensor(const Manifest& m, const c10::IValue& out) {
  if (out.isTensor()) return out.toTensor();
  if (out.isTuple() && !out.toTupleRef().elements().empty() &&
      out.toTupleRef().elements()[0].isTensor()) {
    return out.toTupleRef().elements()[0].toTensor();  // (image, extras...) models
  }
  return absl::InternalError(
      absl::StrCat("model ", m.name, ": forward returned ", out.tagKind(), ", expected a tensor"));
}

// One piece of work: a tile (or a whole frame) of frame `frame`.
struct WorkItem {
  int frame;
  TileRect rect;
};

}  // namespace

TorchModelRunner::TorchModelRunner(Manifest manifest, DeviceSpec device, const Clock& clock,
                                   std::unique_ptr<TorchState> state)
    : manifest_(std::move(manifest)),
      device_(std::move(device)),
      clock_(clock),
      state_(std::move(state)) {}

TorchModelRunner::~TorchModelRunner() = default;

absl::StatusOr<std::unique_ptr<TorchModelRunner>> TorchModelRunner::Load(const Manifest& manifest,
                                                                         const DeviceSpec& device,
                                                                         const Clock& clock) {
  if (manifest.model_path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model ", manifest.name, ": manifest has no model_path (load it via ModelRepository)"));
  }
  auto state = std::make_unique<TorchState>();
  try {
    if (device.is_cuda()) {
      if (!torch::cuda::is_available() ||
          device.index >= static_cast<int>(torch::cuda::device_count())) {
        return absl::FailedPreconditionError(
            absl::StrCat("model ", manifest.name, ": device ", device.Key(),
                         " is not available to this LibTorch build"));
      }
      state->device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(device.index));
      if (manifest.half) state->dtype = torch::kHalf;
#ifdef GENFARM_TORCH_CUDA
      state->stream = c10::cuda::getStreamFromPool(/*isHighPriority=*/false,
                                                   static_cast<c10::DeviceIndex>(device.index));
#endif
    } else if (device.kind != "cpu") {
      return absl::InvalidArgumentError(
          absl::StrCat("model ", manifest.name, ": unknown device kind ", device.kind));
    }
    torch::NoGradGuard no_grad;
    state->module = torch::jit::load(manifest.model_path, state->device);
    state->module.eval();
    if (state->dtype == torch::kHalf) state->module.to(torch::kHalf);
  } catch (const std::exception& e) {  // c10::Error, std::bad_alloc, the interpreter's
    return FromTorchError(manifest.name, absl::StrCat("cannot load ", manifest.model_path), e);
  }
  spdlog::info("loaded model {} {} on {}{}", manifest.name, manifest.version, device.Key(),
               state->dtype == torch::kHalf ? " (float16)" : "");
  return std::unique_ptr<TorchModelRunner>(
      new TorchModelRunner(manifest, device, clock, std::move(state)));
}

absl::StatusOr<std::vector<Image>> TorchModelRunner::Upscale(const std::vector<Image>& batch,
                                                             const RunOptions& options) {
  const Manifest& m = manifest_;
  if (m.kind != ModelKind::kUpscale) {
    return absl::FailedPreconditionError(absl::StrCat("model ", m.name, " is kind \"",
                                                      ModelKindName(m.kind),
                                                      "\"; Upscale needs kind \"upscale\""));
  }
  if (m.seeded && !options.frame_seeds.empty() && options.frame_seeds.size() != batch.size()) {
    return absl::InvalidArgumentError(absl::StrCat("model ", m.name, ": ", batch.size(),
                                                   " frames but ", options.frame_seeds.size(),
                                                   " frame seeds"));
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    absl::Status ok = CheckImage(m, batch[i], absl::StrCat("frame ", i, " of the batch"));
    if (!ok.ok()) return ok;
  }
  if (batch.empty()) return std::vector<Image>();

  const int s = m.scale;
  const bool tiled = options.tiled && m.tile_size > 0;
  absl::MutexLock lock(&mu_);
  TorchState& st = *state_;
  try {
    c10::InferenceMode inference;
    StreamScope stream(st);

    // Per-frame accumulators on the CPU: sum(weight * tile) and sum(weight).
    std::vector<torch::Tensor> acc(batch.size()), wsum(batch.size());
    for (size_t f = 0; f < batch.size(); ++f) {
      acc[f] = torch::zeros({3, int64_t{batch[f].height} * s, int64_t{batch[f].width} * s});
      wsum[f] = torch::zeros({int64_t{batch[f].height} * s, int64_t{batch[f].width} * s});
    }

    // Runs `items` (all the same tile size) through the model batch_size at a time.
    auto run_items = [&](const std::vector<WorkItem>& items) -> absl::Status {
      for (size_t begin = 0; begin < items.size(); begin += m.batch_size) {
        const size_t end = std::min(items.size(), begin + static_cast<size_t>(m.batch_size));
        std::vector<torch::Tensor> inputs;
        for (size_t i = begin; i < end; ++i) {
          inputs.push_back(RegionView(batch[items[i].frame], items[i].rect));
        }
        const TileRect& r0 = items[begin].rect;
        torch::Tensor x = torch::stack(inputs).to(st.device, st.dtype);
        x = PadToMultiple(x, m.pad_multiple);
        absl::StatusOr<torch::Tensor> y = OutputTensor(m, st.module.forward({x}));
        if (!y.ok()) return y.status();
        const int64_t oh = int64_t{r0.height} * s, ow = int64_t{r0.width} * s;
        if (y->dim() != 4 || y->size(0) != x.size(0) || y->size(1) != 3 ||
            y->size(2) != x.size(2) * s || y->size(3) != x.size(3) * s) {
          return absl::InternalError(absl::StrCat(
              "model ", m.name, ": forward returned shape ", c10::str(y->sizes()), " for input ",
              c10::str(x.sizes()), ", expected [N,3,H*", s, ",W*", s, "]"));
        }
        torch::Tensor out = y->slice(2, 0, oh).slice(3, 0, ow).to(torch::kCPU, torch::kFloat32);
        for (size_t i = begin; i < end; ++i) {
          const WorkItem& item = items[i];
          const Image& img = batch[item.frame];
          const TileRect& r = item.rect;
          std::vector<float> wy =
              FeatherWeights(img.height, r.y, r.height, tiled ? m.tile_overlap : 0, s);
          std::vector<float> wx =
              FeatherWeights(img.width, r.x, r.width, tiled ? m.tile_overlap : 0, s);
          torch::Tensor w2 =
              torch::from_blob(wy.data(), {oh, 1}).mul(torch::from_blob(wx.data(), {1, ow}));
          const int64_t y0 = int64_t{r.y} * s, x0 = int64_t{r.x} * s;
          acc[item.frame]
              .slice(1, y0, y0 + oh)
              .slice(2, x0, x0 + ow)
              .add_(out[static_cast<int64_t>(i - begin)] * w2);
          wsum[item.frame].slice(0, y0, y0 + oh).slice(1, x0, x0 + ow).add_(w2);
        }
      }
      return absl::OkStatus();
    };

    // Groups the tiles of `frames` by tile size (so each forward gets a uniform batch).
    auto run_frames = [&](const std::vector<int>& frames) -> absl::Status {
      std::map<std::pair<int, int>, std::vector<WorkItem>> groups;
      for (int f : frames) {
        const Image& img = batch[f];
        std::vector<TileRect> tiles =
            tiled ? PlanTiles(img.width, img.height, m.tile_size, m.tile_overlap)
                  : std::vector<TileRect>{TileRect{0, 0, img.width, img.height}};
        for (const TileRect& t : tiles) groups[{t.width, t.height}].push_back({f, t});
      }
      for (const auto& [size, items] : groups) {
        absl::Status ok = run_items(items);
        if (!ok.ok()) return ok;
      }
      return absl::OkStatus();
    };

    if (m.seeded) {
      // One frame at a time, seeded right before it runs: its noise does not depend on
      // which other frames share the batch.
      absl::MutexLock seed_lock(&SeedMutex());
      for (size_t f = 0; f < batch.size(); ++f) {
        const int64_t seed = options.frame_seeds.empty()
                                 ? DeriveFrameSeed(options.seed, static_cast<int64_t>(f))
                                 : options.frame_seeds[f];
        torch::manual_seed(static_cast<uint64_t>(seed));
        absl::Status ok = run_frames({static_cast<int>(f)});
        if (!ok.ok()) return ok;
      }
    } else {
      std::vector<int> all(batch.size());
      for (size_t f = 0; f < batch.size(); ++f) all[f] = static_cast<int>(f);
      absl::Status ok = run_frames(all);
      if (!ok.ok()) return ok;
    }

    std::vector<Image> result;
    result.reserve(batch.size());
    for (size_t f = 0; f < batch.size(); ++f) {
      torch::Tensor out = (acc[f] / wsum[f].unsqueeze(0)).clamp(m.value_min, m.value_max);
      result.push_back(ToImage(out));
    }
    return result;
  } catch (const std::exception& e) {
    // c10::Error from ATen, std::bad_alloc, and the std::runtime_error the TorchScript
    // interpreter makes of anything thrown inside forward(): none may escape (the worker's
    // task thread would call std::terminate).
    return FromTorchError(m.name, "upscale failed", e);
  }
}

absl::StatusOr<Image> TorchModelRunner::Interpolate(const Image& a, const Image& b, float t,
                                                    const RunOptions& options) {
  const Manifest& m = manifest_;
  if (m.kind != ModelKind::kInterpolate) {
    return absl::FailedPreconditionError(
        absl::StrCat("model ", m.name, " is kind \"", ModelKindName(m.kind),
                     "\"; Interpolate needs kind \"interpolate\""));
  }
  absl::Status ok = CheckImage(m, a, "first frame");
  if (ok.ok()) ok = CheckImage(m, b, "second frame");
  if (!ok.ok()) return ok;
  if (a.width != b.width || a.height != b.height) {
    return absl::InvalidArgumentError(absl::StrCat("model ", m.name, ": frames differ in size (",
                                                   a.width, "x", a.height, " vs ", b.width, "x",
                                                   b.height, ")"));
  }
  if (!(t >= 0.0f && t <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model ", m.name, ": timestep ", t, " is outside [0, 1]"));
  }
  absl::MutexLock lock(&mu_);
  TorchState& st = *state_;
  try {
    c10::InferenceMode inference;
    StreamScope stream(st);
    const TileRect whole{0, 0, a.width, a.height};
    torch::Tensor x0 =
        PadToMultiple(RegionView(a, whole).unsqueeze(0).to(st.device, st.dtype), m.pad_multiple);
    torch::Tensor x1 =
        PadToMultiple(RegionView(b, whole).unsqueeze(0).to(st.device, st.dtype), m.pad_multiple);
    torch::Tensor ts =
        torch::full({1, 1, 1, 1}, t, torch::TensorOptions().dtype(st.dtype).device(st.device));
    std::optional<absl::MutexLock> seed_lock;
    if (m.seeded) {
      seed_lock.emplace(&SeedMutex());
      torch::manual_seed(static_cast<uint64_t>(
          options.frame_seeds.empty() ? options.seed : options.frame_seeds.front()));
    }
    absl::StatusOr<torch::Tensor> y = OutputTensor(m, st.module.forward({x0, x1, ts}));
    if (!y.ok()) return y.status();
    if (y->dim() != 4 || y->size(0) != 1 || y->size(1) != 3 || y->size(2) < a.height ||
        y->size(3) < a.width) {
      return absl::InternalError(absl::StrCat("model ", m.name, ": forward returned shape ",
                                              c10::str(y->sizes()), " for input ",
                                              c10::str(x0.sizes()), ", expected [1,3,H,W]"));
    }
    torch::Tensor out = (*y)[0]
                            .slice(1, 0, a.height)
                            .slice(2, 0, a.width)
                            .to(torch::kCPU, torch::kFloat32)
                            .clamp(m.value_min, m.value_max);
    return ToImage(out);
  } catch (const std::exception& e) {
    // c10::Error from ATen, std::bad_alloc, and the std::runtime_error the TorchScript
    // interpreter makes of anything thrown inside forward(): none may escape (the worker's
    // task thread would call std::terminate).
    return FromTorchError(m.name, "interpolate failed", e);
  }
}

absl::StatusOr<double> TorchModelRunner::BenchForward(int iterations, int batch, int h, int w) {
  const Manifest& m = manifest_;
  if (iterations <= 0 || batch <= 0 || h <= 0 || w <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model ", m.name, ": BenchForward needs positive sizes"));
  }
  absl::MutexLock lock(&mu_);
  TorchState& st = *state_;
  try {
    c10::InferenceMode inference;
    StreamScope stream(st);
    auto opts = torch::TensorOptions().dtype(st.dtype).device(st.device);
    torch::Tensor x =
        torch::rand({batch, 3, h, w}, opts) * (m.value_max - m.value_min) + m.value_min;
    std::vector<c10::IValue> inputs;
    if (m.kind == ModelKind::kInterpolate) {
      inputs = {x, torch::rand({batch, 3, h, w}, opts), torch::full({batch, 1, 1, 1}, 0.5, opts)};
    } else {
      inputs = {PadToMultiple(x, m.pad_multiple)};
    }
    auto sync = [&] {
      if (st.device.is_cuda()) torch::cuda::synchronize(st.device.index());
    };
    st.module.forward(inputs);  // warm-up: the TorchScript profiling executor optimises here
    sync();
    const absl::Time start = clock_.Now();
    for (int i = 0; i < iterations; ++i) st.module.forward(inputs);
    sync();
    return absl::ToDoubleSeconds(clock_.Now() - start);
  } catch (const std::exception& e) {
    // c10::Error from ATen, std::bad_alloc, and the std::runtime_error the TorchScript
    // interpreter makes of anything thrown inside forward(): none may escape (the worker's
    // task thread would call std::terminate).
    return FromTorchError(m.name, "benchmark forward failed", e);
  }
}

}  // namespace genfarm::worker
