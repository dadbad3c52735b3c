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

// The default: every charged failure except bad input or a bad spec blames the worker
// (one bad plate fails the same way on every worker, so blaming would keep every worker
// off the rest of the job); `failures` of them keep it off the job for `forgive`.
class ThresholdBlamePolicy : public BlamePolicy {
 public:
  ThresholdBlamePolicy(int failures, absl::Duration forgive)
      : failures_(failures), forgive_(forgive) {}

  bool BlamesWorker(v1::FailureReason reason) const override {
    return reason != v1::FAILURE_REASON_INPUT_MISSING &&
           reason != v1::FAILURE_REASON_INPUT_CORRUPT && reason != v1::FAILURE_REASON_BAD_SPEC;
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
