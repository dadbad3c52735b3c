// Path containment: a project's frames live under its storage roots (roles file). The
// scheduler checks a spec's patterns lexically at submit (no filesystem access: the
// scheduler never touches frame paths); the worker checks again with symlinks resolved,
// before it opens anything.
//
//   GENFARM_RETURN_IF_ERROR(CheckSpecContained(spec, authorizer.StorageRoots(spec.project())));
//   GENFARM_RETURN_IF_ERROR(CheckTaskPathsContained(assignment, input, output));  // worker
//
// With roots configured a pattern must be absolute (a relative one would depend on the
// worker's working directory); with none, nothing is checked.
#ifndef GENFARM_COMMON_PATH_CONTAINMENT_H_
#define GENFARM_COMMON_PATH_CONTAINMENT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/frame_pattern.h"
#include "genfarm/v1/types.pb.h"
#include "genfarm/v1/worker_service.pb.h"

namespace genfarm {

// "/a/b/../c/./d" -> "/a/c/d"; ".." above the root stays at "/". Lexical only.
std::string NormalizePath(absl::string_view path);

// Whether normalised `path` is `root` or below it (normalised too).
bool IsUnder(absl::string_view path, absl::string_view root);

// PERMISSION_DENIED naming `field` when the pattern is relative or (normalised) outside
// every root; OK when `roots` is empty.
absl::Status CheckPathContained(absl::string_view field, absl::string_view pattern,
                                const std::vector<std::string>& roots);

// Every stage's input and output ("stages[i].input" / "stages[i].output").
absl::Status CheckSpecContained(const v1::JobSpec& spec, const std::vector<std::string>& roots);

// The worker's check: `path`'s deepest existing ancestor resolved with realpath (symlinks
// followed), the rest appended, then CheckPathContained. Reads the filesystem.
absl::Status CheckResolvedContained(absl::string_view field, absl::string_view path,
                                    const std::vector<std::string>& roots);

// The worker's check of one assignment against the roots it carries: every frame it reads
// (`frames` and `stage_frames` through `input`) and writes (`frames` through `output`).
absl::Status CheckTaskPathsContained(const v1::Assignment& assignment, const FramePattern& input,
                                     const FramePattern& output);

}  // namespace genfarm

#endif  // GENFARM_COMMON_PATH_CONTAINMENT_H_
