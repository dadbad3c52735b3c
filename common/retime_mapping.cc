#include "common/retime_mapping.h"

#include <algorithm>
#include <limits>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace genfarm {
namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// a * b for a >= 0, b >= 1, saturating at INT64_MAX.
int64_t SaturatingMul(int64_t a, int64_t b) { return a > kInt64Max / b ? kInt64Max : a * b; }

}  // namespace

std::optional<RetimeSpan> RetimeSpanOf(const std::vector<int64_t>& stage_frames, int64_t f,
                                       int factor) {
  auto it = std::lower_bound(stage_frames.begin(), stage_frames.end(), f);
  if (it == stage_frames.end() || *it != f) return std::nullopt;
  const int64_t first = stage_frames.front();
  RetimeSpan span;
  span.first_output = (f - first) * factor + first;
  if (std::next(it) == stage_frames.end()) {  // the stage's last frame: its copy only
    span.count = 1;
    span.next = f;
  } else {
    span.next = *std::next(it);
    span.count = (span.next - f) * factor;
  }
  return span;
}

int64_t RetimeOutputCount(const std::vector<int64_t>& stage_frames, int factor) {
  if (stage_frames.empty()) return 0;
  const int64_t span = SaturatingMul(stage_frames.back() - stage_frames.front(), factor);
  return span == kInt64Max ? kInt64Max : span + 1;
}

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

  std::vector<RetimeOutput> outputs;
  for (int64_t f : task_frames) {
    const std::optional<RetimeSpan> span = RetimeSpanOf(stage_frames, f, factor);
    if (!span) {
      return absl::InvalidArgumentError(
          absl::StrCat("frame ", f, ": not in the retime stage's frame set"));
    }
    outputs.push_back({span->first_output, f, f, 0.f});
    for (int64_t k = 1; k < span->count; ++k) {
      outputs.push_back(
          {span->first_output + k, f, span->next, float(double(k) / double(span->count))});
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

}  // namespace genfarm
