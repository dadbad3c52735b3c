#include "worker/pipeline/retime_mapping.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace genfarm::worker {

absl::StatusOr<std::vector<RetimeOutput>> MapRetime(std::vector<int64_t> stage_frames,
                                                    std::vector<int64_t> task_frames, int factor) {
  if (factor < 1) {
    return absl::InvalidArgumentError(absl::StrCat("retime factor ", factor, " must be >= 1"));
  }
  if (stage_frames.empty()) return absl::InvalidArgumentError("retime stage has no frames");
  std::sort(stage_frames.begin(), stage_frames.end());
  if (std::adjacent_find(stage_frames.begin(), stage_frames.end()) != stage_frames.end()) {
    return absl::InvalidArgumentError("retime stage frame set has duplicate frames");
  }
  std::sort(task_frames.begin(), task_frames.end());
  task_frames.erase(std::unique(task_frames.begin(), task_frames.end()), task_frames.end());

  const int64_t first = stage_frames.front();
  std::vector<RetimeOutput> outputs;
  for (int64_t f : task_frames) {
    auto it = std::lower_bound(stage_frames.begin(), stage_frames.end(), f);
    if (it == stage_frames.end() || *it != f) {
      return absl::InvalidArgumentError(
          absl::StrCat("frame ", f, ": not in the retime stage's frame set"));
    }
    const int64_t base = (f - first) * factor + first;
    outputs.push_back({base, f, f, 0.f});
    if (std::next(it) == stage_frames.end()) continue;  // the stage's last frame
    const int64_t next = *std::next(it);
    const int64_t span = (next - f) * factor;
    for (int64_t k = 1; k < span; ++k) {
      outputs.push_back({base + k, f, next, float(double(k) / double(span))});
    }
  }
  return outputs;
}

std::vector<int64_t> RetimeInputFrames(const std::vector<RetimeOutput>& outputs) {
  std::vector<int64_t> frames;
  absl::flat_hash_set<int64_t> seen;
  for (const RetimeOutput& o : outputs) {
    for (int64_t f : {o.from, o.to}) {
      if (seen.insert(f).second) frames.push_back(f);
    }
  }
  return frames;
}

}  // namespace genfarm::worker
