#include "common/frame_pattern.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace genfarm {
namespace {

constexpr absl::string_view kTokenHelp = "use %d, %04d or ####";

// The frame's digits, zero-padded to `padding`, with a leading '-' if negative.
std::string FrameText(int64_t frame, int padding) {
  const bool negative = frame < 0;
  // Negate in unsigned arithmetic so INT64_MIN does not overflow.
  const uint64_t magnitude =
      negative ? uint64_t{0} - static_cast<uint64_t>(frame) : static_cast<uint64_t>(frame);
  std::string digits = absl::StrCat(magnitude);
  std::string out = negative ? "-" : "";
  if (static_cast<int>(digits.size()) < padding) out.append(padding - digits.size(), '0');
  out += digits;
  return out;
}

}  // namespace

absl::StatusOr<FramePattern> FramePattern::Parse(std::string_view pattern_in) {
  const absl::string_view pattern(pattern_in.data(), pattern_in.size());
  if (pattern.empty()) return absl::InvalidArgumentError("empty frame pattern");
  auto error = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("frame pattern '", pattern, "': ", why));
  };

  FramePattern result;
  result.pattern_ = std::string(pattern);
  std::string literal;  // text since the last token
  std::string first_token;
  int tokens = 0;
  size_t i = 0;
  while (i < pattern.size()) {
    const char c = pattern[i];
    size_t token_end = i;
    int padding = 0;
    if (c == '%') {
      if (i + 1 < pattern.size() && pattern[i + 1] == '%') {
        literal += '%';
        i += 2;
        continue;
      }
      size_t j = i + 1;
      const bool zero_flag = j < pattern.size() && pattern[j] == '0';
      if (zero_flag) ++j;
      const size_t width_begin = j;
      while (j < pattern.size() && absl::ascii_isdigit(static_cast<unsigned char>(pattern[j]))) {
        ++j;
      }
      const absl::string_view width = pattern.substr(width_begin, j - width_begin);
      const bool has_d = j < pattern.size() && pattern[j] == 'd';
      const absl::string_view conversion = pattern.substr(i, j + 1 - i);
      if (!has_d) {
        return error(absl::StrCat("unsupported conversion '", conversion, "' (", kTokenHelp,
                                  "; write %% for a literal '%')"));
      }
      if (!zero_flag && !width.empty()) {
        return error(absl::StrCat("'", conversion, "' pads with spaces; use '%0", width,
                                  "d' for zero padding"));
      }
      for (char digit : width) padding = std::min(padding * 10 + (digit - '0'), kMaxPadding + 1);
      if (zero_flag && padding == 0) {
        return error(absl::StrCat("'", conversion, "' has no width (", kTokenHelp, ")"));
      }
      if (padding > kMaxPadding) {
        return error(
            absl::StrCat("padding of '", conversion, "' is more than ", kMaxPadding, " digits"));
      }
      token_end = j + 1;
    } else if (c == '#') {
      token_end = i;
      while (token_end < pattern.size() && pattern[token_end] == '#') ++token_end;
      padding = static_cast<int>(token_end - i);
      if (padding > kMaxPadding) {
        return error(
            absl::StrCat("padding of ", padding, " hashes is more than ", kMaxPadding, " digits"));
      }
    } else {
      literal += c;
      ++i;
      continue;
    }

    const absl::string_view token = pattern.substr(i, token_end - i);
    if (++tokens > 1) {
      return error(absl::StrCat("more than one frame token ('", first_token, "' and '", token,
                                "'); exactly one is allowed"));
    }
    first_token = std::string(token);
    result.prefix_ = std::move(literal);
    literal.clear();
    result.padding_ = padding;
    i = token_end;
  }
  if (tokens == 0) return error(absl::StrCat("no frame token (", kTokenHelp, ")"));
  result.suffix_ = std::move(literal);
  return result;
}

std::string FramePattern::Format(int64_t frame) const {
  return absl::StrCat(prefix_, FrameText(frame, padding_), suffix_);
}

std::string FramePattern::Glob() const { return absl::StrCat(prefix_, "*", suffix_); }

std::optional<int64_t> FramePattern::Match(std::string_view path_in) const {
  const absl::string_view path(path_in.data(), path_in.size());
  if (path.size() <= prefix_.size() + suffix_.size()) return std::nullopt;
  if (!absl::StartsWith(path, prefix_) || !absl::EndsWith(path, suffix_)) return std::nullopt;
  absl::string_view middle =
      path.substr(prefix_.size(), path.size() - prefix_.size() - suffix_.size());
  const bool negative = !middle.empty() && middle.front() == '-';
  absl::string_view digits = negative ? middle.substr(1) : middle;
  // More digits than any frame Format could be asked for: not ours (and no overflow).
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  int64_t magnitude = 0;
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    magnitude = magnitude * 10 + (c - '0');
  }
  const int64_t frame = negative ? -magnitude : magnitude;
  // Only the exact spelling Format produces: right padding, no extra zeros, no "-0".
  if (FrameText(frame, padding_) != middle) return std::nullopt;
  return frame;
}

}  // namespace genfarm
