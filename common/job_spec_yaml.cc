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
#include "common/enum_names.h"
#include "common/job_spec.h"
#include "common/job_spec_rules.h"
#include "common/status_macros.h"
#include "common/tier.h"

// The YAML half of job_spec.h: ParseJobSpecYaml and ParseJobSpecFile. The semantic checks
// are ValidateJobSpec's (job_spec.cc), which the reader runs last.
namespace genfarm {

using job_spec_internal::CheckRange;
using job_spec_internal::FieldError;
using job_spec_internal::IntRange;
using job_spec_internal::kChunkRange;
using job_spec_internal::kDefaultChunk;
using job_spec_internal::kDefaultPriority;
using job_spec_internal::kDefaultRetries;
using job_spec_internal::kGpusRange;
using job_spec_internal::kInt64Range;
using job_spec_internal::kJobIdRange;
using job_spec_internal::kPriorityRange;
using job_spec_internal::kRetriesRange;
using job_spec_internal::kTimeoutRange;
using job_spec_internal::kVramRange;
using job_spec_internal::kWindowRange;

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
  // A value named as in enum_names.h, e.g. the tier: `parse` is ParseTier, `names` TierNames().
  template <typename E>
  absl::StatusOr<E> Enum(const YAML::Node& node, const std::string& path,
                         std::optional<E> (*parse)(absl::string_view),
                         const std::vector<absl::string_view>& names) const {
    GENFARM_ASSIGN_OR_RETURN(std::string text, String(node, path));
    std::optional<E> parsed = parse(text);
    if (!parsed) {
      return Error(
          path, absl::StrCat("must be one of ", absl::StrJoin(names, ", "), "; got '", text, "'"));
    }
    return *parsed;
  }
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
      GENFARM_ASSIGN_OR_RETURN(v1::StageKind kind,
                               Enum(value, path, ParseStageKind, StageKindNames()));
      stage->set_kind(kind);
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
  spec.set_tier(kDefaultTier);
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
      GENFARM_ASSIGN_OR_RETURN(v1::Tier tier, Enum(value, path, ParseTier, TierNames()));
      spec.set_tier(tier);
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
      // Before reading any: ValidateJobSpec says the same, but only after all were read.
      if (value.size() > static_cast<size_t>(kMaxStagesPerJob)) {
        return Error(path, absl::StrCat("a job may have at most ", kMaxStagesPerJob,
                                        " stages, got ", value.size()));
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
  if (yaml.size() > static_cast<size_t>(kMaxJobSpecBytes)) {
    return FieldError("spec", absl::StrCat("a job spec may be at most ", kMaxJobSpecBytes,
                                           " bytes of YAML, got ", yaml.size()));
  }
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
