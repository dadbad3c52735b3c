// SetFlagsUsage: makes `--help` of a GenFarm binary list the project's own flags.
//
// Abseil's default `--help` shows only flags defined in a file named like the binary
// (genfarm-scheduler.cc, genfarm-scheduler_main.cc), so every GenFarm daemon, whose flags live in
// main.cc, printed "No flags matched". This installs help filters that accept every flag
// defined in the project's own sources (scheduler/, worker/, client/, common/, tests/) and hide
// Abseil's built-in ones (still listed by `--helpfull`). Call it first in main(), before
// absl::ParseCommandLine.
//
//   int main(int argc, char** argv) {
//     genfarm::SetFlagsUsage("genfarm-scheduler", "jobs, tasks and workers over gRPC.");
//     absl::ParseCommandLine(argc, argv);
//   }
#ifndef GENFARM_COMMON_FLAGS_USAGE_H_
#define GENFARM_COMMON_FLAGS_USAGE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace genfarm {

// Sets the usage message (Abseil prints "PROGRAM: SUMMARY") and the help filters; `--version`
// prints "PROGRAM VERSION".
void SetFlagsUsage(absl::string_view program, absl::string_view summary);

// The path of a flag's defining file relative to the source tree ("scheduler/main.cc"),
// whether the compiler saw it absolute or relative (ccache's base_dir makes it "../x.cc").
// Files outside the project are returned unchanged.
std::string ProjectRelativeFlagFile(absl::string_view filename);

// Whether the flags of `filename` (as returned by ProjectRelativeFlagFile) belong in --help.
bool IsProjectFlagFile(absl::string_view filename);

}  // namespace genfarm

#endif  // GENFARM_COMMON_FLAGS_USAGE_H_
