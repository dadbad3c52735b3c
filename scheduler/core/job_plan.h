// JobPlan: turns a validated JobSpec into tasks and frame-level dependencies.
//
// A stage that lists another in `after` depends on it frame by frame: a task needs the
// upstream tasks that write its frames widened by the temporal window (frames
// f-before .. f+after that exist upstream). A dailies stage, or a stage after one,
// needs the whole upstream stage. Retime stages (a "factor" param, stage_params.h) write
// several output frames per input frame, by the mapping in common/retime_mapping.h that
// the worker's frame pipeline follows too.
//
//   GENFARM_ASSIGN_OR_RETURN(JobPlan plan, PlanJob(spec, windows));
//   for (const PlannedTask& t : plan.tasks) ...;
#ifndef GENFARM_SCHEDULER_CORE_JOB_PLAN_H_
#define GENFARM_SCHEDULER_CORE_JOB_PLAN_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "genfarm/v1/types.pb.h"

namespace genfarm::scheduler {

struct TemporalWindow {
  int32_t before = 0;
  int32_t after = 0;
};

struct PlannedTask {
  int32_t stage = 0;
  std::vector<int64_t> frames;  // input frames this task owns
  std::vector<int32_t> deps;    // indexes of upstream tasks in the same job
};

struct JobPlan {
  std::vector<PlannedTask> tasks;  // stage by stage, chunk by chunk
  std::vector<std::vector<int64_t>> stage_frames;
  std::vector<TemporalWindow> windows;  // effective window per stage
};

// Model name -> its manifest window, as advertised by workers (empty if unknown).
using WindowLookup = std::function<TemporalWindow(const std::string& model)>;

// InvalidArgument, naming the field, for params that do not parse (ValidateJobSpec has
// refused them already for a new spec; a stored one is re-planned on recovery) and for a
// retime that would write more than kMaxFramesPerStage frames, checked before any task
// or dependency is built.
absl::StatusOr<JobPlan> PlanJob(const v1::JobSpec& spec, const WindowLookup& windows);

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_JOB_PLAN_H_
