#include "common/stage_params.h"

#include <algorithm>
#include <initializer_list>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/field_text.h"
#include "common/status_macros.h"

namespace genfarm {
namespace {

struct IntParam {
  absl::string_view name;
  int32_t min;
  int32_t max;
};

// Key by key: every key must be one of `known`; the known ones are integers in range.
// Calls `set(name, value)` for each present key, in map order.
template <typename Set>
absl::Status ParseIntParams(const ParamMap& params, absl::string_view path, absl::string_view kind,
                            std::initializer_list<IntParam> known, Set set) {
  // The count first: the sort below is then bounded.
  GENFARM_RETURN_IF_ERROR(
      CheckCount(path, static_cast<int64_t>(params.size()), kMaxParamsPerStage));
  // Sorted keys, so the first error is the same whatever the map's order.
  std::vector<const std::string*> keys;
  keys.reserve(params.size());
  for (const auto& entry : params) keys.push_back(&entry.first);
  std::sort(keys.begin(), keys.end(), [](const auto* a, const auto* b) { return *a < *b; });
  for (const std::string* key : keys) {
    const std::string& value = params.at(*key);
    // A key is part of the field path only when it is a plain name (a known key always is).
    const bool plain = CheckIdentifier(path, *key, kMaxParamKeyLength, /*required=*/true).ok();
    const std::string field = absl::StrCat(path, ".", plain ? *key : EchoForError(*key));
    auto it =
        std::find_if(known.begin(), known.end(), [&](const IntParam& p) { return p.name == *key; });
    if (it == known.end()) {
      std::vector<absl::string_view> names;
      for (const IntParam& p : known) names.push_back(p.name);
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": unknown parameter for a ", kind,
          " stage (it takes: ", names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
    }
    const std::string expected =
        absl::StrCat("must be an integer in [", it->min, ", ", it->max, "], got ");
    if (value.size() > static_cast<size_t>(kMaxParamValueLength)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": must be at most ", kMaxParamValueLength, " characters, got ", value.size()));
    }
    int64_t number = 0;
    if (!absl::SimpleAtoi(value, &number)) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": ", expected, EchoForError(value)));
    }
    if (number < it->min || number > it->max) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": ", expected, number));
    }
    set(it->name, static_cast<int32_t>(number));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelParams> ParseModelParams(const ParamMap& params, absl::string_view path) {
  ModelParams out;
  GENFARM_RETURN_IF_ERROR(ParseIntParams(params, path, "model",
                                         {{"factor", kMinRetimeFactor, kMaxRetimeFactor}},
                                         [&](absl::string_view, int32_t v) { out.factor = v; }));
  return out;
}

absl::StatusOr<DailiesParams> ParseDailiesParams(const ParamMap& params, absl::string_view path) {
  DailiesParams out;
  GENFARM_RETURN_IF_ERROR(ParseIntParams(
      params, path, "dailies",
      {{"columns", kMinSheetColumns, kMaxSheetColumns}, {"fps", kMinDailiesFps, kMaxDailiesFps}},
      [&](absl::string_view name, int32_t v) {
        if (name == "fps") {
          out.fps = v;
        } else {
          out.columns = v;
        }
      }));
  return out;
}

absl::Status ValidateStageParams(const v1::StageSpec& stage, absl::string_view path) {
  const std::string params_path = absl::StrCat(path, ".params");
  if (stage.kind() == v1::STAGE_KIND_DAILIES) {
    return ParseDailiesParams(stage.params(), params_path).status();
  }
  return ParseModelParams(stage.params(), params_path).status();
}

std::string ModelParamsJson(const ModelParams& params) {
  if (!params.factor) return "{}";
  return absl::StrCat("{\"factor\":", *params.factor, "}");
}

}  // namespace genfarm
