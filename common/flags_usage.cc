#include "common/flags_usage.h"

#include <vector>

#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

#ifndef GENFARM_VERSION
#define GENFARM_VERSION "unknown"
#endif

namespace genfarm {
namespace {

// The source tree's top-level folders that hold flag definitions.
constexpr absl::string_view kProjectDirs[] = {"scheduler", "worker", "client", "common", "tests"};

bool IsProjectDir(absl::string_view part) {
  for (absl::string_view dir : kProjectDirs) {
    if (part == dir) return true;
  }
  return false;
}

}  // namespace

std::string ProjectRelativeFlagFile(absl::string_view filename) {
  absl::string_view rest = filename;
#ifdef GENFARM_SOURCE_DIR
  // An absolute path inside the checkout: strip the checkout, even if a parent folder happens
  // to be called "worker".
  if (absl::ConsumePrefix(&rest, GENFARM_SOURCE_DIR) && absl::ConsumePrefix(&rest, "/")) {
    return std::string(rest);
  }
#endif
  // Relative ("../scheduler/main.cc") or from another checkout: from the first project folder.
  std::vector<absl::string_view> parts = absl::StrSplit(filename, '/');
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (IsProjectDir(parts[i])) {
      return absl::StrJoin(parts.begin() + static_cast<std::ptrdiff_t>(i), parts.end(), "/");
    }
  }
  return std::string(filename);
}

bool IsProjectFlagFile(absl::string_view filename) {
  const size_t slash = filename.find('/');
  return slash != absl::string_view::npos && IsProjectDir(filename.substr(0, slash));
}

void SetFlagsUsage(absl::string_view program, absl::string_view summary) {
  // Abseil prints "<program>: " before this message.
  absl::SetProgramUsageMessage(absl::StrCat(summary, "\n\nUsage: ", program,
                                            " [--flag=value ...]   (--helpfull also lists "
                                            "Abseil's own flags)"));
  absl::FlagsUsageConfig config;
  config.contains_helpshort_flags = IsProjectFlagFile;
  config.contains_help_flags = IsProjectFlagFile;
  config.contains_helppackage_flags = IsProjectFlagFile;
  config.normalize_filename = ProjectRelativeFlagFile;
  config.version_string = [name = std::string(program)] {
    return absl::StrCat(name, " ", GENFARM_VERSION, "\n");
  };
  absl::SetFlagsUsageConfig(config);
}

}  // namespace genfarm
