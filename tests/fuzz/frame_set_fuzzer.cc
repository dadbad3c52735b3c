// libFuzzer target for FrameSet::Parse (common/frame_set.h): any text either parses into
// a sorted, de-duplicated, bounded set that survives ToString() and Chunk(), or is refused
// with InvalidArgument. Run with tests/fuzz/run.sh.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/frame_set.h"
#include "tests/fuzz/fuzz_check.h"

using genfarm::FrameSet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // A small limit keeps every run fast (a set at the limit is materialized, printed and
  // chunked below); the counting-before-allocating logic is the same for any limit.
  constexpr int64_t kLimit = 1 << 12;
  absl::StatusOr<FrameSet> set = FrameSet::Parse(text, kLimit);
  if (!set.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(set.status()));
    FUZZ_CHECK(!set.status().message().empty());
    return 0;
  }
  const std::vector<int64_t>& frames = set->frames();
  FUZZ_CHECK(!frames.empty());
  FUZZ_CHECK(static_cast<int64_t>(frames.size()) <= kLimit);
  for (size_t i = 0; i < frames.size(); ++i) {
    FUZZ_CHECK(frames[i] <= genfarm::kMaxAbsFrame && frames[i] >= -genfarm::kMaxAbsFrame);
    if (i > 0) FUZZ_CHECK(frames[i - 1] < frames[i]);
  }
  FUZZ_CHECK(set->Contains(set->first()) && set->Contains(set->last()));

  // Parse(ToString()) gives back the same set (documented).
  const std::string canonical = set->ToString();
  absl::StatusOr<FrameSet> again = FrameSet::Parse(canonical, kLimit);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *set);
  FUZZ_CHECK(again->ToString() == canonical);
  FUZZ_CHECK(FrameSet::FromFrames(frames) == *set);

  // Chunk: consecutive members, all but the last full, every frame exactly once.
  const int chunk_size = 1 + static_cast<int>(size % 9);
  absl::StatusOr<std::vector<std::vector<int64_t>>> chunks = set->Chunk(chunk_size);
  FUZZ_CHECK(chunks.ok());
  std::vector<int64_t> joined;
  for (size_t i = 0; i < chunks->size(); ++i) {
    const std::vector<int64_t>& chunk = (*chunks)[i];
    FUZZ_CHECK(!chunk.empty() && static_cast<int>(chunk.size()) <= chunk_size);
    if (i + 1 < chunks->size()) FUZZ_CHECK(static_cast<int>(chunk.size()) == chunk_size);
    joined.insert(joined.end(), chunk.begin(), chunk.end());
  }
  FUZZ_CHECK(joined == frames);
  FUZZ_CHECK(!set->Chunk(0).ok());
  return 0;
}
