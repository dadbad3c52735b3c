// libFuzzer target for FramePattern (common/frame_pattern.h). The input is a pattern,
// optionally followed by a NUL byte and a path to match. Parsed patterns must round-trip
// every frame through Format() and Match(), and Match() must only accept what Format()
// writes. Run with tests/fuzz/run.sh.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/frame_pattern.h"
#include "common/frame_set.h"
#include "tests/fuzz/fuzz_check.h"

using genfarm::FramePattern;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view pattern_text = input.substr(0, nul);
  const std::string_view path = nul == std::string_view::npos ? "" : input.substr(nul + 1);

  absl::StatusOr<FramePattern> pattern = FramePattern::Parse(pattern_text);
  if (!pattern.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(pattern.status()));
    return 0;
  }
  FUZZ_CHECK(pattern->pattern() == pattern_text);
  FUZZ_CHECK(pattern->padding() >= 0 && pattern->padding() <= FramePattern::kMaxPadding);
  FUZZ_CHECK(pattern->Glob() == pattern->prefix() + "*" + pattern->suffix());

  // Every frame a FrameSet can hold names exactly one file and reads back.
  int64_t from_data = 0;
  std::memcpy(&from_data, data, std::min(size, sizeof(from_data)));
  from_data %= genfarm::kMaxAbsFrame + 1;
  for (int64_t frame : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{1001}, int64_t{-5},
                        genfarm::kMaxAbsFrame, -genfarm::kMaxAbsFrame, from_data}) {
    const std::string name = pattern->Format(frame);
    const std::optional<int64_t> back = pattern->Match(name);
    FUZZ_CHECK(back.has_value() && *back == frame);
  }
  // Any int64 formats without overflow (the result need not match back).
  (void)pattern->Format(std::numeric_limits<int64_t>::min());
  (void)pattern->Format(std::numeric_limits<int64_t>::max());

  // Match accepts only the exact spelling Format produces.
  if (const std::optional<int64_t> frame = pattern->Match(path)) {
    FUZZ_CHECK(pattern->Format(*frame) == path);
  }
  return 0;
}
