#include "worker/daemon/scheduler_link.h"

#include <grpc/support/time.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "common/tls/scheduler_channel.h"
#include "spdlog/spdlog.h"

namespace genfarm::worker {

namespace {

std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address,
                                         std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Reconnect promptly after a scheduler restart; our own loop adds the backoff.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // Several schedulers (--ha): calls go to the one whose health is SERVING, the leader.
  absl::StatusOr<tls::SchedulerTarget> target = tls::ParseSchedulerTarget(address);
  if (!target.ok()) {
    spdlog::error("{}; trying it as one gRPC target", std::string(target.status().message()));
    target = tls::SchedulerTarget{address, "", false, 1};
  }
  return tls::CreateSchedulerChannel(*target, std::move(credentials), std::move(args));
}

const char* ChannelStateName(grpc_connectivity_state state) {
  switch (state) {
    case GRPC_CHANNEL_IDLE:
      return "IDLE";
    case GRPC_CHANNEL_CONNECTING:
      return "CONNECTING";
    case GRPC_CHANNEL_READY:
      return "READY";
    case GRPC_CHANNEL_TRANSIENT_FAILURE:
      return "TRANSIENT_FAILURE";
    case GRPC_CHANNEL_SHUTDOWN:
      return "SHUTDOWN";
  }
  return "UNKNOWN";
}

}  // namespace

SchedulerLink::SchedulerLink(Options options, HelloFactory hello, Handler handler,
                             HeartbeatFactory heartbeat, const Clock& clock, absl::BitGenRef bitgen)
    : SchedulerLink(ChannelTo(options.address, options.credentials), options, std::move(hello),
                    std::move(handler), std::move(heartbeat), clock, bitgen) {
  watch_channel_ = true;
}

SchedulerLink::SchedulerLink(std::shared_ptr<grpc::ChannelInterface> channel, Options options,
                             HelloFactory hello, Handler handler, HeartbeatFactory heartbeat,
                             const Clock& clock, absl::BitGenRef bitgen)
    : options_(std::move(options)),
      hello_(std::move(hello)),
      handler_(std::move(handler)),
      heartbeat_(std::move(heartbeat)),
      clock_(clock),
      reconnect_backoff_(options_.reconnect, bitgen),
      channel_(std::move(channel)),
      stub_(v1::WorkerService::NewStub(channel_)) {}

SchedulerLink::~SchedulerLink() { Stop(); }

void SchedulerLink::Start() {
  thread_ = std::thread([this] { Loop(); });
  heartbeat_thread_ = std::thread([this] { HeartbeatLoop(); });
}

void SchedulerLink::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    if (stream_ != nullptr) {
      // Close our side and let the scheduler read everything sent before it (the last
      // results of a drain): it ends the stream once it has, and Loop() returns. Cancelling
      // at once could overtake those messages, and a finished attempt would run again.
      stream_->WritesDone();
      auto closed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return context_ == nullptr; };
      // Real time, like gRPC's own deadlines: this bounds a network handshake at exit, and
      // must not wait for a fake clock to move.
      mu_.AwaitWithTimeout(absl::Condition(&closed), absl::Seconds(5));
    }
    if (context_ != nullptr) context_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
}

bool SchedulerLink::connected() const {
  absl::MutexLock lock(&mu_);
  return connected_;
}

std::vector<int64_t> SchedulerLink::PendingResults() const {
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> out;
  for (const v1::WorkerMessage& m : pending_) {
    if (m.has_result()) out.push_back(m.result().attempt_id());
  }
  return out;
}

bool SchedulerLink::WriteLocked(const v1::WorkerMessage& message) {
  if (!connected_ || stream_ == nullptr) return false;
  return stream_->Write(message);
}

void SchedulerLink::Send(const v1::WorkerMessage& message) {
  absl::MutexLock lock(&mu_);
  if (pending_.empty() && WriteLocked(message)) return;
  KeepLocked(message);
}

void SchedulerLink::KeepLocked(const v1::WorkerMessage& message) {
  if (message.has_result()) {
    pending_.push_back(message);
    return;
  }
  if (!message.has_progress() || message.progress().log_lines_size() == 0) return;
  pending_.push_back(message);
  pending_log_lines_ += message.progress().log_lines_size();
  // Over the bound: drop the oldest progress lines (never a result, which carries the outcome).
  int64_t dropped = 0;
  for (auto it = pending_.begin();
       pending_log_lines_ > options_.max_buffered_log_lines && it != pending_.end();) {
    if (!it->has_progress()) {
      ++it;
      continue;
    }
    const int64_t lines = it->progress().log_lines_size();
    pending_log_lines_ -= lines;
    dropped += lines;
    it = pending_.erase(it);
  }
  if (dropped > 0) {
    spdlog::warn("dropped {} task log lines kept while cut off from the scheduler (limit {})",
                 dropped, options_.max_buffered_log_lines);
    if (options_.on_log_lines_dropped) options_.on_log_lines_dropped(dropped);
  }
}

bool SchedulerLink::AwaitChannel() {
  if (!watch_channel_) return true;
  // gRPC's own monotonic deadline, in slices so that Stop() is noticed (it cancels streams,
  // not this wait); time unconnected is counted in slices, so no clock is read here.
  constexpr int kSliceMs = 250;
  const int64_t report_after =
      std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.report_unreachable_after) / kSliceMs);
  for (int64_t slices = 1;; ++slices) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return false;
    }
    if (channel_->WaitForConnected(gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                                gpr_time_from_millis(kSliceMs, GPR_TIMESPAN)))) {
      return true;
    }
    if (!unreachable_said_ && slices >= report_after) {
      unreachable_said_ = true;
      spdlog::warn("cannot reach scheduler {} for {} (gRPC channel {}); still trying",
                   options_.address, absl::FormatDuration(options_.report_unreachable_after),
                   ChannelStateName(channel_->GetState(false)));
      CheckServerOnce();
    }
  }
}

void SchedulerLink::CheckServerOnce() {
  if (!options_.check_server || server_checked_) return;
  server_checked_ = true;
  if (absl::Status why = options_.check_server(); !why.ok()) {
    spdlog::error("{}", std::string(why.message()));
  }
}

void SchedulerLink::Loop() {
  while (true) {
    if (!AwaitChannel()) return;
    grpc::ClientContext context;
    // Wait for the channel instead of failing fast: a fail-fast call returns the channel's
    // cached "connection refused" while the channel sits in its reconnect backoff, so after
    // a scheduler restart our own backoff grew to many seconds (long enough for the
    // scheduler to give up on our recovered attempts). Waiting, the stream starts as soon
    // as the channel reconnects (its backoff is capped at 2 s); Stop() cancels the wait.
    context.set_wait_for_ready(true);
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      context_ = &context;
    }
    auto stream = stub_->Connect(&context);
    v1::WorkerMessage hello;
    *hello.mutable_hello() = hello_();
    {
      // Results not yet delivered still count as running, so the scheduler keeps the
      // attempts for us; the results follow right after the welcome.
      absl::MutexLock lock(&mu_);
      for (const v1::WorkerMessage& m : pending_) {
        if (m.has_result()) hello.mutable_hello()->add_running_attempts(m.result().attempt_id());
      }
    }
    // Timed right before it leaves: the lease runs from here (never later than the send).
    if (options_.lease != nullptr) hello.mutable_hello()->set_lease_seq(options_.lease->NoteSent());
    bool welcomed = false;
    if (stream->Write(hello)) {
      v1::SchedulerMessage message;
      while (stream->Read(&message)) {
        if (message.has_welcome()) {
          absl::MutexLock lock(&mu_);
          stream_ = stream.get();
          connected_ = true;
          ++session_;
          welcomed = true;
          if (message.welcome().heartbeat_interval_ms() > 0) {
            heartbeat_interval_ = absl::Milliseconds(message.welcome().heartbeat_interval_ms());
          }
          if (options_.lease != nullptr) {
            options_.lease->SetLease(absl::Milliseconds(message.welcome().lease_ms()));
          }
          while (!pending_.empty() && stream_->Write(pending_.front())) {
            if (pending_.front().has_progress())
              pending_log_lines_ -= pending_.front().progress().log_lines_size();
            pending_.pop_front();
          }
          spdlog::info("connected to scheduler {} as {}", options_.address,
                       message.welcome().worker_id());
          reconnect_backoff_.Reset();
          server_checked_ = false;
          unreachable_said_ = false;
          continue;
        }
        if (message.has_lease()) {
          if (options_.lease != nullptr) options_.lease->OnRenewal(message.lease());
          continue;
        }
        handler_(message);
      }
    }
    {
      absl::MutexLock lock(&mu_);
      connected_ = false;
      stream_ = nullptr;
    }
    // Renames now wait for a renewal on the next stream: the scheduler may have requeued our
    // attempts when this one broke.
    if (options_.lease != nullptr) options_.lease->OnDisconnected();
    grpc::Status status = stream->Finish();
    {
      absl::MutexLock lock(&mu_);
      context_ = nullptr;
      if (stopping_) return;
    }
    const absl::Duration wait = reconnect_backoff_.Next();
    if (!welcomed) {
      spdlog::warn("cannot reach scheduler {}: {}; retrying in {:.1f} s", options_.address,
                   status.error_message(), absl::ToDoubleSeconds(wait));
      if (absl::StrContains(status.error_message(), "andshake failed")) CheckServerOnce();
    } else {
      spdlog::warn("lost scheduler {}: {}; reconnecting in {:.1f} s", options_.address,
                   status.error_message(), absl::ToDoubleSeconds(wait));
    }
    absl::MutexLock lock(&mu_);
    auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (clock_.AwaitUntil(&mu_, absl::Condition(&stopped), clock_.Now() + wait)) return;
  }
}

void SchedulerLink::HeartbeatLoop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    // Disconnected, there is nobody to beat for: wait for a welcome, off the clock.
    auto up = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || connected_; };
    mu_.Await(absl::Condition(&up));
    if (stopping_) return;
    // One interval from the welcome (or the last beat) on the session that was up then; a
    // reconnect meanwhile starts a fresh interval.
    const uint64_t session = session_;
    auto interrupted = [this, session]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || !connected_ || session_ != session;
    };
    if (clock_.AwaitUntil(&mu_, absl::Condition(&interrupted), clock_.Now() + heartbeat_interval_))
      continue;
    mu_.Unlock();
    v1::WorkerMessage message;
    *message.mutable_heartbeat() = heartbeat_();
    mu_.Lock();
    if (options_.lease != nullptr)
      message.mutable_heartbeat()->set_lease_seq(options_.lease->NoteSent());
    WriteLocked(message);
  }
}

}  // namespace genfarm::worker
