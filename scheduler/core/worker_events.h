// WorkerEvents: what arrives on a worker's stream, applied to the core: hello (with the
// attempts it still runs, reconciled against ours), heartbeats (lease renewal, attempts it
// stopped reporting), progress and log lines, results (fenced by attempt id, worker and
// stream), the stream's end, and the operator's drain.
//
//   WorkerEvents events({{clock, options, signals, jobs, attempts, workers}, lifecycle, views},
//                       observer);
//   GENFARM_RETURN_IF_ERROR(ValidateWorkerMessage(message));   // on the reactor, before posting
//   GENFARM_RETURN_IF_ERROR(events.Hello(hello, channel));
//   bool accepted = events.Result(worker_id, result, channel.get());   // false: ignored
//
// What the wire may carry (the constants below): a message breaking a structural bound
// (an id, a count, a device or model field) is refused with InvalidArgument naming the
// field, and the service ends the stream with it; free text a real worker can produce in
// volume (log lines, a result's message) is cut to size instead, so a chatty model never
// costs a task its result. Progress values are clamped to the task; a progress or result
// for an attempt that is not this stream's worker's is ignored and counted
// (CoreObserver::OnWorkerMessageIgnored).
//
// Two streams with one worker id (docs/architecture.md, "Worker identity"): a hello from
// the same hostname is the same machine reconnecting (its old stream may linger until its
// lease), so the old stream is closed with ABORTED and a logged reason and the new one
// takes over; a hello from another hostname is refused with ALREADY_EXISTS naming
// `hello.worker_id`, so two machines given the same id never take turns kicking each other.
//
// Not thread-safe: the core's one thread owns it (ValidateWorkerMessage is pure).
#ifndef GENFARM_SCHEDULER_CORE_WORKER_EVENTS_H_
#define GENFARM_SCHEDULER_CORE_WORKER_EVENTS_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/ids.h"
#include "genfarm/v1/worker_service.pb.h"
#include "scheduler/core/attempt_table.h"
#include "scheduler/core/core_observer.h"
#include "scheduler/core/core_options.h"
#include "scheduler/core/core_rooms.h"
#include "scheduler/core/core_signals.h"
#include "scheduler/core/core_views.h"
#include "scheduler/core/job_table.h"
#include "scheduler/core/task_lifecycle.h"
#include "scheduler/core/worker_channel.h"
#include "scheduler/core/worker_registry.h"

namespace genfarm::scheduler {

// Bounds of what one worker message may carry.
inline constexpr int kMaxWorkerIdLength = 128;
inline constexpr int kMaxHostnameLength = 253;  // a DNS name
inline constexpr int kMaxWorkerSlots = 1024;
inline constexpr int kMaxWorkerDevices = 64;
inline constexpr int kMaxWorkerModels = 1024;
inline constexpr int kMaxWorkerTags = 64;
inline constexpr int kMaxWorkerTextLength = 256;  // device names, versions, addresses
inline constexpr int kMaxWorkerModelWindow = 64;  // frames, like a spec's window
// Attempt ids a hello or heartbeat may list, and frames a result may report.
inline constexpr int kMaxReportedAttempts = kMaxWorkerSlots;
inline constexpr int kMaxReportedFrames = 10'000;  // the largest chunk
// Free text, cut to size rather than refused.
inline constexpr int kMaxLogLinesPerMessage = 1000;
inline constexpr int kMaxLogLineBytes = 4096;
inline constexpr int kMaxResultMessageBytes = 4096;

// Structural checks of one message, before anything acts on it: InvalidArgument naming the
// field (`hello.worker_id: ...`, `heartbeat.running_attempts: ...`).
absl::Status ValidateWorkerMessage(const v1::WorkerMessage& message);
absl::Status ValidateHello(const v1::Hello& hello);

class WorkerEvents {
 public:
  using Parts = CoreRoomsWithLifecycle;
  // Without an observer, ignored messages are logged only.
  explicit WorkerEvents(Parts parts);
  WorkerEvents(Parts parts, CoreObserver& observer) : p_(parts), observer_(observer) {}

  // Refuses (and leaves the farm as it was) a hello that breaks ValidateHello, a second
  // hello on one stream (FailedPrecondition), or an id connected from another host
  // (AlreadyExists); all name `hello...`.
  absl::Status Hello(const v1::Hello& hello, std::shared_ptr<WorkerChannel> channel);
  // The stream ended: its running attempts are requeued (unless a newer stream replaced it).
  void Gone(const WorkerId& worker, const WorkerChannel* channel);
  // `stream` is the channel the message came on: a message from a stream that is not the
  // worker's current one (refused, replaced, or lost) is ignored. Null skips that fence
  // (callers that have no stream, like the simulator).
  void Heartbeat(const WorkerId& worker, const v1::Heartbeat& heartbeat,
                 const WorkerChannel* stream = nullptr);
  void Progress(const WorkerId& worker, const v1::Progress& progress,
                const WorkerChannel* stream = nullptr);
  // True when the result was accepted; false when it was fenced off (an attempt that is
  // not this worker's current one for its task, or a stream that is not its current one).
  bool Result(const WorkerId& worker, const v1::Result& result,
              const WorkerChannel* stream = nullptr);
  absl::StatusOr<v1::Worker> SetDrain(const WorkerId& worker, bool drain);
  // Workers silent for longer than the lease, and workers that never came back for the
  // attempts recovered after a restart (once `recovery_deadline_ms` passed), are lost.
  void ExpireLeases(int64_t now_ms, int64_t recovery_deadline_ms);

 private:
  int64_t NowMs() const { return ToMillis(p_.clock.Now()); }
  // The worker `id` when `stream` (unless null) is its current stream, else null.
  LiveWorker* FromStream(const WorkerId& id, const WorkerChannel* stream);
  void Ignored(const char* kind, const char* reason);
  // Appends a message's log lines to the task, cut to the per-message bounds.
  void AppendLogLines(LiveJob& job, int32_t index, AttemptId attempt,
                      const google::protobuf::RepeatedPtrField<std::string>& lines);

  Parts p_;
  NullCoreObserver null_observer_;
  CoreObserver& observer_;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_WORKER_EVENTS_H_
