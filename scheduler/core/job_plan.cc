#include "scheduler/core/job_plan.h"

#include <algorithm>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/frame_set.h"
#include "common/retime_mapping.h"
#include "common/stage_params.h"
#include "common/status_macros.h"

namespace genfarm::scheduler {

absl::StatusOr<JobPlan> PlanJob(const v1::JobSpec& spec, const WindowLookup& windows) {
  JobPlan plan;
  const int n = spec.stages_size();
  absl::flat_hash_map<std::string, int> stage_index;
  for (int s = 0; s < n; ++s) stage_index[spec.stages(s).name()] = s;

  // Per stage: output frame -> task index, so downstream stages find their producers.
  std::vector<absl::flat_hash_map<int64_t, int32_t>> producer(n);
  std::vector<std::vector<int32_t>> stage_tasks(n);
  plan.stage_frames.resize(n);
  plan.windows.resize(n);

  for (int s = 0; s < n; ++s) {
    const v1::StageSpec& stage = spec.stages(s);
    GENFARM_ASSIGN_OR_RETURN(FrameSet frames, FrameSet::Parse(stage.frames()));
    plan.stage_frames[s] = frames.frames();
    TemporalWindow window = windows ? windows(stage.model()) : TemporalWindow{};
    if (stage.window_before() > 0 || stage.window_after() > 0) {
      window = TemporalWindow{stage.window_before(), stage.window_after()};
    }
    plan.windows[s] = window;
    const bool dailies = stage.kind() == v1::STAGE_KIND_DAILIES;
    // A dailies stage is one task: the contact sheet and movie need every frame.
    int chunk = dailies ? std::max<int>(1, frames.size()) : std::max(1, stage.chunk());
    int32_t factor = 1;
    if (!dailies) {
      const std::string params_path = absl::StrCat("stages[", s, "].params");
      GENFARM_ASSIGN_OR_RETURN(ModelParams params, ParseModelParams(stage.params(), params_path));
      factor = params.RetimeFactorOr1();
      const int64_t outputs = RetimeOutputCount(plan.stage_frames[s], factor);
      if (factor > 1 && outputs > kMaxFramesPerStage) {
        return absl::InvalidArgumentError(absl::StrCat(
            params_path, ".factor: a retime by ", factor, " of ", frames.size(), " frames writes ",
            outputs, " frames, more than the limit of ", kMaxFramesPerStage, " per stage"));
      }
    }
    GENFARM_ASSIGN_OR_RETURN(auto chunks, frames.Chunk(chunk));
    for (auto& chunk_frames : chunks) {
      PlannedTask task;
      task.stage = s;
      for (const std::string& up_name : stage.after()) {
        auto it = stage_index.find(up_name);
        if (it == stage_index.end() || it->second >= s) {
          return absl::InvalidArgumentError(
              absl::StrCat("stages[", s, "].after: '", up_name, "' is not an earlier stage"));
        }
        const int u = it->second;
        const bool whole = dailies || spec.stages(u).kind() == v1::STAGE_KIND_DAILIES;
        if (whole) {
          task.deps.insert(task.deps.end(), stage_tasks[u].begin(), stage_tasks[u].end());
          continue;
        }
        const std::vector<int64_t>& own = plan.stage_frames[s];
        const int64_t last = static_cast<int64_t>(own.size()) - 1;
        for (int64_t f : chunk_frames) {
          for (int64_t g = f - window.before; g <= f + window.after; ++g) {
            auto p = producer[u].find(g);
            if (p != producer[u].end()) task.deps.push_back(p->second);
          }
          // The worker reads neighbours in the stage's own frame set: on twos the frame
          // after 1001 is 1003, not 1002.
          const int64_t pos = std::lower_bound(own.begin(), own.end(), f) - own.begin();
          for (int64_t k = std::max<int64_t>(0, pos - window.before);
               k <= std::min<int64_t>(last, pos + window.after); ++k) {
            auto p = producer[u].find(own[k]);
            if (p != producer[u].end()) task.deps.push_back(p->second);
          }
        }
      }
      std::sort(task.deps.begin(), task.deps.end());
      task.deps.erase(std::unique(task.deps.begin(), task.deps.end()), task.deps.end());
      const int32_t index = static_cast<int32_t>(plan.tasks.size());
      for (int64_t f : chunk_frames) {
        if (factor > 1) {
          const std::optional<RetimeSpan> span = RetimeSpanOf(plan.stage_frames[s], f, factor);
          for (int64_t k = 0; span && k < span->count; ++k) {
            producer[s][span->first_output + k] = index;
          }
        } else {
          producer[s][f] = index;
        }
      }
      task.frames = std::move(chunk_frames);
      stage_tasks[s].push_back(index);
      plan.tasks.push_back(std::move(task));
    }
  }
  return plan;
}

}  // namespace genfarm::scheduler
