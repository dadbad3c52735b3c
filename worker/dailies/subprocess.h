// Runs an external program (ffmpeg) from an argv vector, without a shell, capturing its
// stderr, and stops it if the task is cancelled.
//
//   std::vector<std::string> argv = {"ffmpeg", "-y", "-i", "in/%06d.png", "out.mp4"};
//   GENFARM_ASSIGN_OR_RETURN(SubprocessResult r, RunSubprocess(argv, &cancel));
//   if (r.exit_code != 0) log(r.stderr_tail);
//
// Errors: FailedPrecondition when the program is not on PATH, Cancelled when `cancel`
// fired (the child gets SIGTERM, then SIGKILL), Internal for pipe/spawn/wait failures.
// A non-zero exit is not an error of RunSubprocess: the caller reads exit_code.
// Thread-safety: safe to call from several threads at once.
#ifndef GENFARM_WORKER_DAILIES_SUBPROCESS_H_
#define GENFARM_WORKER_DAILIES_SUBPROCESS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/pipeline/cancel_token.h"

namespace genfarm::worker {

struct SubprocessResult {
  int exit_code = 0;        // 128 + signal when the child was killed by a signal
  std::string stderr_tail;  // the last kStderrTailBytes of stderr (stdout is discarded)
};

inline constexpr size_t kStderrTailBytes = 8192;

// argv[0] is looked up on PATH. `cancel` may be null.
absl::StatusOr<SubprocessResult> RunSubprocess(const std::vector<std::string>& argv,
                                               const CancelToken* cancel);

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_DAILIES_SUBPROCESS_H_
