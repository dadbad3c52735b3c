#include "scheduler/store/row_checks.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "genfarm/v1/types.pb.h"
#include "scheduler/store/frame_ranges.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler {
namespace {

bool IsKnownJobState(int64_t state) {
  return state > 0 && state == static_cast<int>(state) &&
         v1::JobState_IsValid(static_cast<int>(state));
}

bool IsKnownTaskState(int64_t state) {
  return state > 0 && state == static_cast<int>(state) &&
         v1::TaskState_IsValid(static_cast<int>(state));
}

bool IsKnownFailureReason(int64_t reason) {
  return reason == static_cast<int>(reason) && v1::FailureReason_IsValid(static_cast<int>(reason));
}

// Records the first thing wrong with a job's rows, and logs it (prefixed with `store`).
void Damage(absl::string_view store, StoreSnapshot& snapshot, JobId job, std::string why) {
  spdlog::error("{}: load: {}; job {} will be quarantined", std::string(store), why, job.value());
  snapshot.damaged.emplace(job, std::move(why));
}

}  // namespace

void CheckJobRow(absl::string_view store, absl::string_view spec, int64_t state, JobRecord& job,
                 StoreSnapshot& snapshot) {
  job.state = static_cast<v1::JobState>(state);
  if (!job.spec.ParseFromArray(spec.data(), static_cast<int>(spec.size()))) {
    job.spec.Clear();
    Damage(store, snapshot, job.id,
           absl::StrCat("jobs row ", job.id.value(), ": spec is unreadable (", spec.size(),
                        " bytes that do not parse as a JobSpec)"));
  }
  if (!IsKnownJobState(state)) {
    Damage(store, snapshot, job.id,
           absl::StrCat("jobs row ", job.id.value(), ": state ", state, " is not a job state"));
  }
}

bool CheckTaskRow(absl::string_view store, int64_t index, absl::string_view frames, int64_t state,
                  int64_t reason, TaskRecord& task, StoreSnapshot& snapshot) {
  std::string damage;
  if (index != static_cast<int32_t>(index)) {
    damage = absl::StrCat("idx ", index, " is out of range");
  } else if (!DecodeFrameRangesInto(frames, &task.frames)) {
    damage = absl::StrCat("frames \"", frames, "\" is not a frame list");
  } else if (!IsKnownTaskState(state)) {
    damage = absl::StrCat("state ", state, " is not a task state");
  } else if (!IsKnownFailureReason(reason)) {
    damage = absl::StrCat("failure_reason ", reason, " is not a failure reason");
  }
  if (!damage.empty()) {
    Damage(store, snapshot, task.id.job,
           absl::StrCat("tasks row ", task.id.job.value(), "/", index, ": ", damage));
    return false;
  }
  task.id.index = static_cast<int32_t>(index);
  task.state = static_cast<v1::TaskState>(state);
  task.failure_reason = static_cast<v1::FailureReason>(reason);
  return true;
}

}  // namespace genfarm::scheduler
