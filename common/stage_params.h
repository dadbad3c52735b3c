// Typed stage params: the `params` map of a StageSpec, parsed and validated once, by kind.
//
// A spec carries params as strings (proto map<string, string>, YAML scalars kept as
// written). This header is the one place that knows which params each stage kind takes,
// their types and ranges: the spec validator (job_spec.cc) calls it before any planning,
// the planner (job_plan.cc) and the worker (model task runner -> FramePipeline, dailies
// runner) call the same parser on the same map and use the typed values, so "2" never
// becomes JSON and is never parsed a second time by different rules.
//
//   GENFARM_ASSIGN_OR_RETURN(ModelParams params,
//                            ParseModelParams(stage.params(), "stages[1].params"));
//   int factor = params.factor.value_or(kDefaultRetimeFactor);   // interpolation model
//
// PARAMS BY STAGE KIND
//   model    factor   integer in [2, 16]: output frames per input frame of an
//                     interpolation (retime) model; unset = kDefaultRetimeFactor (2).
//                     A stage with a factor retimes. 16 covers 24 -> 384 fps; beyond
//                     that interpolation has nothing left to show and the outputs
//                     (and task count downstream) grow without purpose.
//   dailies  fps      integer in [1, 240]: movie frame rate; unset = the worker's default.
//            columns  integer in [1, 64]: contact sheet columns; unset = the worker's.
// Any other key is refused, naming it, so a typo never silently falls back to a default.
//
// Errors are InvalidArgument and start with the field path:
//   "stages[1].params.factor: must be an integer in [2, 16], got 2147483647"
//   "stages[1].params.factor: must be an integer in [2, 16], got 'two'"
//   "stages[0].params.strength: unknown parameter for a model stage (it takes: factor)"
//   "stages[0].params: at most 16 entries, got 20000"
//
// Pure functions, thread-safe.
#ifndef GENFARM_COMMON_STAGE_PARAMS_H_
#define GENFARM_COMMON_STAGE_PARAMS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "genfarm/v1/types.pb.h"

namespace genfarm {

inline constexpr int32_t kMinRetimeFactor = 2;
inline constexpr int32_t kMaxRetimeFactor = 16;
// What an interpolation model does when the spec names no factor.
inline constexpr int32_t kDefaultRetimeFactor = 2;
inline constexpr int32_t kMinDailiesFps = 1;
inline constexpr int32_t kMaxDailiesFps = 240;
inline constexpr int32_t kMinSheetColumns = 1;
inline constexpr int32_t kMaxSheetColumns = 64;
// Bounds on the map itself, checked before any key is looked at: a kind takes at most a
// few params, each a short name and a number.
inline constexpr int kMaxParamsPerStage = 16;
inline constexpr int kMaxParamKeyLength = 64;
inline constexpr int kMaxParamValueLength = 64;

using ParamMap = google::protobuf::Map<std::string, std::string>;

// Params of a model stage. Whether the model upscales or interpolates is a fact of the
// model (its manifest), not of the spec, so one type carries what either kind takes.
struct ModelParams {
  std::optional<int32_t> factor;  // retime factor; unset: not written in the spec

  // Output frames per input frame for the planner's mapping: the factor, 1 without one.
  int32_t RetimeFactorOr1() const { return factor.value_or(1); }

  friend bool operator==(const ModelParams& a, const ModelParams& b) {
    return a.factor == b.factor;
  }
};

// Params of a dailies stage (contact sheet + movie); unset fields take the worker's config.
struct DailiesParams {
  std::optional<int32_t> fps;
  std::optional<int32_t> columns;

  friend bool operator==(const DailiesParams& a, const DailiesParams& b) {
    return a.fps == b.fps && a.columns == b.columns;
  }
};

// `path` prefixes every error ("stages[1].params", or "params" on the worker).
absl::StatusOr<ModelParams> ParseModelParams(const ParamMap& params, absl::string_view path);
absl::StatusOr<DailiesParams> ParseDailiesParams(const ParamMap& params, absl::string_view path);

// The parser of `stage`'s kind (UNSPECIFIED counts as model, as ApplyJobSpecDefaults says).
// `path` is the stage's path ("stages[1]"); errors name "<path>.params.<key>".
absl::Status ValidateStageParams(const v1::StageSpec& stage, absl::string_view path);

// Compact JSON of the params as typed values, unset ones left out: {"factor":2}. Written
// into each output frame's provenance (frame_io.h), so a frame says how it was made.
std::string ModelParamsJson(const ModelParams& params);

}  // namespace genfarm

#endif  // GENFARM_COMMON_STAGE_PARAMS_H_
