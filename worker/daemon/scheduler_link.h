// SchedulerLink: the worker's one long-lived WorkerService.Connect stream. It says
// hello (built fresh on every connect, so it lists the attempts still running),
// heartbeats at the interval the scheduler asks for, hands every scheduler message to
// a handler, and reconnects with capped exponential backoff and jitter when the stream
// breaks. Results that cannot be sent while disconnected are kept and sent right
// after the next hello, so a scheduler restart loses no finished work.
//
// A worker holds exactly one stream, so a dedicated reader thread with gRPC's sync
// client API is the simplest correct design here (the scheduler side, which holds
// thousands, uses the callback API).
//
//   SchedulerLink link(options, [&] { return BuildHello(); },
//                      [&](const v1::SchedulerMessage& m) { executor.Handle(m); },
//                      [&] { return BuildHeartbeat(); });
//   link.Start();
//   link.Send(result_message);
//   link.Stop();
//
// Thread-safe: Send may be called from any thread.
#ifndef GENFARM_WORKER_DAEMON_SCHEDULER_LINK_H_
#define GENFARM_WORKER_DAEMON_SCHEDULER_LINK_H_

#include <grpcpp/grpcpp.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "genfarm/v1/worker_service.grpc.pb.h"

namespace genfarm::worker {

class SchedulerLink {
 public:
  struct Options {
    std::string address = "127.0.0.1:7070";
    absl::Duration min_backoff = absl::Milliseconds(200);
    absl::Duration max_backoff = absl::Seconds(10);
  };
  using HelloFactory = std::function<v1::Hello()>;
  using HeartbeatFactory = std::function<v1::Heartbeat()>;
  using Handler = std::function<void(const v1::SchedulerMessage&)>;

  SchedulerLink(Options options, HelloFactory hello, Handler handler, HeartbeatFactory heartbeat);
  ~SchedulerLink();

  void Start();
  // Closes the stream and stops reconnecting.
  void Stop();

  // Sends now when connected. Results are kept while disconnected and sent after the
  // next hello; progress and heartbeats are dropped (the next ones supersede them).
  void Send(const v1::WorkerMessage& message);

  // Attempt ids of results waiting to be sent (the hello lists them as running).
  std::vector<int64_t> PendingResults() const;

  bool connected() const;

 private:
  void Loop();
  void HeartbeatLoop();
  bool WriteLocked(const v1::WorkerMessage& message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Options options_;
  HelloFactory hello_;
  Handler handler_;
  HeartbeatFactory heartbeat_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration heartbeat_interval_ ABSL_GUARDED_BY(mu_) = absl::Seconds(2);
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  grpc::ClientReaderWriter<v1::WorkerMessage, v1::SchedulerMessage>* stream_ ABSL_GUARDED_BY(mu_) =
      nullptr;
  std::deque<v1::WorkerMessage> pending_results_ ABSL_GUARDED_BY(mu_);
  absl::BitGen bitgen_;
  std::thread thread_;
  std::thread heartbeat_thread_;
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_DAEMON_SCHEDULER_LINK_H_
