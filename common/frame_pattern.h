// A frame file pattern such as `plates/sh010.####.exr` or `plates/sh010.%04d.exr`:
// turns frame numbers into file names and file names back into frame numbers.
//
//   GENFARM_ASSIGN_OR_RETURN(FramePattern p, FramePattern::Parse("out/sh010.####.exr"));
//   p.Format(1001);                  // "out/sh010.1001.exr"
//   p.Format(-5);                    // "out/sh010.-0005.exr"
//   p.Glob();                        // "out/sh010.*.exr"
//   p.Match("out/sh010.1042.exr");   // 1042
//   p.Match("out/sh010.42.exr");     // nullopt: not what Format(42) writes
//
// Frame tokens (exactly one per pattern):
//   `%d`     the frame, no padding
//   `%0Nd`   zero-padded to N digits (`%04d`)
//   `#...#`  N hashes: zero-padded to N digits (`####` == `%04d`)
// `%%` is a literal '%'. Negative frames print as '-' followed by the padded digits
// (`-0005`), unlike printf, which counts the sign in the width.
//
// Immutable value type. Thread-compatible.
#ifndef GENFARM_COMMON_FRAME_PATTERN_H_
#define GENFARM_COMMON_FRAME_PATTERN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace genfarm {

class FramePattern {
 public:
  // Largest accepted padding (digits).
  static constexpr int kMaxPadding = 15;

  // Errors are InvalidArgument and quote the pattern: no frame token, more than one,
  // or an unsupported printf conversion.
  static absl::StatusOr<FramePattern> Parse(std::string_view pattern);

  // The file name of `frame`.
  std::string Format(int64_t frame) const;

  // The pattern as given to Parse.
  const std::string& pattern() const { return pattern_; }
  // Text before and after the frame token (with `%%` already turned into '%').
  const std::string& prefix() const { return prefix_; }
  const std::string& suffix() const { return suffix_; }
  // Zero-padding width in digits; 0 for `%d`.
  int padding() const { return padding_; }

  // A shell-style glob for listing the sequence: `*` in place of the frame token.
  // Glob metacharacters in the prefix/suffix are not escaped.
  std::string Glob() const;

  // The frame number whose Format() is exactly `path`, or nullopt.
  std::optional<int64_t> Match(std::string_view path) const;

  // Patterns are equal when they name the same files: `a.%04d.exr` == `a.####.exr`.
  friend bool operator==(const FramePattern& a, const FramePattern& b) {
    return a.padding_ == b.padding_ && a.prefix_ == b.prefix_ && a.suffix_ == b.suffix_;
  }
  friend bool operator!=(const FramePattern& a, const FramePattern& b) { return !(a == b); }

 private:
  FramePattern() = default;

  std::string pattern_;
  std::string prefix_;
  std::string suffix_;
  int padding_ = 0;
};

}  // namespace genfarm

#endif  // GENFARM_COMMON_FRAME_PATTERN_H_
