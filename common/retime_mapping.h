// The retime (frame interpolation) frame mapping: which output frames an input frame of a
// retime stage writes, and from what. One pure function pair shared by the scheduler's
// planner (which output frame each task produces, for downstream dependencies) and the
// worker's frame pipeline (what to read and interpolate), so the two can never disagree.
//
//   // Stage frames 1..10, factor 2, this task owns input frames 4..6:
//   GENFARM_ASSIGN_OR_RETURN(std::vector<RetimeOutput> outs,
//                            MapRetime({1, 2, ..., 10}, {4, 5, 6}, 2));
//   // -> 7 (copy of 4), 8 (4->5 at t=0.5), 9 (copy of 5), 10, 11 (copy of 6), 12 (6->7 at 0.5)
//
//   // The planner, frame by frame, without materializing RetimeOutput records:
//   std::optional<RetimeSpan> span = RetimeSpanOf(stage_frames, 4, 2);  // {7, 2, 5}
//
// MAPPING. `stage_frames` is the stage's whole input frame set, `task_frames` the input
// frames this task owns, F the factor (RetimeParams, stage_params.h). Time is preserved:
// output frame o shows input time first + (o - first) / F, with first = stage_frames[0].
// For an owned frame f with next stage frame n:
//   outputs (f - first) * F + first + k  for k = 0 .. (n - f) * F - 1
//   k = 0 is a copy of f; k > 0 is Interpolate(f, n, t = k / ((n - f) * F)).
// On a contiguous frame set that is exactly F outputs per input with t = k / F; on stepped
// or sparse sets ("on twos") the gap is filled so the output sequence stays contiguous.
// The stage's last frame writes only k = 0. n is a temporal neighbour the task reads but
// does not own. Since each output belongs to exactly one owned input frame, any split of
// the stage frames into tasks writes every output exactly once, and the whole stage
// writes RetimeOutputCount = (last - first) * F + 1 frames, which is what the spec
// validator bounds before any planning.
//
// Pure functions, thread-safe.
#ifndef GENFARM_COMMON_RETIME_MAPPING_H_
#define GENFARM_COMMON_RETIME_MAPPING_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"

namespace genfarm {

struct RetimeOutput {
  int64_t output_frame = 0;
  int64_t from = 0;  // input frame shown at t = 0
  int64_t to = 0;    // input frame shown at t = 1 (== from for a copy)
  float t = 0.f;     // 0 for a copy
  bool is_copy() const { return from == to; }

  friend bool operator==(const RetimeOutput& a, const RetimeOutput& b) {
    return a.output_frame == b.output_frame && a.from == b.from && a.to == b.to && a.t == b.t;
  }
};

// The outputs of one input frame f: first_output .. first_output + count - 1, where
// first_output is the copy of f and the rest interpolate from f towards `next`.
struct RetimeSpan {
  int64_t first_output = 0;
  int64_t count = 0;
  int64_t next = 0;  // the following stage frame; == f for the stage's last frame

  friend bool operator==(const RetimeSpan& a, const RetimeSpan& b) {
    return a.first_output == b.first_output && a.count == b.count && a.next == b.next;
  }
};

// The span input frame `f` writes. `stage_frames` must be sorted and free of duplicates
// (a FrameSet's frames); nullopt when f is not one of them. Requires factor >= 1.
std::optional<RetimeSpan> RetimeSpanOf(const std::vector<int64_t>& stage_frames, int64_t f,
                                       int factor);

// Frames a whole stage writes: (last - first) * factor + 1, or 0 for no frames. Saturates at
// INT64_MAX rather than overflowing, so a bound check on it is always meaningful.
int64_t RetimeOutputCount(const std::vector<int64_t>& stage_frames, int factor);

// Outputs in increasing output-frame order. InvalidArgument for factor < 1, an empty or
// duplicated stage set, or a task frame outside the stage set.
absl::StatusOr<std::vector<RetimeOutput>> MapRetime(std::vector<int64_t> stage_frames,
                                                    std::vector<int64_t> task_frames, int factor);

// Input frames the outputs need, each once, in order of first use (the read order).
std::vector<int64_t> RetimeInputFrames(const std::vector<RetimeOutput>& outputs);

}  // namespace genfarm

#endif  // GENFARM_COMMON_RETIME_MAPPING_H_
