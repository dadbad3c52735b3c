#include "worker/runtime/manifest.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace genfarm::worker {
namespace {

using nlohmann::json;

// Field readers. Each names the field (with its parent for nested ones) in its error.
class FieldReader {
 public:
  FieldReader(const json& object, std::string origin, std::string prefix = "")
      : object_(object), origin_(std::move(origin)), prefix_(std::move(prefix)) {}

  absl::Status Error(const std::string& field, const std::string& what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(origin_, ": field '", prefix_, field, "' ", what));
  }

  const json* Find(const std::string& field) const {
    auto it = object_.find(field);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  absl::StatusOr<std::string> String(const std::string& field, bool required,
                                     std::string fallback = "") const {
    const json* v = Find(field);
    if (v == nullptr) {
      if (required) return Error(field, "is required");
      return fallback;
    }
    if (!v->is_string() || v->get<std::string>().empty()) {
      return Error(field, "must be a non-empty string");
    }
    return v->get<std::string>();
  }

  // Integers in [min, max]; `what` completes "must be ...".
  absl::StatusOr<int64_t> Int(const std::string& field, bool required, int64_t fallback,
                              int64_t min, int64_t max, const std::string& what) const {
    const json* v = Find(field);
    if (v == nullptr) {
      if (required) return Error(field, "is required");
      return fallback;
    }
    int64_t value = 0;
    if (v->is_number_unsigned()) {
      const uint64_t u = v->get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Error(field, absl::StrCat("must be ", what));
      }
      value = static_cast<int64_t>(u);
    } else if (v->is_number_integer()) {
      value = v->get<int64_t>();
    } else if (v->is_number_float()) {
      // 2.0 is fine, 2.5 is not. Range first: casting a double outside int64's range
      // (e.g. "memory_bytes": 3e19, found by tests/fuzz) is undefined behaviour.
      const double d = v->get<double>();
      if (!(d >= -9.2e18 && d <= 9.2e18) || d != std::trunc(d)) {
        return Error(field, absl::StrCat("must be ", what));
      }
      value = static_cast<int64_t>(d);
    } else {
      return Error(field, absl::StrCat("must be ", what));
    }
    if (value < min || value > max) return Error(field, absl::StrCat("must be ", what));
    return value;
  }

  absl::StatusOr<bool> Bool(const std::string& field, bool fallback) const {
    const json* v = Find(field);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) return Error(field, "must be true or false");
    return v->get<bool>();
  }

 private:
  const json& object_;
  std::string origin_;
  std::string prefix_;
};

bool IsHexSha256(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsSafeRelativePath(const std::string& path) {
  return !path.empty() && path[0] != '/' && path.find("..") == std::string::npos;
}

}  // namespace

absl::StatusOr<Manifest> ParseManifest(const std::string& json_text, const std::string& origin) {
  json doc = json::parse(json_text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": not valid JSON"));
  }
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": top level must be a JSON object"));
  }
  FieldReader f(doc, origin);
  Manifest m;
  GENFARM_ASSIGN_OR_RETURN(m.name, f.String("name", /*required=*/true));
  for (char c : m.name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return f.Error("name", "may contain only letters, digits, '-', '_' and '.'");
    }
  }
  GENFARM_ASSIGN_OR_RETURN(m.version, f.String("version", true));
  GENFARM_ASSIGN_OR_RETURN(m.file, f.String("file", true));
  if (!IsSafeRelativePath(m.file)) {
    return f.Error("file", "must be a path relative to the model folder");
  }
  GENFARM_ASSIGN_OR_RETURN(std::string sha, f.String("sha256", true));
  if (!IsHexSha256(sha)) return f.Error("sha256", "must be 64 hexadecimal digits");
  m.sha256 = absl::AsciiStrToLower(sha);

  GENFARM_ASSIGN_OR_RETURN(std::string kind, f.String("kind", true));
  if (kind == "upscale") {
    m.kind = ModelKind::kUpscale;
  } else if (kind == "interpolate") {
    m.kind = ModelKind::kInterpolate;
  } else {
    return f.Error("kind", absl::StrCat("has unknown value \"", kind,
                                        "\" (expected \"upscale\" or \"interpolate\")"));
  }
  const bool upscale = m.kind == ModelKind::kUpscale;

  GENFARM_ASSIGN_OR_RETURN(int64_t scale,
                           f.Int("scale", /*required=*/upscale, 1, 1, 64, "a positive integer"));
  if (!upscale && scale != 1) return f.Error("scale", "must be 1 for kind \"interpolate\"");
  m.scale = static_cast<int>(scale);
  GENFARM_ASSIGN_OR_RETURN(int64_t inputs,
                           f.Int("inputs", false, upscale ? 1 : 2, 1, 64, "a positive integer"));
  if (inputs != (upscale ? 1 : 2)) {
    return f.Error("inputs", upscale ? "must be 1 for kind \"upscale\""
                                     : "must be 2 for kind \"interpolate\"");
  }
  m.inputs = static_cast<int>(inputs);

  if (const json* window = f.Find("window")) {
    if (!window->is_object()) return f.Error("window", "must be an object {before, after}");
    FieldReader w(*window, origin, "window.");
    GENFARM_ASSIGN_OR_RETURN(int64_t before,
                             w.Int("before", false, 0, 0, 1000, "a non-negative integer"));
    GENFARM_ASSIGN_OR_RETURN(int64_t after,
                             w.Int("after", false, 0, 0, 1000, "a non-negative integer"));
    m.window_before = static_cast<int>(before);
    m.window_after = static_cast<int>(after);
  }

  GENFARM_ASSIGN_OR_RETURN(m.color_space, f.String("color_space", false, "srgb"));
  if (const json* range = f.Find("value_range")) {
    if (!range->is_array() || range->size() != 2 || !(*range)[0].is_number() ||
        !(*range)[1].is_number()) {
      return f.Error("value_range", "must be an array of two numbers [min, max]");
    }
    m.value_min = (*range)[0].get<float>();
    m.value_max = (*range)[1].get<float>();
    if (!(m.value_min < m.value_max)) return f.Error("value_range", "must have min < max");
  }

  GENFARM_ASSIGN_OR_RETURN(int64_t pad,
                           f.Int("pad_multiple", false, 1, 1, 4096, "a positive integer"));
  m.pad_multiple = static_cast<int>(pad);
  if (const json* tile = f.Find("tile")) {
    if (!tile->is_object()) return f.Error("tile", "must be an object {size, overlap}");
    FieldReader t(*tile, origin, "tile.");
    GENFARM_ASSIGN_OR_RETURN(
        int64_t size, t.Int("size", true, 0, 0, 1 << 16, "a non-negative integer (0 = no tiling)"));
    GENFARM_ASSIGN_OR_RETURN(int64_t overlap,
                             t.Int("overlap", false, 0, 0, 1 << 16, "a non-negative integer"));
    if (size > 0 && overlap * 2 >= size) {
      return t.Error("overlap", "must be less than half of tile.size");
    }
    if (size % m.pad_multiple != 0) {
      return t.Error("size",
                     absl::StrCat("must be a multiple of pad_multiple (", m.pad_multiple, ")"));
    }
    m.tile_size = static_cast<int>(size);
    m.tile_overlap = static_cast<int>(overlap);
  }
  GENFARM_ASSIGN_OR_RETURN(int64_t batch,
                           f.Int("batch_size", false, 1, 1, 4096, "a positive integer"));
  m.batch_size = static_cast<int>(batch);
  GENFARM_ASSIGN_OR_RETURN(m.memory_bytes,
                           f.Int("memory_bytes", true, 0, 1, std::numeric_limits<int64_t>::max(),
                                 "a positive integer (bytes)"));
  GENFARM_ASSIGN_OR_RETURN(m.half, f.Bool("half", false));
  GENFARM_ASSIGN_OR_RETURN(m.seeded, f.Bool("seeded", false));

  if (const json* source = f.Find("source")) {
    if (!source->is_object()) return f.Error("source", "must be an object");
    FieldReader s(*source, origin, "source.");
    GENFARM_ASSIGN_OR_RETURN(m.source.package, s.String("package", false));
    GENFARM_ASSIGN_OR_RETURN(m.source.tarball_sha256, s.String("tarball_sha256", false));
    GENFARM_ASSIGN_OR_RETURN(m.source.license, s.String("license", false));
    if (const json* files = s.Find("files")) {
      if (!files->is_array()) return s.Error("files", "must be an array");
      // Entries are provenance only: strings, or objects such as {path, sha256}, kept as JSON.
      for (const json& file : *files) {
        m.source.files.push_back(file.is_string() ? file.get<std::string>() : file.dump());
      }
    }
  }
  return m;
}

}  // namespace genfarm::worker
