// Field ranges and defaults of a job spec, shared by the YAML reader (job_spec_yaml.cc) and
// ValidateJobSpec (job_spec.cc) so both refuse the same values with the same words. Internal
// to common/: include job_spec.h to parse or validate a spec.
//
//   GENFARM_RETURN_IF_ERROR(job_spec_internal::CheckRange("stages[0].chunk", 0, kChunkRange));
//   // "stages[0].chunk: must be between 1 and 10000, got 0"
#ifndef GENFARM_COMMON_JOB_SPEC_RULES_H_
#define GENFARM_COMMON_JOB_SPEC_RULES_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace genfarm::job_spec_internal {

// Ranges shared by the YAML reader and ValidateJobSpec, so both say the same thing.
struct IntRange {
  int64_t min;
  int64_t max;
};
inline constexpr IntRange kPriorityRange{0, 100};
inline constexpr IntRange kChunkRange{1, 10'000};
inline constexpr IntRange kRetriesRange{0, 100};
inline constexpr IntRange kTimeoutRange{0, 7 * 24 * 3600};
inline constexpr IntRange kGpusRange{0, 64};
inline constexpr IntRange kWindowRange{0, 64};
inline constexpr IntRange kJobIdRange{1, INT64_MAX};
inline constexpr IntRange kInt64Range{INT64_MIN, INT64_MAX};
inline constexpr IntRange kVramRange{0, INT64_MAX};

// Names: job, project, shot, stage, tag, model, submitter.
inline constexpr int kMaxNameLength = 128;
inline constexpr int kDefaultPriority = 50;
inline constexpr int kDefaultChunk = 1;
inline constexpr int kDefaultRetries = 2;

inline absl::Status FieldError(absl::string_view path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", why));
}

inline absl::Status CheckRange(absl::string_view path, int64_t value, IntRange range) {
  if (value >= range.min && value <= range.max) return absl::OkStatus();
  if (range.max == INT64_MAX) {
    return FieldError(path, absl::StrCat("must be >= ", range.min, ", got ", value));
  }
  return FieldError(
      path, absl::StrCat("must be between ", range.min, " and ", range.max, ", got ", value));
}

}  // namespace genfarm::job_spec_internal

#endif  // GENFARM_COMMON_JOB_SPEC_RULES_H_
