#include "scheduler/core/job_builder.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/job_spec.h"
#include "common/stage_params.h"
#include "common/status_macros.h"

namespace genfarm::scheduler {
namespace {

// Writes the facts a plan needs into the stage (the default retime factor of an
// interpolation model, the model's window) so the plan never depends on the catalog
// again; false when the catalog does not know them yet.
bool ResolveModelFacts(v1::StageSpec& stage, const ModelCatalog& catalog) {
  if (stage.kind() != v1::STAGE_KIND_MODEL) return true;
  const bool needs_kind = !stage.params().contains("factor");
  const bool needs_window = stage.window_before() == 0 && stage.window_after() == 0;
  if (!needs_kind && !needs_window) return true;
  const std::optional<ModelFacts> facts = catalog.Find(stage.model());
  if (!facts.has_value()) return false;
  if (needs_kind && facts->kind == "interpolate") {
    (*stage.mutable_params())["factor"] = absl::StrCat(kDefaultRetimeFactor);
  }
  if (needs_window) {
    stage.set_window_before(facts->window.before);
    stage.set_window_after(facts->window.after);
  }
  return true;
}

}  // namespace

std::string UnplannedMessage(const std::vector<std::string>& missing) {
  return absl::StrCat("waiting for model", missing.size() == 1 ? " " : "s ",
                      absl::StrJoin(missing, ", "),
                      ": no worker has advertised it yet; the job is planned when one does");
}

absl::StatusOr<PreparedJob> PrepareJob(v1::JobSpec spec, const ModelCatalog& catalog,
                                       int64_t max_tasks, JobId id) {
  ApplyJobSpecDefaults(&spec);
  GENFARM_RETURN_IF_ERROR(ValidateJobSpec(spec));
  PreparedJob out;
  for (v1::StageSpec& stage : *spec.mutable_stages()) {
    if (!ResolveModelFacts(stage, catalog)) out.missing_models.push_back(stage.model());
  }
  std::sort(out.missing_models.begin(), out.missing_models.end());
  out.missing_models.erase(std::unique(out.missing_models.begin(), out.missing_models.end()),
                           out.missing_models.end());
  LiveJob& job = out.job;
  job.rec.id = id;
  job.rec.state = v1::JOB_STATE_ACTIVE;
  if (!out.planned()) {
    job.rec.state = v1::JOB_STATE_WAITING;
    job.rec.message = UnplannedMessage(out.missing_models);
    job.rec.planned = false;
    job.rec.spec = std::move(spec);
    job.stages.assign(job.rec.spec.stages_size(), LiveStage{});
    job.plan.stage_frames.resize(job.rec.spec.stages_size());
    job.plan.windows.resize(job.rec.spec.stages_size());
    return out;
  }
  // Windows are in the spec now (resolved above or given): the lookup is never asked.
  GENFARM_ASSIGN_OR_RETURN(job.plan,
                           PlanJob(spec, [](const std::string&) { return TemporalWindow{}; }));
  if (static_cast<int64_t>(job.plan.tasks.size()) > max_tasks) {
    return absl::InvalidArgumentError(absl::StrCat("job has ", job.plan.tasks.size(),
                                                   " tasks, more than the limit of ", max_tasks,
                                                   "; raise chunk"));
  }
  job.rec.spec = std::move(spec);
  const size_t n = job.plan.tasks.size();
  job.stages.assign(job.rec.spec.stages_size(), LiveStage{});
  for (size_t s = 0; s < job.stages.size(); ++s) {
    job.stages[s].frames_total = static_cast<int64_t>(job.plan.stage_frames[s].size());
  }
  job.tasks.resize(n);
  out.records.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const PlannedTask& planned = job.plan.tasks[i];
    LiveTask& task = job.tasks[i];
    task.deps = planned.deps;
    for (int32_t dep : planned.deps) job.tasks[dep].dependents.push_back(static_cast<int32_t>(i));
    task.unmet_deps = static_cast<int32_t>(planned.deps.size());
    TaskRecord& rec = task.rec;
    rec.id = TaskId{id, static_cast<int32_t>(i)};
    rec.stage = planned.stage;
    rec.frames = planned.frames;
    rec.state = v1::TASK_STATE_WAITING;
    job.stages[rec.stage].count[v1::TASK_STATE_WAITING]++;
    out.records[i] = rec;
  }
  return out;
}

}  // namespace genfarm::scheduler
