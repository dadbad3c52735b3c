#include "scheduler/core/core_views.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/enum_names.h"
#include "common/status_macros.h"
#include "common/tier.h"

namespace genfarm::scheduler {
namespace {

// What one more element adds to a reply: its bytes plus the field tag and length prefix.
size_t ElementBytes(const google::protobuf::Message& message) { return message.ByteSizeLong() + 8; }

// A decimal number as this scheduler writes it: digits only, no sign, no leading zero, no
// spaces, in range. Anything else is not a token it issued.
std::optional<int64_t> ParseCanonicalInt(absl::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) return std::nullopt;
  return value;
}

// A page size from a request: `fallback` for 0, at most `max`, negative refused.
absl::StatusOr<int> PageSize(int32_t requested, int fallback, int max) {
  if (requested < 0) {
    return absl::InvalidArgumentError(absl::StrCat("page_size: must be 0 (the default, ", fallback,
                                                   ") or positive, got ", requested));
  }
  if (requested == 0) return fallback;
  return std::min<int>(requested, max);
}

// Tasks pages: "<job id>:<index of the next task to look at>". Only the scheduler reads it.
std::string TaskPageToken(int64_t job_id, int64_t next_index) {
  return absl::StrCat(job_id, ":", next_index);
}

absl::StatusOr<int64_t> ParseTaskPageToken(const std::string& token, int64_t job_id,
                                           int64_t task_count) {
  auto refuse = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_token: '", absl::CHexEscape(token.substr(0, 64)),
        "' is not a token this scheduler issued for job ", job_id, " (", why,
        "); pass next_page_token of the previous ListTasks reply unchanged, or \"\" to start"));
  };
  std::vector<absl::string_view> parts = absl::StrSplit(token, ':');
  if (parts.size() != 2) return refuse("malformed");
  std::optional<int64_t> job = ParseCanonicalInt(parts[0]);
  std::optional<int64_t> index = ParseCanonicalInt(parts[1]);
  if (!job || !index) return refuse("malformed");
  if (*job != job_id) return refuse(absl::StrCat("it was issued for job ", *job));
  if (*index < 1 || *index >= task_count) {
    return refuse(absl::StrCat("task ", *index, " is outside 1-", task_count - 1));
  }
  return *index;
}

}  // namespace

v1::Job CoreViews::Job(const LiveJob& job) const { return Job(job, v1::JOB_VIEW_FULL); }

v1::Job CoreViews::Job(const LiveJob& job, v1::JobView view) const {
  v1::Job out;
  out.set_id(job.rec.id.value());
  if (view == v1::JOB_VIEW_SUMMARY) {
    // Field by field: a summary must not cost a copy of 64 stage specs or many labels.
    const v1::JobSpec& spec = job.rec.spec;
    v1::JobSpec* summary = out.mutable_spec();
    summary->set_name(spec.name());
    summary->set_project(spec.project());
    summary->set_shot(spec.shot());
    summary->set_priority(spec.priority());
    summary->set_tier(spec.tier());
    summary->set_submitter(spec.submitter());
  } else {
    *out.mutable_spec() = job.rec.spec;
  }
  out.set_state(job.rec.state);
  out.set_submit_time_ms(job.rec.submit_ms);
  out.set_start_time_ms(job.rec.start_ms);
  out.set_end_time_ms(job.rec.end_ms);
  out.set_message(job.rec.message);
  for (size_t s = 0; s < job.stages.size(); ++s) {
    const LiveStage& stage = job.stages[s];
    v1::StageStatus* st = out.add_stages();
    st->set_name(job.rec.spec.stages(static_cast<int>(s)).name());
    st->set_frames_total(stage.frames_total);
    st->set_frames_done(stage.frames_done);
    int64_t total = 0;
    for (const auto& [state, count] : stage.count) {
      total += count;
      if (count > 0) {
        (*st->mutable_tasks_by_state())[std::string(
            TaskStateName(static_cast<v1::TaskState>(state)))] = count;
      }
    }
    st->set_tasks_total(total);
  }
  return out;
}

v1::Task CoreViews::Task(const LiveJob& job, int32_t index) const {
  const LiveTask& task = job.tasks[index];
  v1::Task out;
  out.set_job_id(job.rec.id.value());
  out.set_index(index);
  out.set_stage(job.rec.spec.stages(task.rec.stage).name());
  out.mutable_frames()->Add(task.rec.frames.begin(), task.rec.frames.end());
  out.set_state(task.rec.state);
  out.set_attempts(task.rec.attempts);
  out.set_attempt_id(task.rec.attempt.value());
  out.set_worker(task.rec.worker);
  out.set_start_time_ms(task.rec.start_ms);
  out.set_end_time_ms(task.rec.end_ms);
  out.set_failure_reason(task.rec.failure_reason);
  out.set_frames_done(task.rec.frames_done);
  out.set_not_before_ms(task.rec.not_before_ms);
  const std::string& unplaceable = job.stages[task.rec.stage].unplaceable;
  out.set_message(task.rec.state == v1::TASK_STATE_QUEUED && !unplaceable.empty()
                      ? unplaceable
                      : task.rec.message);
  return out;
}

v1::Worker CoreViews::Worker(const WorkerId& id, const LiveWorker& w) const {
  v1::Worker out;
  out.set_id(id.value());
  out.set_hostname(w.hello.hostname());
  out.set_state(!w.online()     ? v1::WORKER_STATE_OFFLINE
                : w.accepting() ? v1::WORKER_STATE_ONLINE
                                : v1::WORKER_STATE_DRAINING);
  for (const v1::Device& d : w.devices) *out.add_devices() = d;
  out.set_slots(w.hello.slots());
  out.set_busy_slots(static_cast<int32_t>(attempts_.CountOf(id)));
  out.mutable_tags()->CopyFrom(w.hello.tags());
  for (v1::ModelInfo m : w.hello.models()) {
    m.set_loaded(w.loaded.contains(m.name()));
    *out.add_models() = m;
  }
  for (int64_t a : attempts_.OfWorker(id)) out.add_running(attempts_.Find(a)->task.ToString());
  out.set_last_seen_ms(w.last_seen_ms);
  out.set_http_address(w.hello.http_address());
  return out;
}

absl::StatusOr<v1::GetJobResponse> CoreViews::GetJob(const v1::GetJobRequest& request) const {
  const LiveJob* job = jobs_.Find(JobId(request.job_id()));
  if (job == nullptr) {
    return absl::NotFoundError(absl::StrCat("job ", request.job_id(), " not found"));
  }
  v1::GetJobResponse out;
  *out.mutable_job() = Job(*job);
  if (!request.include_tasks()) return out;
  auto too_big = [&](absl::string_view what) {
    return absl::FailedPreconditionError(
        absl::StrCat("include_tasks: job ", request.job_id(), " has ", what,
                     ", more than GetJob returns with its job (", kGetJobMaxTasks, " tasks, ",
                     kGetJobMaxTaskBytes >> 20, " MiB); page them with ListTasks"));
  };
  const int64_t count = static_cast<int64_t>(job->tasks.size());
  if (count > kGetJobMaxTasks) return too_big(absl::StrCat(count, " tasks"));
  size_t bytes = 0;
  out.mutable_tasks()->Reserve(static_cast<int>(count));
  for (int32_t i = 0; i < count; ++i) {
    v1::Task* task = out.add_tasks();
    *task = Task(*job, i);
    bytes += ElementBytes(*task);
    if (bytes > kGetJobMaxTaskBytes) return too_big(absl::StrCat(count, " tasks of many frames"));
  }
  return out;
}

absl::StatusOr<v1::ListJobsResponse> CoreViews::ListJobs(const v1::ListJobsRequest& request) const {
  GENFARM_ASSIGN_OR_RETURN(const int page, PageSize(request.page_size(), kListJobsDefaultPageSize,
                                                    kListJobsMaxPageSize));
  if (!v1::JobState_IsValid(request.state())) {
    return absl::InvalidArgumentError(
        absl::StrCat("state: ", request.state(), " is not a JobState"));
  }
  if (!v1::JobView_IsValid(request.view())) {
    return absl::InvalidArgumentError(absl::StrCat("view: ", request.view(), " is not a JobView"));
  }
  int64_t before = INT64_MAX;
  if (!request.page_token().empty()) {
    std::optional<int64_t> id = ParseCanonicalInt(request.page_token());
    if (!id || *id < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "page_token: '", absl::CHexEscape(request.page_token().substr(0, 64)),
          "' is not a token this scheduler issued (a job id in decimal); pass "
          "next_page_token of the previous ListJobs reply unchanged, or \"\" to start"));
    }
    before = *id;
  }
  const v1::JobView view =
      request.view() == v1::JOB_VIEW_FULL ? v1::JOB_VIEW_FULL : v1::JOB_VIEW_SUMMARY;
  v1::ListJobsResponse out;
  size_t bytes = 0;
  int64_t scanned = 0;
  const auto& jobs = jobs_.jobs();
  // Newest first from just below the token: the map is ordered by id.
  for (auto it = std::make_reverse_iterator(jobs.lower_bound(JobId(before))); it != jobs.rend();
       ++it) {
    if (++scanned > kMaxJobsScannedPerCall) {
      // Looked at enough for one call: go on below the last job looked at.
      out.set_next_page_token(absl::StrCat(std::prev(it)->first.value()));
      break;
    }
    const LiveJob& job = it->second;
    if (!request.project().empty() && job.rec.spec.project() != request.project()) continue;
    if (request.state() != v1::JOB_STATE_UNSPECIFIED && job.rec.state != request.state()) continue;
    if (out.jobs_size() == page) {
      // Another job matches: there is a next page.
      out.set_next_page_token(absl::StrCat(out.jobs(page - 1).id()));
      break;
    }
    v1::Job proto = Job(job, view);
    const size_t size = ElementBytes(proto);
    if (out.jobs_size() > 0 && bytes + size > kMaxPageBytes) {
      out.set_next_page_token(absl::StrCat(out.jobs(out.jobs_size() - 1).id()));
      break;
    }
    bytes += size;
    *out.add_jobs() = std::move(proto);
  }
  return out;
}

absl::StatusOr<v1::ListTasksResponse> CoreViews::ListTasks(
    const v1::ListTasksRequest& request) const {
  const LiveJob* job = jobs_.Find(JobId(request.job_id()));
  if (job == nullptr) {
    return absl::NotFoundError(absl::StrCat("job ", request.job_id(), " not found"));
  }
  GENFARM_ASSIGN_OR_RETURN(const int page, PageSize(request.page_size(), kListTasksDefaultPageSize,
                                                    kListTasksMaxPageSize));
  if (!v1::TaskState_IsValid(request.state())) {
    return absl::InvalidArgumentError(
        absl::StrCat("state: ", request.state(), " is not a TaskState"));
  }
  const v1::TaskState state = request.state();
  std::optional<int32_t> stage;
  if (!request.stage().empty()) {
    for (int s = 0; s < job->rec.spec.stages_size(); ++s) {
      if (job->rec.spec.stages(s).name() == request.stage()) stage = s;
    }
    if (!stage) {
      return absl::InvalidArgumentError(
          absl::StrCat("stage: job ", request.job_id(), " has no stage '",
                       absl::CHexEscape(request.stage().substr(0, 128)), "'"));
    }
  }
  const int64_t count = static_cast<int64_t>(job->tasks.size());
  int64_t next = 0;
  if (!request.page_token().empty()) {
    GENFARM_ASSIGN_OR_RETURN(next,
                             ParseTaskPageToken(request.page_token(), request.job_id(), count));
  }
  const bool filtered = state != v1::TASK_STATE_UNSPECIFIED || stage.has_value();
  v1::ListTasksResponse out;
  if (filtered) {
    // The counters say at once when nothing matches: no scan at all.
    int64_t matching = 0;
    for (size_t s = 0; s < job->stages.size(); ++s) {
      if (stage && *stage != static_cast<int32_t>(s)) continue;
      if (state != v1::TASK_STATE_UNSPECIFIED) {
        matching += job->stages[s].Count(state);
      } else {
        for (const auto& [unused, n] : job->stages[s].count) matching += n;
      }
    }
    if (matching == 0) return out;
  }
  auto matches = [&](int64_t i) {
    const TaskRecord& rec = job->tasks[i].rec;
    return (state == v1::TASK_STATE_UNSPECIFIED || rec.state == state) &&
           (!stage || rec.stage == *stage);
  };
  size_t bytes = 0;
  const int64_t scan_end = filtered ? std::min(count, next + kMaxTasksScannedPerCall) : count;
  int64_t i = next;
  for (; i < scan_end; ++i) {
    if (!matches(i)) continue;
    if (out.tasks_size() == page) break;  // a next page starts at i
    v1::Task task = Task(*job, static_cast<int32_t>(i));
    const size_t size = ElementBytes(task);
    if (out.tasks_size() > 0 && bytes + size > kMaxPageBytes) break;
    bytes += size;
    *out.add_tasks() = std::move(task);
  }
  if (i < count) out.set_next_page_token(TaskPageToken(request.job_id(), i));
  return out;
}

std::vector<v1::Worker> CoreViews::ListWorkers(bool include_offline) const {
  std::vector<v1::Worker> out;
  for (const auto& [id, worker] : workers_.all()) {
    if (!include_offline && !worker.online()) continue;
    out.push_back(Worker(id, worker));
  }
  return out;
}

v1::FarmStats CoreViews::Stats() const {
  v1::FarmStats out;
  for (const auto& [id, worker] : workers_.all()) {
    if (!worker.online()) continue;
    out.set_workers_online(out.workers_online() + 1);
    out.set_slots_total(out.slots_total() + worker.hello.slots());
    out.set_slots_busy(out.slots_busy() + static_cast<int64_t>(attempts_.CountOf(id)));
  }
  int64_t frames = 0;
  for (const auto& [id, job] : jobs_.jobs()) {
    (*out.mutable_jobs_by_state())[std::string(JobStateName(job.rec.state))]++;
    for (const LiveStage& stage : job.stages) {
      frames += stage.frames_done;
      for (const auto& [s, count] : stage.count) {
        if (count > 0) {
          (*out.mutable_tasks_by_state())[std::string(
              TaskStateName(static_cast<v1::TaskState>(s)))] += count;
        }
      }
    }
  }
  out.set_frames_done_total(frames);
  return out;
}

std::map<std::pair<std::string, v1::Tier>, int64_t> CoreViews::QueueDepths() const {
  std::map<std::pair<std::string, v1::Tier>, int64_t> out;
  for (const auto& [id, job] : jobs_.jobs()) {
    int64_t queued = 0;
    for (const LiveStage& stage : job.stages) queued += static_cast<int64_t>(stage.queued.size());
    out[{job.rec.spec.project(), EffectiveTier(job.rec.spec.tier())}] += queued;
  }
  return out;
}

}  // namespace genfarm::scheduler
