#include "client/cli/format.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "client/cli/text_table.h"
#include "common/enum_names.h"
#include "common/frame_set.h"

namespace genfarm::client {
namespace {

int64_t CountState(const v1::StageStatus& stage, absl::string_view state) {
  auto it = stage.tasks_by_state().find(std::string(state));
  return it == stage.tasks_by_state().end() ? 0 : it->second;
}

std::string Percent(int64_t done, int64_t total) {
  if (total <= 0) return "0%";
  return absl::StrCat(done * 100 / total, "%");
}

// "3 running, 1 failed" from a lower-case state -> count map, in lifecycle order (the enum's),
// zeros left out; names this CLI does not know (a newer scheduler) come last.
std::string StateCounts(const std::map<std::string, int64_t>& counts) {
  const std::vector<absl::string_view>& order = TaskStateNames();
  std::vector<std::string> parts;
  for (absl::string_view state : order) {
    auto it = counts.find(std::string(state));
    if (it != counts.end() && it->second > 0) parts.push_back(absl::StrCat(it->second, " ", state));
  }
  for (const auto& [state, count] : counts) {
    if (count > 0 && std::find(order.begin(), order.end(), state) == order.end()) {
      parts.push_back(absl::StrCat(count, " ", state));
    }
  }
  return parts.empty() ? "no tasks" : absl::StrJoin(parts, ", ");
}

// "  ... 999980 more queued tasks\n" after a list cut short; "" when nothing was left out.
std::string MoreTasks(int64_t more, v1::TaskState state) {
  if (more <= 0) return "";
  return absl::StrCat("  ... ", more, " more ", TaskStateName(state),
                      more == 1 ? " task\n" : " tasks\n");
}

std::string FormatTime(int64_t ms, absl::TimeZone tz) {
  if (ms <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(ms), tz);
}

std::string Age(int64_t ms, absl::Time now) {
  if (ms <= 0) return "-";
  absl::Duration age = now - absl::FromUnixMillis(ms);
  if (age < absl::ZeroDuration()) age = absl::ZeroDuration();
  return absl::StrCat(HumanDuration(age), " ago");
}

}  // namespace

std::string TaskFrames(const v1::Task& task) { return FrameSet::Format(task.frames()); }

bool IsFinished(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELED;
}

std::string HumanDuration(absl::Duration d) {
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  int64_t s = absl::ToInt64Seconds(d);
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, (s % 86400) / 3600);
}

std::string HumanBytes(int64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return absl::StrCat(bytes, "B");
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 5) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f%s", value, kUnits[unit]);
}

int64_t TotalFrames(const v1::Job& job) {
  int64_t total = 0;
  for (const auto& stage : job.stages()) total += stage.frames_total();
  return total;
}

int64_t TotalFramesDone(const v1::Job& job) {
  int64_t done = 0;
  for (const auto& stage : job.stages()) done += stage.frames_done();
  return done;
}

std::string FormatProgressLine(const v1::Job& job, std::optional<double> frames_per_second,
                               std::optional<absl::Duration> eta) {
  int64_t total = TotalFrames(job);
  int64_t done = TotalFramesDone(job);
  std::vector<std::string> parts;
  parts.push_back(absl::StrCat("job ", job.id(), " ", job.spec().name(), " ",
                               JobStateName(job.state()), " ", done, "/", total, " ",
                               Percent(done, total)));
  for (const auto& stage : job.stages()) {
    std::string part =
        absl::StrCat(stage.name(), " ", stage.frames_done(), "/", stage.frames_total());
    if (int64_t running = CountState(stage, TaskStateName(v1::TASK_STATE_RUNNING)); running > 0) {
      absl::StrAppend(&part, " ", running, " running");
    }
    if (int64_t failed = CountState(stage, TaskStateName(v1::TASK_STATE_FAILED)); failed > 0) {
      absl::StrAppend(&part, " ", failed, " failed");
    }
    parts.push_back(std::move(part));
  }
  if (!IsFinished(job.state())) {
    std::string rate =
        frames_per_second
            ? absl::StrFormat("%.*f frames/s", *frames_per_second < 10 ? 2 : 1, *frames_per_second)
            : "-- frames/s";
    absl::StrAppend(&rate, " ETA ", eta ? HumanDuration(*eta) : "--");
    parts.push_back(std::move(rate));
  }
  return absl::StrJoin(parts, " | ");
}

std::string FormatJobOutcome(const v1::Job& job) {
  std::string line =
      absl::StrCat("job ", job.id(), " (", job.spec().name(), ") ", JobStateName(job.state()), ": ",
                   TotalFramesDone(job), "/", TotalFrames(job), " frames");
  int64_t start = job.start_time_ms() > 0 ? job.start_time_ms() : job.submit_time_ms();
  if (start > 0 && job.end_time_ms() >= start) {
    absl::StrAppend(&line, " in ", HumanDuration(absl::Milliseconds(job.end_time_ms() - start)));
  }
  if (!job.message().empty()) absl::StrAppend(&line, " (", job.message(), ")");
  return line;
}

std::string FormatJobsTable(const std::vector<v1::Job>& jobs, absl::Time now) {
  TextTable table(
      {"ID", "NAME", "PROJECT", "SHOT", "STATE", "PRI", "FRAMES", "SUBMITTER", "SUBMITTED"});
  for (const auto& job : jobs) {
    int64_t total = TotalFrames(job);
    int64_t done = TotalFramesDone(job);
    table.AddRow({absl::StrCat(job.id()), job.spec().name(), job.spec().project(),
                  job.spec().shot(), std::string(JobStateName(job.state())),
                  absl::StrCat(job.spec().priority()),
                  absl::StrCat(done, "/", total, " ", Percent(done, total)), job.spec().submitter(),
                  Age(job.submit_time_ms(), now)});
  }
  return table.Render();
}

std::string FormatJobStatus(const v1::Job& job, const std::vector<v1::Task>& tasks, absl::Time now,
                            absl::TimeZone tz) {
  const v1::JobSpec& spec = job.spec();
  std::string out =
      absl::StrCat("job ", job.id(), " ", spec.name(), " [", JobStateName(job.state()), "]\n");
  absl::StrAppend(&out, "  project ", spec.project().empty() ? "-" : spec.project(), "  shot ",
                  spec.shot().empty() ? "-" : spec.shot(), "  submitter ",
                  spec.submitter().empty() ? "-" : spec.submitter(), "  priority ", spec.priority(),
                  " (", TierName(spec.tier()), ")\n");
  absl::StrAppend(&out, "  submitted ", FormatTime(job.submit_time_ms(), tz));
  if (job.start_time_ms() > 0)
    absl::StrAppend(&out, "  started ", FormatTime(job.start_time_ms(), tz));
  if (job.end_time_ms() > 0) {
    absl::StrAppend(&out, "  ended ", FormatTime(job.end_time_ms(), tz));
    if (job.start_time_ms() > 0) {
      absl::StrAppend(&out, " (took ",
                      HumanDuration(absl::Milliseconds(job.end_time_ms() - job.start_time_ms())),
                      ")");
    }
  } else if (job.start_time_ms() > 0) {
    absl::StrAppend(&out, " (running for ",
                    HumanDuration(now - absl::FromUnixMillis(job.start_time_ms())), ")");
  }
  absl::StrAppend(&out, "\n");
  if (spec.depends_on_jobs_size() > 0) {
    absl::StrAppend(&out, "  depends on jobs ", absl::StrJoin(spec.depends_on_jobs(), ", "), "\n");
  }
  if (!job.message().empty()) absl::StrAppend(&out, "  message: ", job.message(), "\n");

  absl::StrAppend(&out, "stages:\n");
  TextTable stages({"  STAGE", "FRAMES", "DONE", "TASKS"});
  std::map<std::string, int64_t> job_counts;
  for (const auto& stage : job.stages()) {
    std::map<std::string, int64_t> counts(stage.tasks_by_state().begin(),
                                          stage.tasks_by_state().end());
    for (const auto& [state, count] : counts) job_counts[state] += count;
    stages.AddRow({absl::StrCat("  ", stage.name()),
                   absl::StrCat(stage.frames_done(), "/", stage.frames_total()),
                   Percent(stage.frames_done(), stage.frames_total()), StateCounts(counts)});
  }
  absl::StrAppend(&out, stages.Render());
  absl::StrAppend(&out, "tasks: ", StateCounts(job_counts), "\n");

  std::vector<const v1::Task*> stuck;
  std::vector<const v1::Task*> running;
  std::map<v1::TaskState, int64_t> listed;
  for (const auto& task : tasks) {
    ++listed[task.state()];
    if (task.state() == v1::TASK_STATE_RUNNING) running.push_back(&task);
    if (!task.message().empty() &&
        (task.state() == v1::TASK_STATE_QUEUED || task.state() == v1::TASK_STATE_BLOCKED ||
         task.state() == v1::TASK_STATE_WAITING)) {
      stuck.push_back(&task);
    }
  }
  if (std::string failed = FormatFailedTasks(tasks, CountTasks(job, v1::TASK_STATE_FAILED));
      !failed.empty()) {
    absl::StrAppend(&out, "failed tasks:\n", failed);
  }
  if (!running.empty()) {
    absl::StrAppend(&out, "running tasks:\n");
    for (const v1::Task* task : running) {
      absl::StrAppend(&out, "  task ", task->index(), " ", task->stage(), " frames ",
                      TaskFrames(*task), " on ", task->worker().empty() ? "-" : task->worker(),
                      ", ", task->frames_done(), "/", task->frames_size(), " frames done\n");
    }
    absl::StrAppend(
        &out, MoreTasks(CountTasks(job, v1::TASK_STATE_RUNNING) - listed[v1::TASK_STATE_RUNNING],
                        v1::TASK_STATE_RUNNING));
  }
  if (!stuck.empty()) {
    absl::StrAppend(&out, "not placed:\n");
    std::set<v1::TaskState> stuck_states;
    // Consecutive tasks waiting for the same reason (a stage nobody can run) share a line.
    for (size_t i = 0; i < stuck.size();) {
      const v1::Task& task = *stuck[i];
      stuck_states.insert(task.state());
      size_t end = i + 1;
      std::vector<int64_t> frames(task.frames().begin(), task.frames().end());
      while (end < stuck.size() && stuck[end]->index() == stuck[end - 1]->index() + 1 &&
             stuck[end]->state() == task.state() && stuck[end]->stage() == task.stage() &&
             stuck[end]->message() == task.message() &&
             stuck[end]->failure_reason() == task.failure_reason()) {
        frames.insert(frames.end(), stuck[end]->frames().begin(), stuck[end]->frames().end());
        ++end;
      }
      const std::string which =
          end - i == 1 ? absl::StrCat("task ", task.index())
                       : absl::StrCat("tasks ", task.index(), "-", stuck[end - 1]->index());
      // A task queued again after a failed attempt says why it failed (worker_lost...).
      const std::string reason = task.failure_reason() == v1::FAILURE_REASON_UNSPECIFIED
                                     ? ""
                                     : absl::StrCat(", ", FailureReasonName(task.failure_reason()));
      absl::StrAppend(&out, "  ", which, " ", task.stage(), " frames ", FrameSet::Format(frames),
                      " (", TaskStateName(task.state()), reason, "): ", task.message(), "\n");
      i = end;
    }
    for (v1::TaskState state : stuck_states) {
      absl::StrAppend(&out, MoreTasks(CountTasks(job, state) - listed[state], state));
    }
  }
  return out;
}

int64_t CountTasks(const v1::Job& job, v1::TaskState state) {
  int64_t total = 0;
  for (const auto& stage : job.stages()) total += CountState(stage, TaskStateName(state));
  return total;
}

std::string FormatFailedTasks(const std::vector<v1::Task>& tasks, int64_t failed_total) {
  std::string out = FormatFailedTasks(tasks);
  int64_t listed = 0;
  for (const auto& task : tasks) listed += task.state() == v1::TASK_STATE_FAILED ? 1 : 0;
  if (listed > 0) absl::StrAppend(&out, MoreTasks(failed_total - listed, v1::TASK_STATE_FAILED));
  return out;
}

std::string FormatFailedTasks(const std::vector<v1::Task>& tasks) {
  std::string out;
  for (const auto& task : tasks) {
    if (task.state() != v1::TASK_STATE_FAILED) continue;
    absl::StrAppend(&out, "  task ", task.index(), " ", task.stage(), " frames ", TaskFrames(task),
                    " (", task.attempts(), " attempts");
    if (task.failure_reason() != v1::FAILURE_REASON_UNSPECIFIED) {
      absl::StrAppend(&out, ", ", FailureReasonName(task.failure_reason()));
    }
    if (!task.worker().empty()) absl::StrAppend(&out, ", last on ", task.worker());
    absl::StrAppend(&out, "): ", task.message().empty() ? "no message" : task.message(), "\n");
  }
  return out;
}

std::string FormatWorkersTable(const std::vector<v1::Worker>& workers) {
  TextTable table({"ID", "STATE", "DEVICES", "SLOTS", "MODELS", "RUNNING"});
  for (const auto& worker : workers) {
    std::vector<std::string> devices;
    for (const auto& device : worker.devices()) {
      std::string d = device.name().empty() ? device.kind() : device.name();
      if (device.memory_total_bytes() > 0) {
        absl::StrAppend(&d, " ", HumanBytes(device.memory_used_bytes()), "/",
                        HumanBytes(device.memory_total_bytes()));
      }
      devices.push_back(std::move(d));
    }
    std::vector<std::string> loaded;
    for (const auto& model : worker.models()) {
      if (model.loaded()) loaded.push_back(model.name());
    }
    std::string models = loaded.empty() ? "-" : absl::StrJoin(loaded, ",");
    if (static_cast<size_t>(worker.models_size()) > loaded.size()) {
      absl::StrAppend(&models, " (", worker.models_size(), " available)");
    }
    table.AddRow({worker.id(), std::string(WorkerStateName(worker.state())),
                  devices.empty() ? "-" : absl::StrJoin(devices, ", "),
                  absl::StrCat(worker.busy_slots(), "/", worker.slots()), models,
                  worker.running().empty() ? "-" : absl::StrJoin(worker.running(), ",")});
  }
  return table.Render();
}

std::string FormatLogLine(const v1::LogLine& line, absl::TimeZone tz) {
  std::string time = line.time_ms() > 0
                         ? absl::FormatTime("%H:%M:%S", absl::FromUnixMillis(line.time_ms()), tz)
                         : "--:--:--";
  return absl::StrCat(time, " task ", line.task_index(), " #", line.attempt_id(), "  ",
                      line.text());
}

}  // namespace genfarm::client
