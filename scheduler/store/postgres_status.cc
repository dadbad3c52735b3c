#include "scheduler/store/postgres_status.h"

namespace genfarm::scheduler {

absl::StatusCode SqlStateToCode(const std::string& state) {
  const std::string cls = state.substr(0, 2);
  if (cls == "23") return absl::StatusCode::kAlreadyExists;      // integrity constraint
  if (cls == "22") return absl::StatusCode::kInvalidArgument;    // data exception (bad UTF-8...)
  if (cls == "40") return absl::StatusCode::kAborted;            // serialization failure, deadlock
  if (cls == "53") return absl::StatusCode::kResourceExhausted;  // disk full, out of memory
  if (cls == "08" || cls == "57") return absl::StatusCode::kUnavailable;  // connection, shutdown
  if (state == "55P03") return absl::StatusCode::kUnavailable;  // lock_timeout: busy, retry
  if (cls == "28" || state == "42501") return absl::StatusCode::kPermissionDenied;
  if (cls == "3D") return absl::StatusCode::kFailedPrecondition;  // no such database
  return absl::StatusCode::kInternal;
}

std::string OneLine(absl::string_view what) {
  std::string out(what);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  for (char& c : out) {
    if (c == '\n') c = ' ';
  }
  return out;
}

}  // namespace genfarm::scheduler
