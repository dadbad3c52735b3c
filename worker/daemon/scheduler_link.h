// SchedulerLink: the worker's one long-lived WorkerService.Connect stream. It says
// hello (built fresh on every connect, so it lists the attempts still running),
// heartbeats at the interval the scheduler asks for, hands every scheduler message to
// a handler, and reconnects after common/backoff.h's capped exponential delay with jitter
// when the stream breaks. Every wait (reconnect delay, heartbeat interval) is on the injected
// clock, and the jitter comes from the injected generator, so tests drive it with a FakeClock.
// Results that cannot be sent while disconnected are kept and sent right after the next hello, so a
// scheduler restart loses no finished work. Task log lines (carried by Progress) are kept the
// same way, in order with the results, up to a bound (the oldest lines go first, counted).
// With a LeaseTable, every hello and heartbeat is numbered and timed for lease fencing, and
// LeaseRenewals and disconnects are reported to it (docs/fencing.md).
//
// A worker holds exactly one stream, so a dedicated reader thread with gRPC's sync
// client API is the simplest correct design here (the scheduler side, which holds
// thousands, uses the callback API).
//
//   absl::BitGen bitgen;
//   SchedulerLink link(options, [&] { return BuildHello(); },
//                      [&](const v1::SchedulerMessage& m) { executor.Handle(m); },
//                      [&] { return BuildHeartbeat(); }, RealClock::Get(), bitgen);
//   link.Start();
//   link.Send(result_message);
//   link.Stop();
//
// Ownership: borrows the clock and the generator (which must outlive the link; the
// generator is used only on the link's thread). Owns a reader thread (connect, read, hand
// to the handler, reconnect) and a heartbeat thread, started by Start, joined by Stop.
// Thread-safe: Send may be called from any thread. The handler runs on the reader thread.
#ifndef GENFARM_WORKER_DAEMON_SCHEDULER_LINK_H_
#define GENFARM_WORKER_DAEMON_SCHEDULER_LINK_H_

#include <grpcpp/grpcpp.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/random/bit_gen_ref.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "genfarm/v1/worker_service.grpc.pb.h"
#include "worker/daemon/lease_table.h"

namespace genfarm::worker {

class SchedulerLink {
 public:
  struct Options {
    std::string address = "127.0.0.1:7070";
    // TLS (and the worker's client certificate) for the channel; null: insecure.
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    // Delay before reconnecting after a failed or lost stream: doubles from 200 ms to 10 s,
    // drawn from [d/2, d] so a farm of workers does not reconnect in lockstep after a
    // scheduler restart. A welcome resets it.
    BackoffOptions reconnect = {absl::Milliseconds(200), absl::Seconds(10), 0.5};
    // Lease fencing; null: none. Borrowed, must outlive the link.
    LeaseTable* lease = nullptr;
    // Log lines kept while disconnected, over all attempts; beyond it the oldest are dropped
    // and reported to on_log_lines_dropped (called with the link's lock held: keep it short).
    int64_t max_buffered_log_lines = 20000;
    std::function<void(int64_t lines)> on_log_lines_dropped;
    // Run at most once per run of failures (a welcome starts a new run): when a stream
    // fails with a TLS handshake that failed on our side, or the channel has not connected
    // for report_unreachable_after. Says why the scheduler's certificate was refused, and
    // tells the scheduler (common/tls/server_check.h). Its error is logged; OK means no
    // finding. Null: none.
    std::function<absl::Status()> check_server;
    // A channel not connected this long (real time, like gRPC's own) is reported, once per
    // run of failures, and check_server runs: the stream would wait for it in silence.
    absl::Duration report_unreachable_after = absl::Seconds(5);
  };
  using HelloFactory = std::function<v1::Hello()>;
  using HeartbeatFactory = std::function<v1::Heartbeat()>;
  using Handler = std::function<void(const v1::SchedulerMessage&)>;

  SchedulerLink(Options options, HelloFactory hello, Handler handler, HeartbeatFactory heartbeat,
                const Clock& clock, absl::BitGenRef bitgen);
  // Over a channel the caller made (tests: a server's InProcessChannel, which has no
  // connectivity state, so the link does not wait for it to connect or report it
  // unreachable); options.address then only names the scheduler in logs.
  SchedulerLink(std::shared_ptr<grpc::ChannelInterface> channel, Options options,
                HelloFactory hello, Handler handler, HeartbeatFactory heartbeat, const Clock& clock,
                absl::BitGenRef bitgen);
  ~SchedulerLink();

  void Start();
  // Closes the stream and stops reconnecting.
  void Stop();

  // Sends now when connected. Results, and the log lines of progress messages, are kept while
  // disconnected and sent after the next hello, in the order they were sent; progress counts
  // and heartbeats are dropped (the next ones supersede them).
  void Send(const v1::WorkerMessage& message);

  // Attempt ids of results waiting to be sent (the hello lists them as running).
  std::vector<int64_t> PendingResults() const;

  bool connected() const;

 private:
  void Loop();
  // Waits for the channel to connect; false when stopping.
  bool AwaitChannel();
  // Runs options_.check_server once per run of failures and logs what it found.
  void CheckServerOnce();
  void HeartbeatLoop();
  bool WriteLocked(const v1::WorkerMessage& message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void KeepLocked(const v1::WorkerMessage& message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Options options_;
  HelloFactory hello_;
  Handler handler_;
  HeartbeatFactory heartbeat_;
  const Clock& clock_;
  ExponentialBackoff reconnect_backoff_;  // reader thread only
  bool server_checked_ = false;           // reader thread only: check_server ran this streak
  bool unreachable_said_ = false;         // reader thread only: AwaitChannel said so this streak
  std::shared_ptr<grpc::ChannelInterface> channel_;
  bool watch_channel_ = false;  // a channel of our own, with connectivity to wait for
  std::unique_ptr<v1::WorkerService::Stub> stub_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t session_ ABSL_GUARDED_BY(mu_) = 0;  // bumped by every welcome
  absl::Duration heartbeat_interval_ ABSL_GUARDED_BY(mu_) = absl::Seconds(2);
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  grpc::ClientReaderWriter<v1::WorkerMessage, v1::SchedulerMessage>* stream_ ABSL_GUARDED_BY(mu_) =
      nullptr;
  // Results and log-carrying progress not yet delivered, in order.
  std::deque<v1::WorkerMessage> pending_ ABSL_GUARDED_BY(mu_);
  int64_t pending_log_lines_ ABSL_GUARDED_BY(mu_) = 0;  // in pending_'s progress messages
  std::thread thread_;
  std::thread heartbeat_thread_;
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_DAEMON_SCHEDULER_LINK_H_
