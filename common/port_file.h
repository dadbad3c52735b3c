// WritePortFile: tells a test or a script which ports a daemon really bound (after listening on
// port 0) by writing a small "key=value" file atomically: readers see either no file or the
// whole file, never a half-written one.
//
//   GENFARM_RETURN_IF_ERROR(genfarm::WritePortFile(
//       "/tmp/farm/scheduler.ports", {{"grpc_port", 41235}, {"http_port", 41236}}));
//   // /tmp/farm/scheduler.ports:
//   //   grpc_port=41235
//   //   http_port=41236
#ifndef GENFARM_COMMON_PORT_FILE_H_
#define GENFARM_COMMON_PORT_FILE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace genfarm {

// Writes one "key=value" line per entry to `path` + ".tmp-<pid>", then renames it over `path`.
absl::Status WritePortFile(const std::string& path,
                           const std::vector<std::pair<std::string, int>>& ports);

}  // namespace genfarm

#endif  // GENFARM_COMMON_PORT_FILE_H_
