#include "common/path_containment.h"

#include <limits.h>
#include <stdlib.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace genfarm {

std::string NormalizePath(absl::string_view path) {
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  const bool absolute = !path.empty() && path.front() == '/';
  std::string joined = absl::StrJoin(parts, "/");
  return absolute ? absl::StrCat("/", joined) : joined;
}

bool IsUnder(absl::string_view path, absl::string_view root) {
  const std::string p = NormalizePath(path);
  const std::string r = NormalizePath(root);
  if (r == "/") return !p.empty() && p.front() == '/';
  return p == r || (p.size() > r.size() && p.compare(0, r.size(), r) == 0 && p[r.size()] == '/');
}

absl::Status CheckPathContained(absl::string_view field, absl::string_view pattern,
                                const std::vector<std::string>& roots) {
  if (roots.empty()) return absl::OkStatus();
  if (pattern.empty() || pattern.front() != '/') {
    return absl::PermissionDeniedError(absl::StrCat(
        field, ": '", pattern, "' must be an absolute path under the project's storage roots (",
        absl::StrJoin(roots, ", "), ")"));
  }
  for (const std::string& root : roots) {
    if (IsUnder(pattern, root)) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat(field, ": '", pattern, "' (", NormalizePath(pattern),
                   ") is outside the project's storage roots (", absl::StrJoin(roots, ", "), ")"));
}

absl::Status CheckSpecContained(const v1::JobSpec& spec, const std::vector<std::string>& roots) {
  if (roots.empty()) return absl::OkStatus();
  for (int i = 0; i < spec.stages_size(); ++i) {
    const v1::StageSpec& stage = spec.stages(i);
    if (!stage.input().empty()) {
      if (absl::Status s =
              CheckPathContained(absl::StrCat("stages[", i, "].input"), stage.input(), roots);
          !s.ok())
        return s;
    }
    if (absl::Status s =
            CheckPathContained(absl::StrCat("stages[", i, "].output"), stage.output(), roots);
        !s.ok())
      return s;
  }
  return absl::OkStatus();
}

absl::Status CheckResolvedContained(absl::string_view field, absl::string_view path,
                                    const std::vector<std::string>& roots) {
  if (roots.empty()) return absl::OkStatus();
  std::string existing = NormalizePath(path);
  std::string rest;
  // Walk up to the deepest ancestor that exists; realpath resolves every symlink in it.
  while (true) {
    char resolved[PATH_MAX];
    if (realpath(existing.c_str(), resolved) != nullptr) {
      std::string full = rest.empty() ? std::string(resolved) : absl::StrCat(resolved, "/", rest);
      if (absl::Status s = CheckPathContained(field, full, roots); !s.ok()) {
        return absl::PermissionDeniedError(absl::StrCat(field, ": '", path, "' resolves to '", full,
                                                        "', outside the project's storage roots (",
                                                        absl::StrJoin(roots, ", "), ")"));
      }
      return absl::OkStatus();
    }
    const size_t slash = existing.rfind('/');
    if (slash == std::string::npos || existing == "/") break;
    const std::string leaf = existing.substr(slash + 1);
    rest = rest.empty() ? leaf : absl::StrCat(leaf, "/", rest);
    existing = slash == 0 ? "/" : existing.substr(0, slash);
  }
  return CheckPathContained(field, path, roots);
}

absl::Status CheckTaskPathsContained(const v1::Assignment& assignment, const FramePattern& input,
                                     const FramePattern& output) {
  if (assignment.storage_roots().empty()) return absl::OkStatus();
  const std::vector<std::string> roots(assignment.storage_roots().begin(),
                                       assignment.storage_roots().end());
  auto check = [&](absl::string_view field, const FramePattern& pattern,
                   int64_t frame) -> absl::Status {
    return CheckResolvedContained(field, pattern.Format(frame), roots);
  };
  for (int64_t frame : assignment.stage_frames()) {
    if (absl::Status s = check("input", input, frame); !s.ok()) return s;
  }
  for (int64_t frame : assignment.frames()) {
    if (absl::Status s = check("input", input, frame); !s.ok()) return s;
    if (absl::Status s = check("output", output, frame); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace genfarm
