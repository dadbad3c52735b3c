#include "common/job_spec.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/frame_pattern.h"
#include "common/frame_set.h"
#include "common/status_macros.h"

namespace genfarm {
namespace {

// Ranges shared by the YAML reader and ValidateJobSpec, so both say the same thing.
struct IntRange {
  int64_t min;
  int64_t max;
};
constexpr IntRange kPriorityRange{0, 100};
constexpr IntRange kChunkRange{1, 10'000};
constexpr IntRange kRetriesRange{0, 100};
constexpr IntRange kTimeoutRange{0, 7 * 24 * 3600};
constexpr IntRange kGpusRange{0, 64};
constexpr IntRange kWindowRange{0, 64};
constexpr IntRange kJobIdRange{1, INT64_MAX};
constexpr IntRange kInt64Range{INT64_MIN, INT64_MAX};
constexpr IntRange kVramRange{0, INT64_MAX};

constexpr int kMaxNameLength = 128;
constexpr int kMaxLabelValueLength = 256;
constexpr int kDefaultPriority = 50;
constexpr int kDefaultChunk = 1;
constexpr int kDefaultRetries = 2;

absl::Status FieldError(absl::string_view path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", why));
}

absl::Status CheckRange(absl::string_view path, int64_t value, IntRange range) {
  if (value >= range.min && value <= range.max) return absl::OkStatus();
  if (range.max == INT64_MAX) {
    return FieldError(path, absl::StrCat("must be >= ", range.min, ", got ", value));
  }
  return FieldError(
      path, absl::StrCat("must be between ", range.min, " and ", range.max, ", got ", value));
}

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

// Names that end up in paths, metrics labels and CLI output: [A-Za-z0-9_.-]+.
absl::Status CheckName(absl::string_view path, absl::string_view name, bool required) {
  if (name.empty()) {
    return required ? FieldError(path, "required") : absl::OkStatus();
  }
  if (name.size() > kMaxNameLength) {
    return FieldError(
        path, absl::StrCat("must be at most ", kMaxNameLength, " characters, got ", name.size()));
  }
  for (char c : name) {
    if (!IsNameChar(c)) {
      return FieldError(path, absl::StrCat("'", name,
                                           "' may only contain letters, digits, "
                                           "'_', '.' and '-'"));
    }
  }
  return absl::OkStatus();
}

// Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF). Proto3
// `string` fields must hold UTF-8: protobuf refuses to parse anything else, so a YAML
// spec with, say, Latin-1 bytes in a label would validate here and then fail on the wire.
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

absl::Status CheckUtf8(absl::string_view path, absl::string_view text) {
  if (IsValidUtf8(text)) return absl::OkStatus();
  return FieldError(path, "must be UTF-8 text (is the file saved in another encoding?)");
}

// Free text (models, submitters, params): UTF-8, no control characters, bounded length.
absl::Status CheckText(absl::string_view path, absl::string_view text, int max_length) {
  if (static_cast<int64_t>(text.size()) > max_length) {
    return FieldError(
        path, absl::StrCat("must be at most ", max_length, " characters, got ", text.size()));
  }
  GENFARM_RETURN_IF_ERROR(CheckUtf8(path, text));
  for (char c : text) {
    if (absl::ascii_iscntrl(static_cast<unsigned char>(c))) {
      return FieldError(path, "must not contain control characters");
    }
  }
  return absl::OkStatus();
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
      return FieldError(p + ".model",
                        absl::StrCat("a dailies stage runs no model, got '", stage.model(), "'"));
    }
  } else {
    if (stage.model().empty()) return FieldError(p + ".model", "required for a model stage");
    GENFARM_RETURN_IF_ERROR(CheckText(p + ".model", stage.model(), kMaxNameLength));
    if (absl::StrContains(stage.model(), ' ')) {
      return FieldError(p + ".model", absl::StrCat("'", stage.model(), "' contains a space"));
    }
  }

  if (stage.input().empty()) return FieldError(p + ".input", "required (a frame pattern)");
  GENFARM_RETURN_IF_ERROR(CheckUtf8(p + ".input", stage.input()));
  GENFARM_RETURN_IF_ERROR(CheckUtf8(p + ".output", stage.output()));
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
  GENFARM_RETURN_IF_ERROR(CheckRange(p + ".chunk", stage.chunk(), kChunkRange));
  GENFARM_RETURN_IF_ERROR(CheckRange(p + ".retries", stage.retries(), kRetriesRange));
  GENFARM_RETURN_IF_ERROR(CheckRange(p + ".timeout", stage.timeout_seconds(), kTimeoutRange));
  GENFARM_RETURN_IF_ERROR(CheckRange(p + ".gpus", stage.gpus(), kGpusRange));
  GENFARM_RETURN_IF_ERROR(CheckRange(p + ".vram", stage.vram_bytes(), kVramRange));
  GENFARM_RETURN_IF_ERROR(CheckRange(p + ".window.before", stage.window_before(), kWindowRange));
  GENFARM_RETURN_IF_ERROR(CheckRange(p + ".window.after", stage.window_after(), kWindowRange));

  absl::flat_hash_set<std::string> tags;
  for (int i = 0; i < stage.tags_size(); ++i) {
    const std::string path = absl::StrCat(p, ".tags[", i, "]");
    GENFARM_RETURN_IF_ERROR(CheckName(path, stage.tags(i), /*required=*/true));
    if (!tags.insert(stage.tags(i)).second) {
      return FieldError(path, absl::StrCat("duplicate tag '", stage.tags(i), "'"));
    }
  }
  for (const auto& [key, value] : stage.params()) {
    const std::string path = absl::StrCat(p, ".params");
    if (key.empty()) return FieldError(path, "empty parameter name");
    GENFARM_RETURN_IF_ERROR(CheckName(absl::StrCat(path, ".", key), key, /*required=*/true));
    GENFARM_RETURN_IF_ERROR(CheckText(absl::StrCat(path, ".", key), value, kMaxLabelValueLength));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateJobSpec(const v1::JobSpec& spec) {
  GENFARM_RETURN_IF_ERROR(CheckName("name", spec.name(), /*required=*/true));
  GENFARM_RETURN_IF_ERROR(CheckName("project", spec.project(), /*required=*/true));
  GENFARM_RETURN_IF_ERROR(CheckName("shot", spec.shot(), /*required=*/false));
  GENFARM_RETURN_IF_ERROR(CheckRange("priority", spec.priority(), kPriorityRange));
  if (!v1::Tier_IsValid(spec.tier())) {
    return FieldError("tier", absl::StrCat("unknown tier ", spec.tier()));
  }
  GENFARM_RETURN_IF_ERROR(CheckText("submitter", spec.submitter(), kMaxNameLength));
  for (const auto& [key, value] : spec.labels()) {
    if (key.empty()) return FieldError("labels", "empty label name");
    GENFARM_RETURN_IF_ERROR(CheckName(absl::StrCat("labels.", key), key, /*required=*/true));
    GENFARM_RETURN_IF_ERROR(CheckText(absl::StrCat("labels.", key), value, kMaxLabelValueLength));
  }
  absl::flat_hash_set<int64_t> job_deps;
  for (int i = 0; i < spec.depends_on_jobs_size(); ++i) {
    const std::string path = absl::StrCat("depends_on_jobs[", i, "]");
    GENFARM_RETURN_IF_ERROR(CheckRange(path, spec.depends_on_jobs(i), kJobIdRange));
    if (!job_deps.insert(spec.depends_on_jobs(i)).second) {
      return FieldError(path, absl::StrCat("job ", spec.depends_on_jobs(i), " listed twice"));
    }
  }

  if (spec.stages_size() == 0) return FieldError("stages", "a job needs at least one stage");
  if (spec.stages_size() > kMaxStagesPerJob) {
    return FieldError("stages", absl::StrCat("a job may have at most ", kMaxStagesPerJob,
                                             " stages, got ", spec.stages_size()));
  }

  absl::flat_hash_map<std::string, int> stage_index;
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
      FramePattern output = *FramePattern::Parse(stage.output());
      for (int j = 0; j < i; ++j) {
        const v1::StageSpec& other = spec.stages(j);
        if (!IsDailies(other) && *FramePattern::Parse(other.output()) == output) {
          return FieldError(p + ".output",
                            absl::StrCat("'", stage.output(), "' names the same files as stages[",
                                         j, "].output"));
        }
      }
    }
    absl::StatusOr<FrameSet> frames = FrameSet::Parse(stage.frames(), kMaxFramesPerStage);
    if (!frames.ok()) return FieldError(p + ".frames", frames.status().message());
    total_frames += static_cast<int64_t>(frames->size());
    if (total_frames > kMaxFramesPerJob) {
      return FieldError("stages", absl::StrCat("the job has more than ", kMaxFramesPerJob,
                                               " frames over all stages (limit reached at ", p,
                                               " '", stage.name(), "')"));
    }
  }

  std::vector<std::vector<int>> edges(spec.stages_size());
  for (int i = 0; i < spec.stages_size(); ++i) {
    const v1::StageSpec& stage = spec.stages(i);
    const std::string path = absl::StrCat("stages[", i, "].after");
    absl::flat_hash_set<std::string> seen;
    for (const std::string& upstream : stage.after()) {
      auto it = stage_index.find(upstream);
      if (it == stage_index.end()) {
        return FieldError(path, absl::StrCat("unknown stage '", upstream, "'"));
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
  if (spec->tier() == v1::TIER_UNSPECIFIED) spec->set_tier(v1::TIER_BATCH);
  for (v1::StageSpec& stage : *spec->mutable_stages()) {
    if (stage.kind() == v1::STAGE_KIND_UNSPECIFIED) stage.set_kind(v1::STAGE_KIND_MODEL);
  }
  for (int i = 0; i < spec->stages_size(); ++i) {
    v1::StageSpec* stage = spec->mutable_stages(i);
    absl::StatusOr<FramePattern> input = FramePattern::Parse(stage->input());
    if (!input.ok()) continue;  // ValidateJobSpec reports it.
    for (int j = 0; j < i; ++j) {
      const v1::StageSpec& upstream = spec->stages(j);
      if (IsDailies(upstream) || upstream.name().empty()) continue;
      absl::StatusOr<FramePattern> output = FramePattern::Parse(upstream.output());
      if (!output.ok() || *output != *input) continue;
      const auto& after = stage->after();
      if (std::find(after.begin(), after.end(), upstream.name()) == after.end()) {
        stage->add_after(upstream.name());
      }
    }
  }
}

namespace {

// Reads the YAML tree into a JobSpec, remembering where each field was written so
// semantic errors found later can point at a line.
class YamlJobSpecReader {
 public:
  explicit YamlJobSpecReader(const JobSpecOptions& options) : options_(options) {}

  absl::StatusOr<v1::JobSpec> Read(const YAML::Node& root);

  // `status` with " (line N)" appended when its field path was seen in the YAML.
  absl::Status WithLine(const absl::Status& status) const;

 private:
  using Fields = std::vector<std::pair<std::string, YAML::Node>>;

  absl::StatusOr<Fields> ReadMapping(const YAML::Node& node, const std::string& path,
                                     std::initializer_list<absl::string_view> known);
  void Remember(const std::string& path, const YAML::Node& node);
  absl::Status Error(const std::string& path, absl::string_view why) const;

  absl::StatusOr<std::string> String(const YAML::Node& node, const std::string& path) const;
  absl::StatusOr<int64_t> Int(const YAML::Node& node, const std::string& path,
                              IntRange range) const;
  absl::StatusOr<std::vector<std::string>> StringList(const YAML::Node& node,
                                                      const std::string& path);
  absl::Status StringMap(const YAML::Node& node, const std::string& path,
                         google::protobuf::Map<std::string, std::string>* out);
  absl::StatusOr<int64_t> Size(const YAML::Node& node, const std::string& path) const;
  absl::StatusOr<int64_t> Seconds(const YAML::Node& node, const std::string& path) const;
  std::string ResolvePath(const std::string& path) const;

  absl::Status ReadStage(const YAML::Node& node, const std::string& p, v1::StageSpec* stage);

  const JobSpecOptions& options_;
  absl::flat_hash_map<std::string, int> lines_;  // field path -> 1-based line
};

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return absl::StrCat("'", node.Scalar(), "'");
    default:
      return "nothing";
  }
}

int EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<int> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    int diagonal = row[0];
    row[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      const int above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

bool IsAbsent(const YAML::Node& node) { return !node.IsDefined() || node.IsNull(); }

void YamlJobSpecReader::Remember(const std::string& path, const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (!mark.is_null() && mark.line >= 0) lines_.emplace(path, mark.line + 1);
}

absl::Status YamlJobSpecReader::WithLine(const absl::Status& status) const {
  if (status.ok()) return status;
  absl::string_view message = status.message();
  const size_t colon = message.find(": ");
  if (colon == absl::string_view::npos) return status;
  // The field itself, else its nearest parent (stages[1].window.after -> stages[1]).
  std::string path(message.substr(0, colon));
  while (!path.empty()) {
    auto it = lines_.find(path);
    if (it != lines_.end()) {
      return absl::Status(status.code(), absl::StrCat(message, " (line ", it->second, ")"));
    }
    const size_t cut = path.find_last_of(".[");
    if (cut == std::string::npos) break;
    path.resize(cut);
  }
  return status;
}

absl::Status YamlJobSpecReader::Error(const std::string& path, absl::string_view why) const {
  return WithLine(FieldError(path, why));
}

absl::StatusOr<YamlJobSpecReader::Fields> YamlJobSpecReader::ReadMapping(
    const YAML::Node& node, const std::string& path,
    std::initializer_list<absl::string_view> known) {
  const std::string where = path.empty() ? "top level" : path;
  if (!node.IsMap()) {
    return WithLine(absl::InvalidArgumentError(
        absl::StrCat(where, ": must be a mapping of fields, got ", Describe(node))));
  }
  Fields fields;
  absl::flat_hash_set<std::string> seen;
  for (const auto& entry : node) {
    const YAML::Node& key = entry.first;
    const std::string line =
        key.Mark().is_null() ? "" : absl::StrCat(" (line ", key.Mark().line + 1, ")");
    if (!key.IsScalar()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": field names must be plain strings, got ", Describe(key), line));
    }
    const std::string name = key.Scalar();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string hint;
      int best = 3;
      for (absl::string_view candidate : known) {
        const int d = EditDistance(name, candidate);
        if (d < best) {
          best = d;
          hint = absl::StrCat(" (did you mean '", candidate, "'?)");
        }
      }
      return absl::InvalidArgumentError(
          path.empty() ? absl::StrCat("unknown field '", name, "' at top level", hint, line)
                       : absl::StrCat(path, ": unknown field '", name, "'", hint, line));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": field '", name, "' given twice", line));
    }
    const std::string field_path = path.empty() ? name : absl::StrCat(path, ".", name);
    Remember(field_path, key);
    if (!IsAbsent(entry.second)) fields.emplace_back(name, entry.second);
  }
  return fields;
}

absl::StatusOr<std::string> YamlJobSpecReader::String(const YAML::Node& node,
                                                      const std::string& path) const {
  if (!node.IsScalar()) return Error(path, absl::StrCat("must be a string, got ", Describe(node)));
  return node.Scalar();
}

absl::StatusOr<int64_t> YamlJobSpecReader::Int(const YAML::Node& node, const std::string& path,
                                               IntRange range) const {
  int64_t value = 0;
  if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), &value)) {
    return Error(path, absl::StrCat("must be an integer, got ", Describe(node)));
  }
  GENFARM_RETURN_IF_ERROR(WithLine(CheckRange(path, value, range)));
  return value;
}

absl::StatusOr<std::vector<std::string>> YamlJobSpecReader::StringList(const YAML::Node& node,
                                                                       const std::string& path) {
  if (!node.IsSequence()) {
    return Error(path, absl::StrCat("must be a list of strings, got ", Describe(node)));
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string item_path = absl::StrCat(path, "[", i, "]");
    Remember(item_path, node[i]);
    GENFARM_ASSIGN_OR_RETURN(std::string item, String(node[i], item_path));
    out.push_back(std::move(item));
  }
  return out;
}

absl::Status YamlJobSpecReader::StringMap(const YAML::Node& node, const std::string& path,
                                          google::protobuf::Map<std::string, std::string>* out) {
  if (!node.IsMap()) {
    return Error(path, absl::StrCat("must be a mapping of names to values, got ", Describe(node)));
  }
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) {
      return Error(path, absl::StrCat("names must be plain strings, got ", Describe(entry.first)));
    }
    const std::string key = entry.first.Scalar();
    const std::string item_path = absl::StrCat(path, ".", key);
    Remember(item_path, entry.first);
    if (!entry.second.IsScalar()) {
      return Error(item_path, absl::StrCat("must be a single value, got ", Describe(entry.second)));
    }
    if (!out->insert({key, entry.second.Scalar()}).second) {
      return Error(item_path, "given twice");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> YamlJobSpecReader::Size(const YAML::Node& node,
                                                const std::string& path) const {
  const std::string help =
      "is not a size; use bytes or a number with KiB, MiB, GiB, TiB, KB, MB, GB or TB";
  if (!node.IsScalar()) return Error(path, absl::StrCat("must be a size, got ", Describe(node)));
  absl::string_view text = absl::StripAsciiWhitespace(node.Scalar());
  int64_t bytes = 0;
  if (absl::SimpleAtoi(text, &bytes)) {
    GENFARM_RETURN_IF_ERROR(WithLine(CheckRange(path, bytes, kVramRange)));
    return bytes;
  }
  static constexpr std::pair<absl::string_view, double> kUnits[] = {
      {"KiB", 1024.0},
      {"MiB", 1024.0 * 1024},
      {"GiB", 1024.0 * 1024 * 1024},
      {"TiB", 1024.0 * 1024 * 1024 * 1024},
      {"KB", 1e3},
      {"MB", 1e6},
      {"GB", 1e9},
      {"TB", 1e12},
      {"B", 1.0}};
  for (const auto& [unit, scale] : kUnits) {
    if (!absl::EndsWithIgnoreCase(text, unit)) continue;
    absl::string_view number =
        absl::StripAsciiWhitespace(text.substr(0, text.size() - unit.size()));
    double value = 0;
    if (number.empty() || !absl::ascii_isdigit(static_cast<unsigned char>(number.front())) ||
        !absl::SimpleAtod(number, &value)) {
      break;
    }
    const double result = std::floor(value * scale);
    if (!(result >= 0) || result >= 9.2e18) {
      return Error(path, absl::StrCat("'", text, "' is too large"));
    }
    return static_cast<int64_t>(result);
  }
  return Error(path, absl::StrCat("'", text, "' ", help));
}

absl::StatusOr<int64_t> YamlJobSpecReader::Seconds(const YAML::Node& node,
                                                   const std::string& path) const {
  if (!node.IsScalar()) {
    return Error(path, absl::StrCat("must be seconds or a duration, got ", Describe(node)));
  }
  int64_t seconds = 0;
  if (!absl::SimpleAtoi(node.Scalar(), &seconds)) {
    absl::Duration duration;
    if (!absl::ParseDuration(node.Scalar(), &duration)) {
      return Error(path, absl::StrCat("must be seconds or a duration like 90s, 10m, 1h; got '",
                                      node.Scalar(), "'"));
    }
    if (duration % absl::Seconds(1) != absl::ZeroDuration()) {
      return Error(path, absl::StrCat("'", node.Scalar(), "' is not a whole number of seconds"));
    }
    seconds = absl::ToInt64Seconds(duration);
  }
  GENFARM_RETURN_IF_ERROR(WithLine(CheckRange(path, seconds, kTimeoutRange)));
  return seconds;
}

std::string YamlJobSpecReader::ResolvePath(const std::string& path) const {
  if (options_.base_dir.empty() || path.empty() || path.front() == '/' ||
      absl::StrContains(path, "://")) {
    return path;
  }
  return (std::filesystem::path(options_.base_dir) / path).lexically_normal().string();
}

absl::Status YamlJobSpecReader::ReadStage(const YAML::Node& node, const std::string& p,
                                          v1::StageSpec* stage) {
  Remember(p, node);
  GENFARM_ASSIGN_OR_RETURN(
      Fields fields,
      ReadMapping(node, p,
                  {"name", "kind", "model", "input", "output", "frames", "chunk", "retries",
                   "timeout", "gpus", "vram", "tags", "seed", "params", "after", "window"}));
  stage->set_kind(v1::STAGE_KIND_MODEL);
  stage->set_chunk(kDefaultChunk);
  stage->set_retries(kDefaultRetries);
  for (const auto& [name, value] : fields) {
    const std::string path = absl::StrCat(p, ".", name);
    if (name == "name") {
      GENFARM_ASSIGN_OR_RETURN(*stage->mutable_name(), String(value, path));
    } else if (name == "kind") {
      GENFARM_ASSIGN_OR_RETURN(std::string kind, String(value, path));
      if (kind == "model") {
        stage->set_kind(v1::STAGE_KIND_MODEL);
      } else if (kind == "dailies") {
        stage->set_kind(v1::STAGE_KIND_DAILIES);
      } else {
        return Error(path, absl::StrCat("must be one of model, dailies; got '", kind, "'"));
      }
    } else if (name == "model") {
      GENFARM_ASSIGN_OR_RETURN(*stage->mutable_model(), String(value, path));
    } else if (name == "input") {
      GENFARM_ASSIGN_OR_RETURN(std::string input, String(value, path));
      stage->set_input(ResolvePath(input));
    } else if (name == "output") {
      GENFARM_ASSIGN_OR_RETURN(std::string output, String(value, path));
      stage->set_output(ResolvePath(output));
    } else if (name == "frames") {
      GENFARM_ASSIGN_OR_RETURN(*stage->mutable_frames(), String(value, path));
    } else if (name == "chunk") {
      GENFARM_ASSIGN_OR_RETURN(int64_t chunk, Int(value, path, kChunkRange));
      stage->set_chunk(static_cast<int32_t>(chunk));
    } else if (name == "retries") {
      GENFARM_ASSIGN_OR_RETURN(int64_t retries, Int(value, path, kRetriesRange));
      stage->set_retries(static_cast<int32_t>(retries));
    } else if (name == "timeout") {
      GENFARM_ASSIGN_OR_RETURN(int64_t seconds, Seconds(value, path));
      stage->set_timeout_seconds(static_cast<int32_t>(seconds));
    } else if (name == "gpus") {
      GENFARM_ASSIGN_OR_RETURN(int64_t gpus, Int(value, path, kGpusRange));
      stage->set_gpus(static_cast<int32_t>(gpus));
    } else if (name == "vram") {
      GENFARM_ASSIGN_OR_RETURN(int64_t bytes, Size(value, path));
      stage->set_vram_bytes(bytes);
    } else if (name == "tags") {
      GENFARM_ASSIGN_OR_RETURN(std::vector<std::string> tags, StringList(value, path));
      for (std::string& tag : tags) stage->add_tags(std::move(tag));
    } else if (name == "seed") {
      GENFARM_ASSIGN_OR_RETURN(int64_t seed, Int(value, path, kInt64Range));
      stage->set_seed(seed);
    } else if (name == "params") {
      GENFARM_RETURN_IF_ERROR(StringMap(value, path, stage->mutable_params()));
    } else if (name == "after") {
      GENFARM_ASSIGN_OR_RETURN(std::vector<std::string> after, StringList(value, path));
      for (std::string& upstream : after) stage->add_after(std::move(upstream));
    } else if (name == "window") {
      GENFARM_ASSIGN_OR_RETURN(Fields window, ReadMapping(value, path, {"before", "after"}));
      for (const auto& [side, count] : window) {
        const std::string side_path = absl::StrCat(path, ".", side);
        GENFARM_ASSIGN_OR_RETURN(int64_t frames, Int(count, side_path, kWindowRange));
        if (side == "before") {
          stage->set_window_before(static_cast<int32_t>(frames));
        } else {
          stage->set_window_after(static_cast<int32_t>(frames));
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::JobSpec> YamlJobSpecReader::Read(const YAML::Node& root) {
  if (IsAbsent(root)) return absl::InvalidArgumentError("empty job spec");
  GENFARM_ASSIGN_OR_RETURN(Fields fields,
                           ReadMapping(root, "",
                                       {"name", "project", "shot", "priority", "tier", "submitter",
                                        "labels", "depends_on_jobs", "stages"}));
  v1::JobSpec spec;
  spec.set_priority(kDefaultPriority);
  spec.set_tier(v1::TIER_BATCH);
  for (const auto& [name, value] : fields) {
    const std::string& path = name;
    if (name == "name") {
      GENFARM_ASSIGN_OR_RETURN(*spec.mutable_name(), String(value, path));
    } else if (name == "project") {
      GENFARM_ASSIGN_OR_RETURN(*spec.mutable_project(), String(value, path));
    } else if (name == "shot") {
      GENFARM_ASSIGN_OR_RETURN(*spec.mutable_shot(), String(value, path));
    } else if (name == "submitter") {
      GENFARM_ASSIGN_OR_RETURN(*spec.mutable_submitter(), String(value, path));
    } else if (name == "priority") {
      GENFARM_ASSIGN_OR_RETURN(int64_t priority, Int(value, path, kPriorityRange));
      spec.set_priority(static_cast<int32_t>(priority));
    } else if (name == "tier") {
      GENFARM_ASSIGN_OR_RETURN(std::string tier, String(value, path));
      if (tier == "batch") {
        spec.set_tier(v1::TIER_BATCH);
      } else if (tier == "dailies") {
        spec.set_tier(v1::TIER_DAILIES);
      } else if (tier == "interactive") {
        spec.set_tier(v1::TIER_INTERACTIVE);
      } else {
        return Error(path,
                     absl::StrCat("must be one of batch, dailies, interactive; got '", tier, "'"));
      }
    } else if (name == "labels") {
      GENFARM_RETURN_IF_ERROR(StringMap(value, path, spec.mutable_labels()));
    } else if (name == "depends_on_jobs") {
      if (!value.IsSequence()) {
        return Error(path, absl::StrCat("must be a list of job ids, got ", Describe(value)));
      }
      for (size_t i = 0; i < value.size(); ++i) {
        const std::string item_path = absl::StrCat(path, "[", i, "]");
        Remember(item_path, value[i]);
        GENFARM_ASSIGN_OR_RETURN(int64_t id, Int(value[i], item_path, kJobIdRange));
        spec.add_depends_on_jobs(id);
      }
    } else if (name == "stages") {
      if (!value.IsSequence()) {
        return Error(path, absl::StrCat("must be a list of stages, got ", Describe(value)));
      }
      for (size_t i = 0; i < value.size(); ++i) {
        GENFARM_RETURN_IF_ERROR(
            ReadStage(value[i], absl::StrCat("stages[", i, "]"), spec.add_stages()));
      }
    }
  }
  return spec;
}

}  // namespace

absl::StatusOr<v1::JobSpec> ParseJobSpecYaml(std::string_view yaml, const JobSpecOptions& options) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return absl::InvalidArgumentError(absl::StrCat("YAML: ", e.msg));
    return absl::InvalidArgumentError(
        absl::StrCat("line ", e.mark.line + 1, ", column ", e.mark.column + 1, ": ", e.msg));
  }
  YamlJobSpecReader reader(options);
  absl::StatusOr<v1::JobSpec> spec;
  try {
    spec = reader.Read(root);
  } catch (const YAML::Exception& e) {
    // Node accessors throw only on shapes the reader already checks; keep it an error anyway.
    return absl::InvalidArgumentError(absl::StrCat("YAML: ", e.what()));
  }
  if (!spec.ok()) return spec.status();
  ApplyJobSpecDefaults(&*spec);
  GENFARM_RETURN_IF_ERROR(reader.WithLine(ValidateJobSpec(*spec)));
  return spec;
}

absl::StatusOr<v1::JobSpec> ParseJobSpecFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) {
    return absl::UnavailableError(absl::StrCat(path, ": cannot read"));
  }
  JobSpecOptions options;
  options.base_dir =
      std::filesystem::absolute(std::filesystem::path(path), ec).parent_path().string();
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(text.str(), options);
  if (!spec.ok()) {
    return absl::Status(spec.status().code(), absl::StrCat(path, ": ", spec.status().message()));
  }
  return spec;
}

}  // namespace genfarm
