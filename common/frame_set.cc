#include "common/frame_set.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace genfarm {
namespace {

// One token of the text: frames first..last every `step`.
struct Range {
  int64_t first = 0;
  int64_t last = 0;
  int64_t step = 1;
  uint64_t count = 0;
};

// The set's text for error messages, shortened so a huge list stays readable.
std::string Quoted(absl::string_view text) {
  constexpr size_t kMaxShown = 60;
  if (text.size() <= kMaxShown) return absl::StrCat("'", text, "'");
  return absl::StrCat("'", text.substr(0, kMaxShown - 3), "...'");
}

// Consumes an optionally signed decimal integer at the front of `*s`. Returns false
// if there are no digits. Sets `*too_long` when the number has more digits than any
// accepted frame (so it is never converted with overflow).
bool ConsumeInt(absl::string_view* s, int64_t* value, bool* too_long) {
  size_t i = 0;
  bool negative = false;
  if (i < s->size() && (*s)[i] == '-') {
    negative = true;
    ++i;
  }
  const size_t digits_begin = i;
  while (i < s->size() && absl::ascii_isdigit(static_cast<unsigned char>((*s)[i]))) ++i;
  const size_t digits = i - digits_begin;
  if (digits == 0) return false;
  *too_long = digits > 15;
  int64_t v = 0;
  if (!*too_long) {
    for (size_t k = digits_begin; k < i; ++k) v = v * 10 + ((*s)[k] - '0');
  }
  *value = negative ? -v : v;
  s->remove_prefix(i);
  return true;
}

absl::StatusOr<Range> ParseToken(absl::string_view text, absl::string_view token) {
  auto error = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame set ", Quoted(text), ": token '", token, "': ", why));
  };
  constexpr absl::string_view kExpected =
      "expected a frame (1001), a range (1001-1100) or a stepped range (1001-1100x2)";
  auto check_frame = [&](int64_t frame, bool too_long) -> absl::Status {
    if (too_long || frame > kMaxAbsFrame || frame < -kMaxAbsFrame) {
      return error(
          absl::StrCat("frame number out of range (at most ", kMaxAbsFrame, " in magnitude)"));
    }
    return absl::OkStatus();
  };

  absl::string_view rest = token;
  Range range;
  bool too_long = false;
  if (!ConsumeInt(&rest, &range.first, &too_long)) return error(kExpected);
  if (absl::Status s = check_frame(range.first, too_long); !s.ok()) return s;
  range.last = range.first;
  if (rest.empty()) {
    range.count = 1;
    return range;
  }
  if (rest.front() != '-') return error(kExpected);
  rest.remove_prefix(1);
  if (!ConsumeInt(&rest, &range.last, &too_long)) return error(kExpected);
  if (absl::Status s = check_frame(range.last, too_long); !s.ok()) return s;
  if (!rest.empty()) {
    if (rest.front() != 'x') return error(kExpected);
    rest.remove_prefix(1);
    if (!ConsumeInt(&rest, &range.step, &too_long) || !rest.empty()) {
      return error("step is not an integer (write a-bxN, e.g. 1001-1100x2)");
    }
    if (too_long || range.step > 2 * kMaxAbsFrame) return error("step is out of range");
    if (range.step < 1) return error(absl::StrCat("step must be >= 1, got ", range.step));
  }
  if (range.last < range.first) {
    return error(absl::StrCat("range ", range.first, "-", range.last,
                              " is reversed (write the smaller frame first)"));
  }
  // |first|, |last| <= kMaxAbsFrame, so the difference cannot overflow.
  range.count = static_cast<uint64_t>(range.last - range.first) / range.step + 1;
  return range;
}

void AppendFrames(const Range& r, std::vector<int64_t>* out) {
  for (int64_t f = r.first; f <= r.last; f += r.step) out->push_back(f);
}

absl::Status TooManyFrames(absl::string_view text, uint64_t count, int64_t max_frames) {
  return absl::InvalidArgumentError(absl::StrCat("frame set ", Quoted(text), " has ", count,
                                                 " frames, more than the limit of ", max_frames));
}

}  // namespace

absl::StatusOr<FrameSet> FrameSet::Parse(std::string_view text_in, int64_t max_frames) {
  const absl::string_view text(text_in.data(), text_in.size());
  if (absl::StripAsciiWhitespace(text).empty()) {
    return absl::InvalidArgumentError("empty frame set");
  }
  std::vector<Range> ranges;
  int index = 0;
  for (absl::string_view raw : absl::StrSplit(text, ',')) {
    ++index;
    absl::string_view token = absl::StripAsciiWhitespace(raw);
    if (token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("frame set ", Quoted(text), ": token ", index, " is empty (stray comma?)"));
    }
    absl::StatusOr<Range> range = ParseToken(text, token);
    if (!range.ok()) return range.status();
    ranges.push_back(*range);
  }

  // Count before allocating. Duplicates make the sum an upper bound only.
  const uint64_t limit = max_frames < 0 ? 0 : static_cast<uint64_t>(max_frames);
  uint64_t upper = 0;
  bool all_unit_step = true;
  for (const Range& r : ranges) {
    upper = r.count > std::numeric_limits<uint64_t>::max() - upper
                ? std::numeric_limits<uint64_t>::max()
                : upper + r.count;
    all_unit_step = all_unit_step && (r.step == 1 || r.count == 1);
  }

  // Tokens written in ascending order without overlap (the usual `1001-1100`, or
  // `1,5,10-20`) already give a sorted set.
  bool ascending = true;
  for (size_t i = 1; i < ranges.size() && ascending; ++i) {
    ascending = ranges[i].first > ranges[i - 1].last;
  }
  std::vector<int64_t> frames;
  if (upper <= limit && ascending) {
    frames.reserve(upper);
    for (const Range& r : ranges) AppendFrames(r, &frames);
    return FrameSet(std::move(frames));
  }

  if (all_unit_step) {
    // Plain ranges out of order or overlapping (`1-100000, 1`): merge the intervals for
    // the exact count, never sorting frames (in the instrumented fuzz build that sort made
    // one such spec take 800 ms).
    std::sort(ranges.begin(), ranges.end(),
              [](const Range& a, const Range& b) { return a.first < b.first; });
    std::vector<Range> merged;
    for (const Range& r : ranges) {
      if (!merged.empty() && r.first <= merged.back().last + 1) {
        merged.back().last = std::max(merged.back().last, r.last);
      } else {
        merged.push_back(r);
      }
    }
    uint64_t count = 0;
    for (const Range& r : merged) count += static_cast<uint64_t>(r.last - r.first) + 1;
    if (count > limit) return TooManyFrames(text, count, max_frames);
    frames.reserve(count);
    for (const Range& r : merged) AppendFrames({r.first, r.last, 1, 0}, &frames);
    return FrameSet(std::move(frames));
  }

  if (upper <= limit) {  // stepped ranges out of order: few enough to sort
    frames.reserve(upper);
    for (const Range& r : ranges) AppendFrames(r, &frames);
    std::sort(frames.begin(), frames.end());
    frames.erase(std::unique(frames.begin(), frames.end()), frames.end());
    return FrameSet(std::move(frames));
  }

  // Stepped ranges that overlap heavily: merge token by token, never holding more
  // than twice the limit.
  for (const Range& r : ranges) {
    if (r.count > limit) return TooManyFrames(text, r.count, max_frames);
    std::vector<int64_t> token_frames;
    token_frames.reserve(r.count);
    AppendFrames(r, &token_frames);
    std::vector<int64_t> merged;
    merged.reserve(frames.size() + token_frames.size());
    std::set_union(frames.begin(), frames.end(), token_frames.begin(), token_frames.end(),
                   std::back_inserter(merged));
    frames = std::move(merged);
    if (frames.size() > limit) {
      return absl::InvalidArgumentError(absl::StrCat(
          "frame set ", Quoted(text), " has more frames than the limit of ", max_frames));
    }
  }
  return FrameSet(std::move(frames));
}

FrameSet FrameSet::FromFrames(std::vector<int64_t> frames) {
  std::sort(frames.begin(), frames.end());
  frames.erase(std::unique(frames.begin(), frames.end()), frames.end());
  return FrameSet(std::move(frames));
}

bool FrameSet::Contains(int64_t frame) const {
  return std::binary_search(frames_.begin(), frames_.end(), frame);
}

std::string FrameSet::ToString() const { return Format(frames_); }

std::string FrameSet::Format(absl::Span<const int64_t> frames) {
  std::string out;
  size_t i = 0;
  const size_t n = frames.size();
  while (i < n) {
    if (!out.empty()) out.push_back(',');
    // Longest run with a constant positive step from i. Differences in unsigned
    // arithmetic, so extreme values (a stored list is any int64) cannot overflow.
    size_t j = i;
    uint64_t step = 0;
    if (i + 1 < n && frames[i + 1] > frames[i]) {
      step = static_cast<uint64_t>(frames[i + 1]) - static_cast<uint64_t>(frames[i]);
      j = i + 1;
      while (j + 1 < n && frames[j + 1] > frames[j] &&
             static_cast<uint64_t>(frames[j + 1]) - static_cast<uint64_t>(frames[j]) == step) {
        ++j;
      }
    }
    // A run of two with a step is shorter written as "a,b" (and "1,5" never reads "1-5x4").
    if (j == i || (j == i + 1 && step != 1)) {
      absl::StrAppend(&out, frames[i]);
      ++i;
      continue;
    }
    absl::StrAppend(&out, frames[i], "-", frames[j]);
    if (step != 1) absl::StrAppend(&out, "x", step);
    i = j + 1;
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<int64_t>>> FrameSet::Chunk(int chunk_size) const {
  if (chunk_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("chunk size must be >= 1, got ", chunk_size));
  }
  std::vector<std::vector<int64_t>> chunks;
  chunks.reserve((frames_.size() + chunk_size - 1) / chunk_size);
  for (size_t i = 0; i < frames_.size(); i += chunk_size) {
    const size_t end = std::min(frames_.size(), i + static_cast<size_t>(chunk_size));
    chunks.emplace_back(frames_.begin() + i, frames_.begin() + end);
  }
  return chunks;
}

}  // namespace genfarm
