// WorkerEvents: what arrives on a worker's stream, applied to the core: hello (with the
// attempts it still runs, reconciled against ours), heartbeats (lease renewal, attempts it
// stopped reporting), progress and log lines, results (fenced by attempt id and worker),
// the stream's end, and the operator's drain.
//
//   WorkerEvents events({{clock, options, signals, jobs, attempts, workers}, lifecycle, views});
//   GENFARM_RETURN_IF_ERROR(events.Hello(hello, channel));
//   bool accepted = events.Result(worker_id, result);   // false: stale, ignored
//
// Not thread-safe: the core's one thread owns it.
#ifndef GENFARM_SCHEDULER_CORE_WORKER_EVENTS_H_
#define GENFARM_SCHEDULER_CORE_WORKER_EVENTS_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/ids.h"
#include "genfarm/v1/worker_service.pb.h"
#include "scheduler/core/attempt_table.h"
#include "scheduler/core/core_options.h"
#include "scheduler/core/core_rooms.h"
#include "scheduler/core/core_signals.h"
#include "scheduler/core/core_views.h"
#include "scheduler/core/job_table.h"
#include "scheduler/core/task_lifecycle.h"
#include "scheduler/core/worker_channel.h"
#include "scheduler/core/worker_registry.h"

namespace genfarm::scheduler {

class WorkerEvents {
 public:
  using Parts = CoreRoomsWithLifecycle;
  explicit WorkerEvents(Parts parts) : p_(parts) {}

  absl::Status Hello(const v1::Hello& hello, std::shared_ptr<WorkerChannel> channel);
  // The stream ended: its running attempts are requeued (unless a newer stream replaced it).
  void Gone(const WorkerId& worker, const WorkerChannel* channel);
  void Heartbeat(const WorkerId& worker, const v1::Heartbeat& heartbeat);
  void Progress(const WorkerId& worker, const v1::Progress& progress);
  // True when the result was accepted; false when it was fenced off (an attempt that is
  // not this worker's current one for its task).
  bool Result(const WorkerId& worker, const v1::Result& result);
  absl::StatusOr<v1::Worker> SetDrain(const WorkerId& worker, bool drain);
  // Workers silent for longer than the lease, and workers that never came back for the
  // attempts recovered after a restart (once `recovery_deadline_ms` passed), are lost.
  void ExpireLeases(int64_t now_ms, int64_t recovery_deadline_ms);

 private:
  int64_t NowMs() const { return ToMillis(p_.clock.Now()); }

  Parts p_;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_WORKER_EVENTS_H_
