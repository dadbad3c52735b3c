// WorkerChannel: the core's handle on one connected worker's stream. The gRPC reactor
// implements it by queueing the message for writing; tests record messages.
// Send never blocks and may be called after the stream ended (the message is dropped).
#ifndef GENFARM_SCHEDULER_CORE_WORKER_CHANNEL_H_
#define GENFARM_SCHEDULER_CORE_WORKER_CHANNEL_H_

#include "absl/status/status.h"
#include "genfarm/v1/worker_service.pb.h"

namespace genfarm::scheduler {

class WorkerChannel {
 public:
  virtual ~WorkerChannel() = default;
  virtual void Send(const v1::SchedulerMessage& message) = 0;
  // Ends the stream from the scheduler's side (e.g. a lease expired).
  virtual void Close() = 0;
  // Ends the stream with an error the worker sees (e.g. ABORTED: replaced by a newer
  // stream of the same worker). Channels without a way to say it just close.
  virtual void CloseWithReason(const absl::Status& reason) { Close(); }
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_WORKER_CHANNEL_H_
