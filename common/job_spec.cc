#include "common/job_spec.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/field_text.h"
#include "common/frame_pattern.h"
#include "common/frame_set.h"
#include "common/job_spec_rules.h"
#include "common/retime_mapping.h"
#include "common/stage_params.h"
#include "common/status_macros.h"
#include "common/tier.h"

namespace genfarm {
namespace {

using job_spec_internal::CheckRange;
using job_spec_internal::FieldError;
using job_spec_internal::kChunkRange;
using job_spec_internal::kGpusRange;
using job_spec_internal::kJobIdRange;
using job_spec_internal::kMaxNameLength;
using job_spec_internal::kPriorityRange;
using job_spec_internal::kRetriesRange;
using job_spec_internal::kTimeoutRange;
using job_spec_internal::kVramRange;
using job_spec_internal::kWindowRange;

absl::Status CheckName(absl::string_view path, absl::string_view name, bool required) {
  return CheckIdentifier(path, name, kMaxNameLength, required);
}

bool IsDailies(const v1::StageSpec& stage) { return stage.kind() == v1::STAGE_KIND_DAILIES; }

// Cycle search over `after` edges. Returns the cycle as stage indices, first == last.
bool FindCycle(int node, const std::vector<std::vector<int>>& edges, std::vector<int>* color,
               std::vector<int>* stack, std::vector<int>* cycle) {
  (*color)[node] = 1;
  stack->push_back(node);
  for (int next : edges[node]) {
    if ((*color)[next] == 1) {
      auto it = std::find(stack->begin(), stack->end(), next);
      cycle->assign(it, stack->end());
      cycle->push_back(next);
      return true;
    }
    if ((*color)[next] == 0 && FindCycle(next, edges, color, stack, cycle)) return true;
  }
  stack->pop_back();
  (*color)[node] = 2;
  return false;
}

absl::Status ValidateStage(const v1::StageSpec& stage, const std::string& p) {
  GENFARM_RETURN_IF_ERROR(CheckName(p + ".name", stage.name(), /*required=*/true));
  if (!v1::StageKind_IsValid(stage.kind())) {
    return FieldError(p + ".kind", absl::StrCat("unknown stage kind ", stage.kind()));
  }
  if (IsDailies(stage)) {
    if (!stage.model().empty()) {
      return FieldError(p + ".model", absl::StrCat("a dailies stage runs no model, got ",
                                                   EchoForError(stage.model())));
    }
  } else {
    if (stage.model().empty()) return FieldError(p + ".model", "required for a model stage");
    GENFARM_RETURN_IF_ERROR(CheckText(p + ".model", stage.model(), kMaxNameLength));
    if (absl::StrContains(stage.model(), ' ')) {
      return FieldError(p + ".model", absl::StrCat("'", stage.model(), "' contains a space"));
    }
  }

  if (stage.input().empty()) return FieldError(p + ".input", "required (a frame pattern)");
  // Paths reach the worker's filesystem calls and every log line: no control characters.
  GENFARM_RETURN_IF_ERROR(CheckText(p + ".input", stage.input(), kMaxPathLength));
  GENFARM_RETURN_IF_ERROR(CheckText(p + ".output", stage.output(), kMaxPathLength));
  absl::StatusOr<FramePattern> input = FramePattern::Parse(stage.input());
  if (!input.ok()) return FieldError(p + ".input", input.status().message());

  if (stage.output().empty()) {
    return FieldError(p + ".output", IsDailies(stage)
                                         ? "required (a path prefix for the contact sheet "
                                           "and movie)"
                                         : "required (a frame pattern)");
  }
  absl::StatusOr<FramePattern> output = FramePattern::Parse(stage.output());
  if (IsDailies(stage)) {
    if (output.ok()) {
      return FieldError(p + ".output",
                        absl::StrCat("a dailies stage writes a contact sheet and a movie; give a "
                                     "path prefix without a frame token, not '",
                                     stage.output(), "'"));
    }
  } else {
    if (!output.ok()) return FieldError(p + ".output", output.status().message());
    if (*output == *input) {
      return FieldError(p + ".output", absl::StrCat("'", stage.output(),
                                                    "' names the same files as input; a "
                                                    "stage must not overwrite its own input"));
    }
  }

  if (stage.frames().empty()) return FieldError(p + ".frames", "required (e.g. 1001-1100)");
  GENFARM_RETURN_IF_ERROR(CheckText(p + ".frames", stage.frames(), kMaxFrameSetLength));
  GENFARM_RETURN_IF_ERROR(CheckRange(p + ".chunk", stage.chunk(), kChunkRange));
  GENFARM_RETURN_IF_ERROR(CheckRange(p + ".retries", stage.retries(), kRetriesRange));
  GENFARM_RETURN_IF_ERROR(CheckRange(p + ".timeout", stage.timeout_seconds(), kTimeoutRange));
  GENFARM_RETURN_IF_ERROR(CheckRange(p + ".gpus", stage.gpus(), kGpusRange));
  GENFARM_RETURN_IF_ERROR(CheckRange(p + ".vram", stage.vram_bytes(), kVramRange));
  GENFARM_RETURN_IF_ERROR(CheckRange(p + ".window.before", stage.window_before(), kWindowRange));
  GENFARM_RETURN_IF_ERROR(CheckRange(p + ".window.after", stage.window_after(), kWindowRange));

  // Counts before the loops over them.
  GENFARM_RETURN_IF_ERROR(CheckCount(p + ".tags", stage.tags_size(), kMaxTagsPerStage));
  GENFARM_RETURN_IF_ERROR(CheckCount(p + ".after", stage.after_size(), kMaxAfterPerStage));
  absl::flat_hash_set<std::string> tags;
  for (int i = 0; i < stage.tags_size(); ++i) {
    const std::string path = absl::StrCat(p, ".tags[", i, "]");
    GENFARM_RETURN_IF_ERROR(CheckName(path, stage.tags(i), /*required=*/true));
    if (!tags.insert(stage.tags(i)).second) {
      return FieldError(path, absl::StrCat("duplicate tag ", EchoForError(stage.tags(i))));
    }
  }
  // Typed by stage kind (stage_params.h): unknown keys, wrong types and out-of-range values
  // are refused here, before anything is planned from them.
  return ValidateStageParams(stage, p);
}

// The output frames of a model stage with a retime factor, against kMaxFramesPerStage.
absl::Status CheckRetimeOutputs(const v1::StageSpec& stage, const FrameSet& frames,
                                const std::string& p) {
  if (IsDailies(stage)) return absl::OkStatus();
  GENFARM_ASSIGN_OR_RETURN(ModelParams params, ParseModelParams(stage.params(), p + ".params"));
  if (!params.factor) return absl::OkStatus();
  const int64_t outputs = RetimeOutputCount(frames.frames(), *params.factor);
  if (outputs <= kMaxFramesPerStage) return absl::OkStatus();
  return FieldError(
      p + ".params.factor",
      absl::StrCat("a retime by ", *params.factor, " of frames ", frames.first(), "..",
                   frames.last(), " writes ", outputs, " frames, more than the limit of ",
                   kMaxFramesPerStage, " per stage"));
}

}  // namespace

absl::Status ValidateJobSpec(const v1::JobSpec& spec) {
  // Sizes and counts first: every later pass is then bounded by them.
  const size_t bytes = spec.ByteSizeLong();
  if (bytes > static_cast<size_t>(kMaxJobSpecBytes)) {
    return FieldError("spec", absl::StrCat("a job spec may be at most ", kMaxJobSpecBytes,
                                           " bytes serialized, got ", bytes));
  }
  if (spec.stages_size() == 0) return FieldError("stages", "a job needs at least one stage");
  if (spec.stages_size() > kMaxStagesPerJob) {
    return FieldError("stages", absl::StrCat("a job may have at most ", kMaxStagesPerJob,
                                             " stages, got ", spec.stages_size()));
  }
  GENFARM_RETURN_IF_ERROR(CheckCount("labels", spec.labels_size(), kMaxLabelsPerJob));
  GENFARM_RETURN_IF_ERROR(
      CheckCount("depends_on_jobs", spec.depends_on_jobs_size(), kMaxJobDependencies));

  GENFARM_RETURN_IF_ERROR(CheckName("name", spec.name(), /*required=*/true));
  GENFARM_RETURN_IF_ERROR(CheckName("project", spec.project(), /*required=*/true));
  GENFARM_RETURN_IF_ERROR(CheckName("shot", spec.shot(), /*required=*/false));
  GENFARM_RETURN_IF_ERROR(CheckRange("priority", spec.priority(), kPriorityRange));
  if (!v1::Tier_IsValid(spec.tier())) {
    return FieldError("tier", absl::StrCat("unknown tier ", spec.tier()));
  }
  GENFARM_RETURN_IF_ERROR(CheckText("submitter", spec.submitter(), kMaxNameLength));
  // Map order is unspecified: check in key order so the first error is always the same.
  std::vector<const std::string*> label_keys;
  label_keys.reserve(spec.labels_size());
  for (const auto& entry : spec.labels()) label_keys.push_back(&entry.first);
  std::sort(label_keys.begin(), label_keys.end(),
            [](const std::string* a, const std::string* b) { return *a < *b; });
  for (const std::string* key : label_keys) {
    if (key->empty()) return FieldError("labels", "empty label name");
    if (!CheckIdentifier("labels", *key, kMaxLabelKeyLength, /*required=*/true).ok()) {
      return FieldError("labels",
                        absl::StrCat("label name ", EchoForError(*key), " must be 1 to ",
                                     kMaxLabelKeyLength, " letters, digits, '_', '.' or '-'"));
    }
    GENFARM_RETURN_IF_ERROR(
        CheckText(absl::StrCat("labels.", *key), spec.labels().at(*key), kMaxLabelValueLength));
  }
  absl::flat_hash_set<int64_t> job_deps;
  for (int i = 0; i < spec.depends_on_jobs_size(); ++i) {
    const std::string path = absl::StrCat("depends_on_jobs[", i, "]");
    GENFARM_RETURN_IF_ERROR(CheckRange(path, spec.depends_on_jobs(i), kJobIdRange));
    if (!job_deps.insert(spec.depends_on_jobs(i)).second) {
      return FieldError(path, absl::StrCat("job ", spec.depends_on_jobs(i), " listed twice"));
    }
  }

  absl::flat_hash_map<std::string, int> stage_index;
  // Parsed output patterns of model stages (dailies write a path prefix, not frames).
  std::vector<std::optional<FramePattern>> outputs(spec.stages_size());
  int64_t total_frames = 0;
  for (int i = 0; i < spec.stages_size(); ++i) {
    const v1::StageSpec& stage = spec.stages(i);
    const std::string p = absl::StrCat("stages[", i, "]");
    GENFARM_RETURN_IF_ERROR(ValidateStage(stage, p));
    auto [it, inserted] = stage_index.emplace(stage.name(), i);
    if (!inserted) {
      return FieldError(p + ".name", absl::StrCat("duplicate stage name '", stage.name(),
                                                  "' (also stages[", it->second, "])"));
    }
    // Two model stages writing the same files would overwrite each other's frames.
    if (!IsDailies(stage)) {
      outputs[i] = *FramePattern::Parse(stage.output());
      for (int j = 0; j < i; ++j) {
        if (outputs[j] && *outputs[j] == *outputs[i]) {
          return FieldError(p + ".output",
                            absl::StrCat("'", stage.output(), "' names the same files as stages[",
                                         j, "].output"));
        }
      }
    }
    absl::StatusOr<FrameSet> frames = FrameSet::Parse(stage.frames(), kMaxFramesPerStage);
    if (!frames.ok()) return FieldError(p + ".frames", frames.status().message());
    // A retime writes more frames than it reads, up to factor x the span of a sparse set
    // ('1,1000000000'): bound what it will write like the frame set itself.
    GENFARM_RETURN_IF_ERROR(CheckRetimeOutputs(stage, *frames, p));
    total_frames += static_cast<int64_t>(frames->size());
    if (total_frames > kMaxFramesPerJob) {
      return FieldError("stages", absl::StrCat("the job has more than ", kMaxFramesPerJob,
                                               " frames over all stages (limit reached at ", p,
                                               " '", stage.name(), "')"));
    }
  }

  // A dependency through files runs from an earlier stage's output to a later stage's
  // input (ApplyJobSpecDefaults adds it to `after`). A stage reading what a later stage
  // writes would wait for frames that are only made after it: a cycle through files.
  for (int i = 0; i < spec.stages_size(); ++i) {
    const FramePattern input = *FramePattern::Parse(spec.stages(i).input());
    for (int j = i + 1; j < spec.stages_size(); ++j) {
      if (outputs[j] && *outputs[j] == input) {
        return FieldError(
            absl::StrCat("stages[", i, "].input"),
            absl::StrCat("'", spec.stages(i).input(), "' names the files stages[", j, "] '",
                         spec.stages(j).name(),
                         "' writes, a later stage: a stage may only read what earlier stages "
                         "write (move it after stages[",
                         j, "])"));
      }
    }
  }

  std::vector<std::vector<int>> edges(spec.stages_size());
  for (int i = 0; i < spec.stages_size(); ++i) {
    const v1::StageSpec& stage = spec.stages(i);
    absl::flat_hash_set<std::string> seen;
    for (int k = 0; k < stage.after_size(); ++k) {
      const std::string& upstream = stage.after(k);
      const std::string path = absl::StrCat("stages[", i, "].after[", k, "]");
      auto it = stage_index.find(upstream);
      if (it == stage_index.end()) {
        return FieldError(path, absl::StrCat("unknown stage ", EchoForError(upstream)));
      }
      if (it->second == i) return FieldError(path, "a stage cannot depend on itself");
      if (!seen.insert(upstream).second) {
        return FieldError(path, absl::StrCat("stage '", upstream, "' listed twice"));
      }
      edges[i].push_back(it->second);
    }
  }
  std::vector<int> color(spec.stages_size(), 0);
  for (int i = 0; i < spec.stages_size(); ++i) {
    std::vector<int> stack;
    std::vector<int> cycle;
    if (color[i] == 0 && FindCycle(i, edges, &color, &stack, &cycle)) {
      std::vector<std::string> names;
      for (int s : cycle) names.push_back(spec.stages(s).name());
      return FieldError(absl::StrCat("stages[", cycle.front(), "].after"),
                        absl::StrCat("dependency cycle: ", absl::StrJoin(names, " -> "),
                                     " (each stage waits for the next)"));
    }
  }
  return absl::OkStatus();
}

void ApplyJobSpecDefaults(v1::JobSpec* spec) {
  spec->set_tier(EffectiveTier(spec->tier()));
  for (v1::StageSpec& stage : *spec->mutable_stages()) {
    if (stage.kind() == v1::STAGE_KIND_UNSPECIFIED) stage.set_kind(v1::STAGE_KIND_MODEL);
  }
  // The implicit-dependency pass is pairwise; a spec over the caps is refused by
  // ValidateJobSpec anyway, so do not spend quadratic time on it first.
  if (spec->stages_size() > kMaxStagesPerJob ||
      spec->ByteSizeLong() > static_cast<size_t>(kMaxJobSpecBytes)) {
    return;
  }
  std::vector<std::optional<FramePattern>> outputs(spec->stages_size());
  for (int j = 0; j < spec->stages_size(); ++j) {
    const v1::StageSpec& stage = spec->stages(j);
    if (IsDailies(stage) || stage.name().empty()) continue;
    absl::StatusOr<FramePattern> output = FramePattern::Parse(stage.output());
    if (output.ok()) outputs[j] = *std::move(output);
  }
  for (int i = 0; i < spec->stages_size(); ++i) {
    v1::StageSpec* stage = spec->mutable_stages(i);
    if (stage->after_size() > kMaxAfterPerStage) continue;  // refused by ValidateJobSpec
    absl::StatusOr<FramePattern> input = FramePattern::Parse(stage->input());
    if (!input.ok()) continue;  // ValidateJobSpec reports it.
    for (int j = 0; j < i; ++j) {
      if (!outputs[j] || *outputs[j] != *input) continue;
      const std::string& upstream = spec->stages(j).name();
      const auto& after = stage->after();
      if (std::find(after.begin(), after.end(), upstream) == after.end()) {
        stage->add_after(upstream);
      }
    }
  }
}

}  // namespace genfarm
