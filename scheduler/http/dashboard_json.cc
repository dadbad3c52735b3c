#include "scheduler/http/dashboard_json.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/enum_names.h"
#include "common/frame_pattern.h"
#include "common/frame_set.h"

namespace genfarm::scheduler {
namespace {

using nlohmann::json;

json CountMap(const google::protobuf::Map<std::string, int64_t>& counts) {
  json out = json::object();
  for (const auto& [key, value] : counts) out[key] = value;
  return out;
}

bool HasFramePattern(const v1::StageSpec& stage) {
  return stage.kind() != v1::STAGE_KIND_DAILIES && FramePattern::Parse(stage.output()).ok();
}

std::string UrlEncode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

json JobJson(const v1::Job& job) {
  const v1::JobSpec& spec = job.spec();
  json stages = json::array();
  int64_t frames_done = 0;
  int64_t frames_total = 0;
  for (int s = 0; s < job.stages_size(); ++s) {
    const v1::StageStatus& status = job.stages(s);
    json stage = {
        {"name", status.name()},
        {"frames_done", status.frames_done()},
        {"frames_total", status.frames_total()},
        {"tasks_total", status.tasks_total()},
        {"tasks_by_state", CountMap(status.tasks_by_state())},
    };
    if (s < spec.stages_size()) {
      const v1::StageSpec& stage_spec = spec.stages(s);
      stage["kind"] = stage_spec.kind() == v1::STAGE_KIND_DAILIES ? "dailies" : "model";
      stage["model"] = stage_spec.model();
    }
    frames_done += status.frames_done();
    frames_total += status.frames_total();
    stages.push_back(std::move(stage));
  }
  return {
      {"id", job.id()},
      {"name", spec.name()},
      {"project", spec.project()},
      {"shot", spec.shot()},
      {"submitter", spec.submitter()},
      {"tier", std::string(TierName(spec.tier()))},
      {"priority", spec.priority()},
      {"state", std::string(JobStateName(job.state()))},
      {"message", job.message()},
      {"submit_time_ms", job.submit_time_ms()},
      {"start_time_ms", job.start_time_ms()},
      {"end_time_ms", job.end_time_ms()},
      {"frames_done", frames_done},
      {"frames_total", frames_total},
      {"stages", std::move(stages)},
  };
}

json JobListJson(const v1::ListJobsResponse& jobs, int64_t now_ms) {
  json list = json::array();
  for (const v1::Job& job : jobs.jobs()) list.push_back(JobJson(job));
  return {{"server_time_ms", now_ms},
          {"jobs", std::move(list)},
          {"next_page_token", jobs.next_page_token()}};
}

json TaskJson(const v1::Task& task) {
  return {
      {"index", task.index()},
      {"stage", task.stage()},
      {"frames", FrameSet::Format(task.frames())},
      {"frame_count", task.frames_size()},
      {"frames_done", task.frames_done()},
      {"state", std::string(TaskStateName(task.state()))},
      {"attempts", task.attempts()},
      {"attempt_id", task.attempt_id()},
      {"worker", task.worker()},
      {"start_time_ms", task.start_time_ms()},
      {"end_time_ms", task.end_time_ms()},
      {"not_before_ms", task.not_before_ms()},
      // "" when there is none: the page tests the field for truth.
      {"failure_reason", task.failure_reason() == v1::FAILURE_REASON_UNSPECIFIED
                             ? std::string()
                             : std::string(FailureReasonName(task.failure_reason()))},
      {"message", task.message()},
  };
}

json JobDetailJson(const v1::Job& job, const std::vector<v1::Task>& page,
                   const std::string& next_page_token, const v1::ListTasksRequest& filter,
                   int64_t now_ms) {
  json out = JobJson(job);
  json labels = json::object();
  for (const auto& [key, value] : job.spec().labels()) labels[key] = value;
  out["labels"] = std::move(labels);
  // Stage specs beside their progress: what each stage reads, writes and runs.
  for (int s = 0; s < job.spec().stages_size() && s < static_cast<int>(out["stages"].size()); ++s) {
    const v1::StageSpec& spec = job.spec().stages(s);
    json& stage = out["stages"][s];
    stage["input"] = spec.input();
    stage["output"] = spec.output();
    stage["frames"] = spec.frames();
    stage["chunk"] = spec.chunk();
    stage["retries"] = spec.retries();
  }
  int64_t total = 0;
  int64_t matching = 0;
  const std::string state_name = filter.state() == v1::TASK_STATE_UNSPECIFIED
                                     ? std::string()
                                     : std::string(TaskStateName(filter.state()));
  for (const v1::StageStatus& stage : job.stages()) {
    total += stage.tasks_total();
    if (!filter.stage().empty() && stage.name() != filter.stage()) continue;
    if (state_name.empty()) {
      matching += stage.tasks_total();
    } else if (auto it = stage.tasks_by_state().find(state_name);
               it != stage.tasks_by_state().end()) {
      matching += it->second;
    }
  }
  json task_list = json::array();
  for (const v1::Task& task : page) task_list.push_back(TaskJson(task));
  return {
      {"server_time_ms", now_ms},
      {"job", std::move(out)},
      {"tasks", std::move(task_list)},
      {"tasks_total", total},
      {"tasks_matching", matching},
      {"task_filter", {{"state", state_name}, {"stage", filter.stage()}}},
      {"next_page_token", next_page_token},
      // Kept for older pages: true when more tasks follow this page.
      {"tasks_truncated", !next_page_token.empty()},
  };
}

json WorkersJson(const std::vector<v1::Worker>& workers, int64_t now_ms) {
  json list = json::array();
  for (const v1::Worker& w : workers) {
    json devices = json::array();
    for (const v1::Device& d : w.devices()) {
      devices.push_back({{"name", d.name()},
                         {"kind", d.kind()},
                         {"index", d.index()},
                         {"memory_total_bytes", d.memory_total_bytes()},
                         {"memory_used_bytes", d.memory_used_bytes()}});
    }
    json models = json::array();
    json loaded = json::array();
    for (const v1::ModelInfo& m : w.models()) {
      models.push_back({{"name", m.name()},
                        {"version", m.version()},
                        {"kind", m.kind()},
                        {"scale", m.scale()},
                        {"memory_bytes", m.memory_bytes()},
                        {"loaded", m.loaded()}});
      if (m.loaded()) loaded.push_back(m.name());
    }
    list.push_back({
        {"id", w.id()},
        {"hostname", w.hostname()},
        {"state", std::string(WorkerStateName(w.state()))},
        {"draining", w.state() == v1::WORKER_STATE_DRAINING},
        {"slots", w.slots()},
        {"busy_slots", w.busy_slots()},
        {"tags", std::vector<std::string>(w.tags().begin(), w.tags().end())},
        {"devices", std::move(devices)},
        {"running", std::vector<std::string>(w.running().begin(), w.running().end())},
        {"models", std::move(models)},
        {"loaded_models", std::move(loaded)},
        {"last_seen_ms", w.last_seen_ms()},
        {"http_address", w.http_address()},
    });
  }
  return {{"server_time_ms", now_ms}, {"workers", std::move(list)}};
}

json FarmJson(const v1::FarmStats& stats, int64_t now_ms) {
  return {
      {"server_time_ms", now_ms},
      {"workers_online", stats.workers_online()},
      {"slots_total", stats.slots_total()},
      {"slots_busy", stats.slots_busy()},
      {"jobs_by_state", CountMap(stats.jobs_by_state())},
      {"tasks_by_state", CountMap(stats.tasks_by_state())},
      {"frames_done_total", stats.frames_done_total()},
  };
}

json ThumbnailsJson(const v1::Job& job, const std::vector<FinishedFrame>& frames) {
  json stages = json::array();
  for (const v1::StageSpec& stage : job.spec().stages()) {
    if (!HasFramePattern(stage)) continue;
    json list = json::array();
    for (const FinishedFrame& f : frames) {
      if (f.stage != stage.name()) continue;
      list.push_back(
          {{"frame", f.frame},
           {"task", f.task},
           {"end_time_ms", f.end_time_ms},
           {"url", absl::StrCat("/api/thumbnail?job=", job.id(), "&stage=", UrlEncode(stage.name()),
                                "&frame=", f.frame, "&v=", f.version)}});
    }
    stages.push_back({{"name", stage.name()}, {"frames", std::move(list)}});
  }
  return {{"job_id", job.id()}, {"stages", std::move(stages)}};
}

json ErrorJson(const std::string& message) { return {{"error", message}}; }

}  // namespace genfarm::scheduler
