#include "scheduler/core/watch_hub.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/status_macros.h"

namespace genfarm::scheduler {

absl::StatusOr<int64_t> WatchHub::Watch(JobId id, JobListener listener) {
  GENFARM_ASSIGN_OR_RETURN(LiveJob * job, jobs_.Mutable(id));
  v1::JobEvent event;
  *event.mutable_job() = views_.Job(*job);
  for (size_t i = 0; i < job->tasks.size(); ++i)
    *event.add_changed_tasks() = views_.Task(*job, static_cast<int32_t>(i));
  const bool ended = IsEnded(job->rec.state);
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
      v1::JobEvent event;
      *event.mutable_job() = views_.Job(*job);
      std::sort(job->changed.begin(), job->changed.end());
      job->changed.erase(std::unique(job->changed.begin(), job->changed.end()), job->changed.end());
      for (int32_t index : job->changed) *event.add_changed_tasks() = views_.Task(*job, index);
      const bool ended = IsEnded(job->rec.state);
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
