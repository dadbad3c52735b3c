// WatchHub: job watchers (JobService.WatchJob streams). A watcher gets the whole job
// when it starts, then one event per changed job with the tasks that changed, until the
// job ends (the last event says `done`).
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

#include <cstdint>
#include <functional>
#include <map>

#include "absl/status/statusor.h"
#include "common/ids.h"
#include "genfarm/v1/job_service.pb.h"
#include "scheduler/core/core_views.h"
#include "scheduler/core/job_table.h"

namespace genfarm::scheduler {

class WatchHub {
 public:
  using JobListener = std::function<void(const v1::JobEvent& event, bool done)>;

  WatchHub(JobTable& jobs, const CoreViews& views) : jobs_(jobs), views_(views) {}

  // Sends the job now; returns the watch id, or 0 when the job has already ended (the
  // first event was also the last).
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
