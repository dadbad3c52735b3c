#include "common/enum_names.h"

#include <map>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/tier.h"

namespace genfarm {
namespace {

// Names of one enum, built once from its descriptor.
class EnumNameTable {
 public:
  EnumNameTable(const google::protobuf::EnumDescriptor* descriptor, absl::string_view prefix) {
    for (int i = 0; i < descriptor->value_count(); ++i) {
      const google::protobuf::EnumValueDescriptor* value = descriptor->value(i);
      std::string name = value->name();
      if (absl::StartsWith(name, prefix)) name = name.substr(prefix.size());
      auto [it, inserted] = by_number_.emplace(value->number(), absl::AsciiStrToLower(name));
      if (!inserted) continue;  // an alias: the first name wins
      by_name_.emplace(it->second, value->number());
      if (value->number() != 0) names_.push_back(it->second);
    }
  }

  absl::string_view Name(int number) const {
    auto it = by_number_.find(number);
    return it == by_number_.end() ? absl::string_view("unknown") : absl::string_view(it->second);
  }

  // The number of a non-zero value called `name` (any case).
  std::optional<int> Parse(absl::string_view name) const {
    auto it = by_name_.find(absl::AsciiStrToLower(std::string(name)));
    if (it == by_name_.end() || it->second == 0) return std::nullopt;
    return it->second;
  }

  const std::vector<absl::string_view>& Names() const { return names_; }

 private:
  // A node-based map: the views in names_ point into its strings, which must never move.
  std::map<int, std::string> by_number_;
  absl::flat_hash_map<std::string, int> by_name_;
  std::vector<absl::string_view> names_;
};

template <typename Enum>
std::optional<Enum> ParseWith(const EnumNameTable& table, absl::string_view name) {
  std::optional<int> number = table.Parse(name);
  if (!number) return std::nullopt;
  return static_cast<Enum>(*number);
}

const EnumNameTable& JobStates() {
  static const auto* table = new EnumNameTable(v1::JobState_descriptor(), "JOB_STATE_");
  return *table;
}
const EnumNameTable& TaskStates() {
  static const auto* table = new EnumNameTable(v1::TaskState_descriptor(), "TASK_STATE_");
  return *table;
}
const EnumNameTable& FailureReasons() {
  static const auto* table = new EnumNameTable(v1::FailureReason_descriptor(), "FAILURE_REASON_");
  return *table;
}
const EnumNameTable& WorkerStates() {
  static const auto* table = new EnumNameTable(v1::WorkerState_descriptor(), "WORKER_STATE_");
  return *table;
}
const EnumNameTable& Tiers() {
  static const auto* table = new EnumNameTable(v1::Tier_descriptor(), "TIER_");
  return *table;
}
const EnumNameTable& StageKinds() {
  static const auto* table = new EnumNameTable(v1::StageKind_descriptor(), "STAGE_KIND_");
  return *table;
}

}  // namespace

absl::string_view JobStateName(v1::JobState state) { return JobStates().Name(state); }
absl::string_view TaskStateName(v1::TaskState state) { return TaskStates().Name(state); }
absl::string_view FailureReasonName(v1::FailureReason reason) {
  return FailureReasons().Name(reason);
}
absl::string_view WorkerStateName(v1::WorkerState state) { return WorkerStates().Name(state); }
absl::string_view TierName(v1::Tier tier) { return Tiers().Name(EffectiveTier(tier)); }
absl::string_view StageKindName(v1::StageKind kind) { return StageKinds().Name(kind); }

std::optional<v1::JobState> ParseJobState(absl::string_view name) {
  return ParseWith<v1::JobState>(JobStates(), name);
}
std::optional<v1::TaskState> ParseTaskState(absl::string_view name) {
  return ParseWith<v1::TaskState>(TaskStates(), name);
}
std::optional<v1::FailureReason> ParseFailureReason(absl::string_view name) {
  return ParseWith<v1::FailureReason>(FailureReasons(), name);
}
std::optional<v1::WorkerState> ParseWorkerState(absl::string_view name) {
  return ParseWith<v1::WorkerState>(WorkerStates(), name);
}
std::optional<v1::Tier> ParseTier(absl::string_view name) {
  return ParseWith<v1::Tier>(Tiers(), name);
}
std::optional<v1::StageKind> ParseStageKind(absl::string_view name) {
  return ParseWith<v1::StageKind>(StageKinds(), name);
}

const std::vector<absl::string_view>& JobStateNames() { return JobStates().Names(); }
const std::vector<absl::string_view>& TaskStateNames() { return TaskStates().Names(); }
const std::vector<absl::string_view>& FailureReasonNames() { return FailureReasons().Names(); }
const std::vector<absl::string_view>& WorkerStateNames() { return WorkerStates().Names(); }
const std::vector<absl::string_view>& TierNames() { return Tiers().Names(); }
const std::vector<absl::string_view>& StageKindNames() { return StageKinds().Names(); }

}  // namespace genfarm
