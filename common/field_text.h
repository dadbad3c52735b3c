// Checks of the strings that arrive in requests (job specs, worker hellos), shared by the
// spec validator (job_spec.cc, stage_params.cc) and the scheduler's worker events, so an id,
// a path or a label is refused with the same words wherever it comes from.
//
//   GENFARM_RETURN_IF_ERROR(CheckIdentifier("hello.worker_id", id, /*max_length=*/128,
//                                           /*required=*/true));
//   // "hello.worker_id: 'gpu 07' may only contain letters, digits, '_', '.' and '-'"
//   GENFARM_RETURN_IF_ERROR(CheckText("stages[0].input", path, kMaxPathLength));
//   // "stages[0].input: must not contain control characters (byte 0x0a at offset 12)"
//
// Every error is InvalidArgument and starts with `path`, the field's name. A value echoed
// in a message is cut to a few dozen bytes with control characters shown as '?', so a
// message never carries a megabyte of junk or a terminal escape. Pure functions.
#ifndef GENFARM_COMMON_FIELD_TEXT_H_
#define GENFARM_COMMON_FIELD_TEXT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace genfarm {

// Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF).
bool IsValidUtf8(absl::string_view text);

// `value` quoted for an error message: at most 64 bytes, control characters as '?'.
std::string EchoForError(absl::string_view value);

// Names that end up in paths, metric labels and CLI output: [A-Za-z0-9_.-], at most
// `max_length` bytes; empty is an error only when `required`.
absl::Status CheckIdentifier(absl::string_view path, absl::string_view value, int max_length,
                             bool required);

// Free text (paths, model names, label values): UTF-8, no control characters (C0, DEL),
// at most `max_length` bytes. Empty is fine (the caller says when a field is required).
absl::Status CheckText(absl::string_view path, absl::string_view value, int max_length);

// A repeated field or map with `count` entries, at most `max_count`.
absl::Status CheckCount(absl::string_view path, int64_t count, int64_t max_count);

}  // namespace genfarm

#endif  // GENFARM_COMMON_FIELD_TEXT_H_
