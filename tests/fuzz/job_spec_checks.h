// Properties shared by the two job-spec fuzz targets: what must hold for every spec the
// validator accepts, because the scheduler relies on it when it expands stages into tasks
// (scheduler/core/scheduler_core.cc applies defaults, validates, then parses frames and
// patterns with `*`).
//
//   if (ValidateJobSpec(spec).ok()) CheckAcceptedSpec(spec);
#ifndef GENFARM_TESTS_FUZZ_JOB_SPEC_CHECKS_H_
#define GENFARM_TESTS_FUZZ_JOB_SPEC_CHECKS_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/frame_pattern.h"
#include "common/frame_set.h"
#include "common/job_spec.h"
#include "genfarm/v1/types.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/fuzz/fuzz_check.h"

namespace genfarm::fuzz {

inline void CheckAcceptedSpec(const v1::JobSpec& spec) {
  // Defaults are idempotent: applying them again to an accepted spec changes nothing.
  v1::JobSpec again = spec;
  ApplyJobSpecDefaults(&again);
  FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(again, spec));

  // The wire form (what the Python client and the CLI send) parses back and validates.
  v1::JobSpec wire;
  FUZZ_CHECK(wire.ParseFromString(spec.SerializeAsString()));
  FUZZ_CHECK(ValidateJobSpec(wire).ok());

  FUZZ_CHECK(spec.stages_size() >= 1 && spec.stages_size() <= kMaxStagesPerJob);
  int64_t total = 0;
  for (const v1::StageSpec& stage : spec.stages()) {
    absl::StatusOr<FrameSet> frames = FrameSet::Parse(stage.frames(), kMaxFramesPerStage);
    FUZZ_CHECK(frames.ok());
    total += static_cast<int64_t>(frames->size());
    FUZZ_CHECK(stage.chunk() >= 1);
    FUZZ_CHECK(frames->Chunk(stage.chunk()).ok());
    FUZZ_CHECK(FramePattern::Parse(stage.input()).ok());
    if (stage.kind() != v1::STAGE_KIND_DAILIES)
      FUZZ_CHECK(FramePattern::Parse(stage.output()).ok());
  }
  FUZZ_CHECK(total <= kMaxFramesPerJob);
}

}  // namespace genfarm::fuzz

#endif  // GENFARM_TESTS_FUZZ_JOB_SPEC_CHECKS_H_
