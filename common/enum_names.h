// Text names of the protobuf enums, the one translation every printer and parser uses: the
// CLI, the metrics labels, the dashboard JSON, the core's messages and the YAML reader.
//
//   TaskStateName(v1::TASK_STATE_QUEUED);               // "queued"
//   FailureReasonName(v1::FAILURE_REASON_INPUT_MISSING);  // "input_missing"
//   TierName(v1::TIER_UNSPECIFIED);                     // "batch" (the default tier)
//   std::optional<v1::JobState> s = ParseJobState("Failed");  // JOB_STATE_FAILED
//
// A name is the protobuf value name without the enum's prefix, in lower case
// (JOB_STATE_ACTIVE -> "active"), so a value added to the .proto is named without an edit
// here. The zero value prints as "unspecified", except TIER_UNSPECIFIED, which is "batch"
// because that is what an unset tier means everywhere (ApplyJobSpecDefaults, the policy). A
// number the .proto does not know (a newer peer) prints as "unknown".
//
// Parsers take the same names, case-insensitively, and refuse "unspecified" (a filter or a
// spec that names no value is a mistake, not a wildcard). The returned views point at static
// storage and stay valid for the life of the process; they are absl::string_view because the
// Debian Abseil keeps its own type and StrCat/StrJoin take only that one. Thread-safe.
#ifndef GENFARM_COMMON_ENUM_NAMES_H_
#define GENFARM_COMMON_ENUM_NAMES_H_

#include <optional>
#include <vector>

#include "absl/strings/string_view.h"
#include "genfarm/v1/types.pb.h"

namespace genfarm {

absl::string_view JobStateName(v1::JobState state);
absl::string_view TaskStateName(v1::TaskState state);
absl::string_view FailureReasonName(v1::FailureReason reason);
absl::string_view WorkerStateName(v1::WorkerState state);
absl::string_view TierName(v1::Tier tier);
absl::string_view StageKindName(v1::StageKind kind);

std::optional<v1::JobState> ParseJobState(absl::string_view name);
std::optional<v1::TaskState> ParseTaskState(absl::string_view name);
std::optional<v1::FailureReason> ParseFailureReason(absl::string_view name);
std::optional<v1::WorkerState> ParseWorkerState(absl::string_view name);
std::optional<v1::Tier> ParseTier(absl::string_view name);
std::optional<v1::StageKind> ParseStageKind(absl::string_view name);

// Every name but the zero value's, in enum (number) order. For task states that is the
// lifecycle order (waiting ... canceled); metrics pre-create one series per name, and parse
// errors list them ("one of batch, dailies, interactive").
const std::vector<absl::string_view>& JobStateNames();
const std::vector<absl::string_view>& TaskStateNames();
const std::vector<absl::string_view>& FailureReasonNames();
const std::vector<absl::string_view>& WorkerStateNames();
const std::vector<absl::string_view>& TierNames();
const std::vector<absl::string_view>& StageKindNames();

}  // namespace genfarm

#endif  // GENFARM_COMMON_ENUM_NAMES_H_
