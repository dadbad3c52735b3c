#include "scheduler/sim/workload.h"

#include <algorithm>
#include <numeric>

#include "absl/random/distributions.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace genfarm::sim {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

}  // namespace

std::vector<SimModel> DefaultModels() {
  return {
      // name, memory, load, per frame (device speed 1.0: an RTX 4090 / A5000 class card)
      {"upres-2x", 6 * kGiB, 20'000, 1'500},   // Real-ESRGAN-class 2x, 2K -> 4K
      {"upres-4x", 10 * kGiB, 30'000, 3'000},  // 4x upscale, 1K -> 4K
      {"retime", 4 * kGiB, 10'000, 700},       // RIFE-class frame interpolation
      {"depth", 8 * kGiB, 25'000, 1'000},      // monocular depth, ViT-L
      {"matte", 14 * kGiB, 40'000, 2'000},     // video matting / segmentation
      {"genfill", 40 * kGiB, 120'000, 9'000},  // video diffusion (clean-up, relight)
  };
}

double SlotThroughput(int32_t slots) { return slots <= 1 ? 1.0 : 1.0 + 0.2 * (slots - 1); }

Workload GenerateWorkload(const WorkloadOptions& options, absl::BitGenRef gen) {
  Workload w;
  w.models = DefaultModels();
  const int n24 = options.devices * 3 / 8;
  const int n48 = options.devices * 3 / 8;
  const int n80 = options.devices - n24 - n48;
  auto add = [&](int n, int64_t gib, double speed, int32_t slots) {
    for (int i = 0; i < n; ++i) {
      w.devices.push_back(
          SimDevice{absl::StrFormat("gpu-%dg-%02d", gib, i), gib * kGiB, speed, slots});
    }
  };
  add(n24, 24, 1.0, 1);  // RTX 4090 / A5000
  add(n48, 48, 1.2, 1);  // L40S / A6000
  add(n80, 80, 2.0, 1);  // A100 / H100
  for (int p = 0; p < options.projects; ++p) w.projects.push_back(absl::StrFormat("show-%02d", p));

  // Each project leans on three models (its pipeline): 60% / 30% / 10% of its jobs.
  std::vector<std::vector<int>> mix(options.projects);
  for (int p = 0; p < options.projects; ++p) {
    std::vector<int> order(w.models.size());
    std::iota(order.begin(), order.end(), 0);
    for (size_t i = order.size() - 1; i > 0; --i) {
      std::swap(order[i], order[absl::Uniform<size_t>(gen, 0, i + 1)]);
    }
    mix[p] = {order[0], order[1], order[2]};
  }
  // Every project submits the same number of jobs (up to one), in a shuffled order.
  std::vector<int> owner(options.jobs);
  for (int j = 0; j < options.jobs; ++j) owner[j] = j % std::max(1, options.projects);
  for (size_t i = owner.size(); i > 1; --i)
    std::swap(owner[i - 1], owner[absl::Uniform<size_t>(gen, 0, i)]);
  std::vector<int64_t> arrivals(options.jobs);
  for (int64_t& a : arrivals)
    a = absl::Uniform<int64_t>(gen, 0, std::max<int64_t>(1, options.arrival_window_ms));
  std::sort(arrivals.begin(), arrivals.end());
  arrivals[0] = 0;

  for (int j = 0; j < options.jobs; ++j) {
    const int p = owner[j];
    const double r = absl::Uniform<double>(gen, 0, 1);
    const SimModel& model = w.models[mix[p][r < 0.6 ? 0 : (r < 0.9 ? 1 : 2)]];
    const int frames =
        absl::Uniform<int>(absl::IntervalClosed, gen, options.min_frames, options.max_frames);
    SimJob job;
    job.arrival_ms = arrivals[j];
    v1::JobSpec& spec = job.spec;
    spec.set_name(absl::StrFormat("%s-sh%03d-%s", w.projects[p], j, model.name));
    spec.set_project(w.projects[p]);
    spec.set_shot(absl::StrFormat("sh%03d", j));
    spec.set_priority(50);
    spec.set_tier(v1::TIER_BATCH);
    v1::StageSpec* stage = spec.add_stages();
    stage->set_name(model.name);
    stage->set_kind(v1::STAGE_KIND_MODEL);
    stage->set_model(model.name);
    stage->set_input(absl::StrFormat("/shots/sh%03d/plate.####.exr", j));
    stage->set_output(absl::StrFormat("/shots/sh%03d/%s.####.exr", j, model.name));
    stage->set_frames(absl::StrCat(1001, "-", 1000 + frames));
    stage->set_chunk(options.chunk);
    stage->set_retries(2);
    stage->set_gpus(1);
    w.jobs.push_back(std::move(job));
  }
  return w;
}

}  // namespace genfarm::sim
