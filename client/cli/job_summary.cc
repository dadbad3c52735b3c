#include "client/cli/job_summary.h"

#include <map>
#include <string>

#include "client/cli/format.h"

namespace genfarm::client {

nlohmann::json JobSummaryJson(const v1::Job& job, const std::vector<v1::Task>& tasks) {
  // Frames of failed tasks that were not written, per stage.
  std::map<std::string, int64_t> failed_frames;
  nlohmann::json failed_tasks = nlohmann::json::array();
  int64_t failed_total = 0;
  for (const auto& task : tasks) {
    if (task.state() != v1::TASK_STATE_FAILED) continue;
    int64_t missing = task.frames_size() - task.frames_done();
    failed_frames[task.stage()] += missing > 0 ? missing : 0;
    ++failed_total;
    if (failed_tasks.size() >= kSummaryMaxFailedTasks) continue;
    failed_tasks.push_back({
        {"index", task.index()},
        {"stage", task.stage()},
        {"frames", TaskFrames(task)},
        {"attempts", task.attempts()},
        {"failure_reason", std::string(FailureReasonName(task.failure_reason()))},
        {"worker", task.worker()},
        {"message", task.message()},
    });
  }

  std::map<std::string, std::string> outputs_by_stage;
  nlohmann::json outputs = nlohmann::json::array();
  for (const auto& stage : job.spec().stages()) {
    outputs_by_stage[stage.name()] = stage.output();
    if (!stage.output().empty()) outputs.push_back(stage.output());
  }

  nlohmann::json stages = nlohmann::json::array();
  int64_t total_failed = 0;
  for (const auto& stage : job.stages()) {
    nlohmann::json task_counts = nlohmann::json::object();
    for (const auto& [state, count] : stage.tasks_by_state()) {
      if (count > 0) task_counts[state] = count;
    }
    int64_t failed = failed_frames[stage.name()];
    total_failed += failed;
    stages.push_back({
        {"name", stage.name()},
        {"frames_total", stage.frames_total()},
        {"frames_done", stage.frames_done()},
        {"frames_failed", failed},
        {"output", outputs_by_stage[stage.name()]},
        {"tasks", task_counts},
    });
  }

  int64_t start = job.start_time_ms() > 0 ? job.start_time_ms() : job.submit_time_ms();
  nlohmann::json duration = nullptr;
  if (start > 0 && job.end_time_ms() >= start) {
    duration = static_cast<double>(job.end_time_ms() - start) / 1000.0;
  }

  return {
      {"job_id", job.id()},
      {"name", job.spec().name()},
      {"project", job.spec().project()},
      {"shot", job.spec().shot()},
      {"state", std::string(JobStateName(job.state()))},
      {"ok", job.state() == v1::JOB_STATE_SUCCEEDED},
      {"duration_seconds", duration},
      {"frames_total", TotalFrames(job)},
      {"frames_done", TotalFramesDone(job)},
      {"frames_failed", total_failed},
      {"stages", stages},
      {"failed_tasks", failed_tasks},
      {"failed_tasks_total", failed_total},
      {"outputs", outputs},
      {"message", job.message()},
  };
}

}  // namespace genfarm::client
