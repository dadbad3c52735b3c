#include "scheduler/store/frame_ranges.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "common/frame_set.h"

namespace genfarm::scheduler {
namespace {

// Upper bound on frames one item may expand to, so corrupt text cannot allocate without bound.
constexpr int64_t kMaxItemFrames = int64_t{1} << 24;

// Parses an optionally negative decimal at text[*pos]; advances *pos.
bool ParseInt(absl::string_view text, size_t* pos, int64_t* value) {
  size_t i = *pos;
  bool negative = false;
  if (i < text.size() && text[i] == '-') {
    negative = true;
    ++i;
  }
  size_t digits_start = i;
  uint64_t magnitude = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (magnitude > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
    magnitude = magnitude * 10 + digit;
    ++i;
  }
  if (i == digits_start) return false;
  constexpr uint64_t kMaxPositive = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (negative) {
    if (magnitude > kMaxPositive + 1) return false;
    *value = magnitude == kMaxPositive + 1 ? std::numeric_limits<int64_t>::min()
                                           : -static_cast<int64_t>(magnitude);
  } else {
    if (magnitude > kMaxPositive) return false;
    *value = static_cast<int64_t>(magnitude);
  }
  *pos = i;
  return true;
}

}  // namespace

std::string EncodeFrameRanges(const std::vector<int64_t>& frames) {
  return FrameSet::Format(frames);
}

bool DecodeFrameRangesInto(absl::string_view text, std::vector<int64_t>* out) {
  out->clear();
  size_t pos = 0;
  while (pos < text.size()) {
    int64_t first = 0;
    if (!ParseInt(text, &pos, &first)) return false;
    if (pos < text.size() && text[pos] == '-') {
      ++pos;
      int64_t last = 0;
      if (!ParseInt(text, &pos, &last) || last <= first) return false;
      int64_t step = 1;
      if (pos < text.size() && text[pos] == 'x') {
        ++pos;
        if (!ParseInt(text, &pos, &step) || step < 2) return false;
      }
      uint64_t span = static_cast<uint64_t>(last) - static_cast<uint64_t>(first);
      if (span % static_cast<uint64_t>(step) != 0) return false;
      uint64_t count = span / static_cast<uint64_t>(step) + 1;
      if (count > static_cast<uint64_t>(kMaxItemFrames)) return false;
      for (uint64_t k = 0; k < count; ++k) {
        out->push_back(
            static_cast<int64_t>(static_cast<uint64_t>(first) + k * static_cast<uint64_t>(step)));
      }
    } else {
      out->push_back(first);
    }
    if (pos == text.size()) break;
    if (text[pos] != ',' || pos + 1 == text.size()) return false;
    ++pos;
  }
  return true;
}

absl::StatusOr<std::vector<int64_t>> DecodeFrameRanges(absl::string_view text) {
  std::vector<int64_t> frames;
  if (!DecodeFrameRangesInto(text, &frames)) {
    return absl::InvalidArgumentError(absl::StrCat("malformed frame list \"", text, "\""));
  }
  return frames;
}

}  // namespace genfarm::scheduler
