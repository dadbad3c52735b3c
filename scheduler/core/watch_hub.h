// WatchHub: job watchers (JobService.WatchJob streams). A watcher gets the job when it
// starts, then one event per changed job with the tasks that changed, until the job ends
// (the last event says `done`).
//
// Events are bounded whatever the job's size (the contract is in job_service.proto,
// JobEvent): the job is its summary (spec scalars and stage counters), and an event lists
// at most kMaxWatchEventTasks tasks in at most kMaxWatchEventBytes; what does not fit is
// left out and the event says `tasks_truncated` (the client pages ListTasks if it needs
// every task). The first event lists the job's first tasks. So a watch of a 1,000,000-task
// job costs O(kMaxWatchEventTasks) per event on the core thread, not O(tasks).
//
//   WatchHub hub(jobs, views);
//   auto id = hub.Watch(job_id, [](const v1::JobEvent& e, bool done) { ... });
//   hub.Notify();          // after a batch of changes: one event per changed job
//   hub.Unwatch(*id);
//
// Listeners run on the core's thread and must not block (reactors post and return).
// Not thread-safe: the core's one thread owns it.
#ifndef GENFARM_SCHEDULER_CORE_WATCH_HUB_H_
#define GENFARM_SCHEDULER_CORE_WATCH_HUB_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>

#include "absl/status/statusor.h"
#include "common/ids.h"
#include "genfarm/v1/job_service.pb.h"
#include "scheduler/core/core_views.h"
#include "scheduler/core/job_table.h"

namespace genfarm::scheduler {

inline constexpr int kMaxWatchEventTasks = 1000;
// Tasks' share of one event (the job summary adds at most a few tens of KiB).
inline constexpr size_t kMaxWatchEventBytes = size_t{1} << 20;

// Folds `next`, a newer event of the same job, into `queued`, one not yet written (a slow
// reader gets the latest state, not a backlog): the job is replaced, tasks are merged (the
// newer wins per index) within the same bounds as one event; tasks that do not fit are
// dropped and `tasks_truncated` set. O(tasks of both events).
void MergeJobEvents(v1::JobEvent& queued, const v1::JobEvent& next);

class WatchHub {
 public:
  using JobListener = std::function<void(const v1::JobEvent& event, bool done)>;

  WatchHub(JobTable& jobs, const CoreViews& views) : jobs_(jobs), views_(views) {}

  // Sends the job now (its first tasks, bounded); returns the watch id, or 0 when the job
  // has already ended (the first event was also the last).
  absl::StatusOr<int64_t> Watch(JobId id, JobListener listener);
  void Unwatch(int64_t watch_id) { watchers_.erase(watch_id); }
  // One event per job changed since the last call, to each of its watchers.
  void Notify();

 private:
  struct Watcher {
    JobId job;
    JobListener listener;
  };

  JobTable& jobs_;
  const CoreViews& views_;
  std::map<int64_t, Watcher> watchers_;
  int64_t next_watch_id_ = 1;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_WATCH_HUB_H_
