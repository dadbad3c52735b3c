#include "scheduler/core/watch_hub.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "common/status_macros.h"

namespace genfarm::scheduler {
namespace {

size_t TaskBytes(const v1::Task& task) { return task.ByteSizeLong() + 8; }

// Adds the tasks at `indexes` (index order) to `event` while they fit; true when all did.
bool AddTasks(const CoreViews& views, const LiveJob& job, const std::vector<int32_t>& indexes,
              v1::JobEvent& event) {
  size_t bytes = 0;
  for (int32_t index : indexes) {
    if (event.changed_tasks_size() >= kMaxWatchEventTasks) return false;
    v1::Task task = views.Task(job, index);
    const size_t size = TaskBytes(task);
    if (event.changed_tasks_size() > 0 && bytes + size > kMaxWatchEventBytes) return false;
    bytes += size;
    *event.add_changed_tasks() = std::move(task);
  }
  return true;
}

// The distinct tasks of `changed` (which repeats a task once per change), at most one more
// than an event holds, in index order. Stops reading as soon as it has that many, so a mass
// change (a cancel of 1,000,000 tasks) costs O(kMaxWatchEventTasks) here.
std::vector<int32_t> DistinctChanged(const std::vector<int32_t>& changed) {
  std::vector<int32_t> out;
  absl::flat_hash_set<int32_t> seen;
  for (int32_t index : changed) {
    if (!seen.insert(index).second) continue;
    out.push_back(index);
    if (out.size() > static_cast<size_t>(kMaxWatchEventTasks)) break;
  }
  std::sort(out.begin(), out.end());
  return out;
}

v1::JobEvent NewEvent(const CoreViews& views, const LiveJob& job) {
  v1::JobEvent event;
  *event.mutable_job() = views.Job(job, v1::JOB_VIEW_SUMMARY);
  return event;
}

}  // namespace

void MergeJobEvents(v1::JobEvent& queued, const v1::JobEvent& next) {
  *queued.mutable_job() = next.job();
  bool truncated = queued.tasks_truncated() || next.tasks_truncated();
  absl::flat_hash_map<int32_t, int> position;
  size_t bytes = 0;
  for (int i = 0; i < queued.changed_tasks_size(); ++i) {
    position[queued.changed_tasks(i).index()] = i;
    bytes += TaskBytes(queued.changed_tasks(i));
  }
  for (const v1::Task& task : next.changed_tasks()) {
    const size_t size = TaskBytes(task);
    auto it = position.find(task.index());
    if (it != position.end()) {
      v1::Task& old = *queued.mutable_changed_tasks(it->second);
      bytes = bytes - TaskBytes(old) + size;
      old = task;
      continue;
    }
    if (queued.changed_tasks_size() >= kMaxWatchEventTasks || bytes + size > kMaxWatchEventBytes) {
      truncated = true;
      continue;
    }
    position[task.index()] = queued.changed_tasks_size();
    bytes += size;
    *queued.add_changed_tasks() = task;
  }
  queued.set_tasks_truncated(truncated);
}

absl::StatusOr<int64_t> WatchHub::Watch(JobId id, JobListener listener) {
  GENFARM_ASSIGN_OR_RETURN(LiveJob * job, jobs_.Mutable(id));
  v1::JobEvent event = NewEvent(views_, *job);
  const int32_t first =
      static_cast<int32_t>(std::min<size_t>(job->tasks.size(), kMaxWatchEventTasks));
  std::vector<int32_t> indexes(first);
  for (int32_t i = 0; i < first; ++i) indexes[i] = i;
  const bool all = AddTasks(views_, *job, indexes, event);
  event.set_tasks_truncated(!all || job->tasks.size() > static_cast<size_t>(first));
  // A job canceled while its tasks are still being swept has not settled: watchers get
  // their last event once the sweep is done (its counters final).
  const bool ended = IsEnded(job->rec.state) && jobs_.FindSweep(id) == nullptr;
  listener(event, ended);
  if (ended) return 0;
  const int64_t watch_id = next_watch_id_++;
  watchers_[watch_id] = Watcher{id, std::move(listener)};
  return watch_id;
}

void WatchHub::Notify() {
  absl::flat_hash_set<JobId> dirty = jobs_.TakeDirty();
  if (dirty.empty()) return;
  absl::flat_hash_map<JobId, std::vector<int64_t>> by_job;
  for (const auto& [watch_id, watcher] : watchers_) {
    if (dirty.contains(watcher.job)) by_job[watcher.job].push_back(watch_id);
  }
  for (const JobId& id : dirty) {
    LiveJob* job = jobs_.Find(id);
    if (job == nullptr) continue;
    auto it = by_job.find(id);
    if (it != by_job.end()) {
      v1::JobEvent event = NewEvent(views_, *job);
      std::vector<int32_t> indexes = DistinctChanged(job->changed);
      const bool more = indexes.size() > static_cast<size_t>(kMaxWatchEventTasks);
      if (more) indexes.resize(kMaxWatchEventTasks);
      const bool all = AddTasks(views_, *job, indexes, event);
      event.set_tasks_truncated(more || !all);
      const bool ended = IsEnded(job->rec.state) && jobs_.FindSweep(id) == nullptr;
      for (int64_t watch_id : it->second) {
        auto w = watchers_.find(watch_id);
        if (w == watchers_.end()) continue;
        w->second.listener(event, ended);
        if (ended) watchers_.erase(watch_id);
      }
    }
    job->changed.clear();
  }
}

}  // namespace genfarm::scheduler
