// BlamePolicy: which failures are the worker's fault, and how long a worker that keeps
// failing one job's tasks is kept away from that job (a blocklist with a forgive time,
// as in Deadline's "bad slave" detection). The core keeps the per-job failure counts
// (mechanism) and asks this policy what they mean.
//
//   ThresholdBlamePolicy blame(/*failures=*/3, /*forgive=*/absl::Minutes(10));
//   if (blame.BlamesWorker(reason) && ++count > 0) until = now + blame.KeepOffFor(count);
//
// Implementations are pure (no clock, no I/O).
#ifndef GENFARM_SCHEDULER_POLICY_BLAME_POLICY_H_
#define GENFARM_SCHEDULER_POLICY_BLAME_POLICY_H_

#include "absl/time/time.h"
#include "genfarm/v1/types.pb.h"

namespace genfarm::scheduler {

class BlamePolicy {
 public:
  virtual ~BlamePolicy() = default;

  // Whether a charged failure for `reason` counts against the worker that ran it.
  virtual bool BlamesWorker(v1::FailureReason reason) const = 0;

  // How long a worker with `failures` blamed failures on one job is kept off that job;
  // zero while it may still take the job's work.
  virtual absl::Duration KeepOffFor(int failures) const = 0;
};

// The default: only faults of the worker itself blame it; `failures` of them keep it off the
// job for `forgive`. A fault that would fail the same way on every worker must not blame any,
// or every worker would be kept off the rest of the job. The table (docs/failures.md):
//
//   reason             blames  why
//   input_missing      no      the plate is missing for everyone
//   input_corrupt      no      the plate is bad for everyone
//   bad_spec           no      the spec is wrong for everyone
//   output_write       no      storage fault (permissions, read-only, I/O error on the share)
//   disk_full          no      storage fault (no space where the output goes)
//   canceled/preempted no      the scheduler's or a user's decision
//   out_of_memory      yes     this worker's device (or host) is too small or too busy
//   model_error        yes     this worker's model files or runtime misbehave
//   model_unavailable  yes     this worker's repository lacks the model
//   timeout            yes     this worker is slow or hung
//   worker_lost        yes     this worker died, froze past its lease or lost the network
//   internal           yes     a bug or fault on this worker
//
// Storage faults: a worker whose own mount is broken is not kept off the job for it; its next
// task fails the same way, quickly, and the operator sees output_write in `genfarm status`.
class ThresholdBlamePolicy : public BlamePolicy {
 public:
  ThresholdBlamePolicy(int failures, absl::Duration forgive)
      : failures_(failures), forgive_(forgive) {}

  bool BlamesWorker(v1::FailureReason reason) const override {
    switch (reason) {
      case v1::FAILURE_REASON_INPUT_MISSING:
      case v1::FAILURE_REASON_INPUT_CORRUPT:
      case v1::FAILURE_REASON_BAD_SPEC:
      case v1::FAILURE_REASON_OUTPUT_WRITE:
      case v1::FAILURE_REASON_DISK_FULL:
      case v1::FAILURE_REASON_CANCELED:
      case v1::FAILURE_REASON_PREEMPTED:
        return false;
      default:
        return true;
    }
  }
  absl::Duration KeepOffFor(int failures) const override {
    return failures >= failures_ ? forgive_ : absl::ZeroDuration();
  }

 private:
  int failures_;
  absl::Duration forgive_;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_POLICY_BLAME_POLICY_H_
