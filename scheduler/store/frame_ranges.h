// Compact text form of a task's frame list for the `tasks.frames` column: "1001-1008",
// "1001-1099x2", "1,5,10-20". A task is a chunk of a frame set, so its frames are nearly always
// one arithmetic run and encode in a few bytes, where a packed int64 blob would take 8 bytes a
// frame; the text also stays readable with the sqlite3 shell when someone debugs a farm.
//
// The text is FrameSet::Format's (common/frame_set.h), the one frame-list formatter, so a row
// reads like the CLI and the dashboard print the task. The decoder here stays the store's
// own on purpose: it is the exact inverse (order and repeats kept, no whitespace, a bound per
// item against corrupt rows), a narrower contract than FrameSet::Parse, which sorts, merges
// and applies the user-facing limits.
//
//   std::string text = EncodeFrameRanges({1001, 1002, 1003, 1005});  // "1001-1003,1005"
//   GENFARM_ASSIGN_OR_RETURN(std::vector<int64_t> frames, DecodeFrameRanges(text));
//
// Grammar: items separated by ','; an item is "A", "A-B" (step 1, A < B) or "A-BxS" (S > 1,
// B - A divisible by S). Numbers may be negative ("-5--1"). "" is the empty list.
#ifndef GENFARM_SCHEDULER_STORE_FRAME_RANGES_H_
#define GENFARM_SCHEDULER_STORE_FRAME_RANGES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace genfarm::scheduler {

// Exact, order-preserving encoding of `frames`.
std::string EncodeFrameRanges(const std::vector<int64_t>& frames);

// Inverse of EncodeFrameRanges. InvalidArgument on malformed text.
absl::StatusOr<std::vector<int64_t>> DecodeFrameRanges(absl::string_view text);

// Decodes into `out` (cleared first), so a caller decoding many rows can reuse nothing but
// avoid a temporary; returns false on malformed text.
bool DecodeFrameRangesInto(absl::string_view text, std::vector<int64_t>* out);

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_STORE_FRAME_RANGES_H_
