// Placeholder until the names branch lands: lower-case names of proto enums.
#ifndef GENFARM_COMMON_ENUM_NAMES_H_
#define GENFARM_COMMON_ENUM_NAMES_H_

#include <string>

#include "absl/strings/ascii.h"
#include "genfarm/v1/types.pb.h"

namespace genfarm {

inline std::string TaskStateName(v1::TaskState s) {
  return absl::AsciiStrToLower(v1::TaskState_Name(s).substr(sizeof("TASK_STATE_") - 1));
}
inline std::string FailureReasonName(v1::FailureReason r) {
  return absl::AsciiStrToLower(v1::FailureReason_Name(r).substr(sizeof("FAILURE_REASON_") - 1));
}
inline std::string JobStateName(v1::JobState s) {
  return absl::AsciiStrToLower(v1::JobState_Name(s).substr(sizeof("JOB_STATE_") - 1));
}

}  // namespace genfarm

#endif  // GENFARM_COMMON_ENUM_NAMES_H_
