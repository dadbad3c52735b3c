#include "common/field_text.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace genfarm {
namespace {

constexpr size_t kMaxEchoedBytes = 64;

absl::Status FieldError(absl::string_view path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", why));
}

bool IsIdentifierChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

}  // namespace

bool IsValidUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    int extra = 0;
    uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      extra = 1, code = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2, code = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3, code = c & 0x07;
    } else {
      return false;
    }
    if (text.size() - i <= static_cast<size_t>(extra)) return false;
    for (int k = 1; k <= extra; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    if ((extra == 2 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) ||
        (extra == 3 && (code < 0x10000 || code > 0x10FFFF))) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

std::string EchoForError(absl::string_view value) {
  std::string shown(value.substr(0, kMaxEchoedBytes));
  for (char& c : shown) {
    if (absl::ascii_iscntrl(static_cast<unsigned char>(c))) c = '?';
  }
  if (value.size() > kMaxEchoedBytes) shown += "...";
  return absl::StrCat("'", shown, "'");
}

absl::Status CheckIdentifier(absl::string_view path, absl::string_view value, int max_length,
                             bool required) {
  if (value.empty()) return required ? FieldError(path, "required") : absl::OkStatus();
  if (value.size() > static_cast<size_t>(max_length)) {
    return FieldError(
        path, absl::StrCat("must be at most ", max_length, " characters, got ", value.size()));
  }
  for (char c : value) {
    if (!IsIdentifierChar(c)) {
      return FieldError(path, absl::StrCat(EchoForError(value),
                                           " may only contain letters, digits, "
                                           "'_', '.' and '-'"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckText(absl::string_view path, absl::string_view value, int max_length) {
  if (value.size() > static_cast<size_t>(max_length)) {
    return FieldError(
        path, absl::StrCat("must be at most ", max_length, " characters, got ", value.size()));
  }
  if (!IsValidUtf8(value)) {
    return FieldError(path, "must be UTF-8 text (is the file saved in another encoding?)");
  }
  for (size_t i = 0; i < value.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    if (absl::ascii_iscntrl(c)) {
      return FieldError(path, absl::StrFormat("must not contain control characters (byte 0x%02x "
                                              "at offset %d)",
                                              c, i));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckCount(absl::string_view path, int64_t count, int64_t max_count) {
  if (count <= max_count) return absl::OkStatus();
  return FieldError(path, absl::StrCat("at most ", max_count, " entries, got ", count));
}

}  // namespace genfarm
