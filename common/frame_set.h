// A set of frame numbers in the common VFX syntax, parsed once and checked for size.
//
//   absl::StatusOr<FrameSet> set = FrameSet::Parse("1001-1010, 1020-1030x2");
//   if (!set.ok()) return set.status();  // "frame set '...': token '1020-x': ..."
//   set->size();                          // 16
//   set->ToString();                      // "1001-1010,1020-1030x2"
//   GENFARM_ASSIGN_OR_RETURN(auto chunks, set->Chunk(8));  // tasks of up to 8 frames
//
// Syntax: comma-separated tokens, whitespace allowed around each token.
//   `1001`          a single frame
//   `1001-1100`     an inclusive range
//   `1001-1100x2`   every 2nd frame of the range, starting at 1001
//   `-5--1`         negative frames: each number may carry a leading '-'
// The result is sorted and de-duplicated. Frame numbers are limited to
// |frame| <= kMaxAbsFrame so counts and formatting never overflow.
//
// Parse counts frames before materializing them: a typo like `1-10000000` is refused
// without allocating ten million frames.
//
// A FrameSet is an immutable value; copies are independent. Thread-compatible.
#ifndef GENFARM_COMMON_FRAME_SET_H_
#define GENFARM_COMMON_FRAME_SET_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace genfarm {

// Default limit on the frames in one set (one stage of a job).
inline constexpr int64_t kMaxFramesPerStage = 1'000'000;
// Largest accepted |frame number| (twelve digits).
inline constexpr int64_t kMaxAbsFrame = 999'999'999'999;

class FrameSet {
 public:
  // The empty set. Parse never returns one; FromFrames may.
  FrameSet() = default;

  // Parses `text` (syntax above). Errors are InvalidArgument and name the offending
  // token and why. Sets with more than `max_frames` distinct frames are refused.
  static absl::StatusOr<FrameSet> Parse(std::string_view text,
                                        int64_t max_frames = kMaxFramesPerStage);

  // A set holding `frames` (any order, duplicates allowed), e.g. one task's frames.
  static FrameSet FromFrames(std::vector<int64_t> frames);

  // Sorted ascending, no duplicates.
  const std::vector<int64_t>& frames() const { return frames_; }
  size_t size() const { return frames_.size(); }
  bool empty() const { return frames_.empty(); }
  bool Contains(int64_t frame) const;
  // Smallest and largest frame. Require !empty().
  int64_t first() const { return frames_.front(); }
  int64_t last() const { return frames_.back(); }

  // Compact canonical form: runs of consecutive frames become `a-b`, runs of three or
  // more frames with a constant step become `a-bxN`. Parse(ToString()) gives back the
  // same set. The empty set prints as "". Format(frames()).
  std::string ToString() const;

  // The one frame-list-to-text function: every frame list a user, a log, the dashboard or
  // the store sees goes through it. Writes `frames` in the given order, each maximal
  // ascending run with a constant step as above, anything else frame by frame, so any
  // sequence (unsorted, with repeats, any int64) is written exactly and a sorted list
  // without repeats gives ToString()'s form:
  //   Format({1001, 1002, 1003, 1005})  // "1001-1003,1005"
  //   Format({1, 3, 5, 7})              // "1-7x2"
  //   Format({5, 4, 4})                 // "5,4,4"
  static std::string Format(absl::Span<const int64_t> frames);

  // Splits the set into consecutive members of up to `chunk_size` frames each, in
  // order; only the last chunk may be shorter. Every frame lands in exactly one chunk.
  // `chunk_size` < 1 is InvalidArgument.
  absl::StatusOr<std::vector<std::vector<int64_t>>> Chunk(int chunk_size) const;

  friend bool operator==(const FrameSet& a, const FrameSet& b) { return a.frames_ == b.frames_; }
  friend bool operator!=(const FrameSet& a, const FrameSet& b) { return !(a == b); }

 private:
  explicit FrameSet(std::vector<int64_t> frames) : frames_(std::move(frames)) {}

  std::vector<int64_t> frames_;
};

}  // namespace genfarm

#endif  // GENFARM_COMMON_FRAME_SET_H_
