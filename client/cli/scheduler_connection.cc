#include "client/cli/scheduler_connection.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/cli/rpc_error.h"
#include "common/clock.h"
#include "common/tls/scheduler_channel.h"

namespace genfarm::client {

namespace {

tls::SchedulerTarget TargetOf(const std::string& address) {
  absl::StatusOr<tls::SchedulerTarget> target = tls::ParseSchedulerTarget(address);
  // Unparseable: handed to gRPC as given, whose error on the first call names it.
  return target.ok() ? *target : tls::SchedulerTarget{address, "", false, 1};
}

}  // namespace

SchedulerConnection::SchedulerConnection(std::string address, absl::Duration deadline)
    : SchedulerConnection(address, deadline, grpc::InsecureChannelCredentials(), false) {}

SchedulerConnection::SchedulerConnection(std::string address, absl::Duration deadline,
                                         std::shared_ptr<grpc::ChannelCredentials> credentials,
                                         bool tls)
    : SchedulerConnection(address, deadline, TargetOf(address), std::move(credentials)) {
  tls_ = tls;
}

SchedulerConnection::SchedulerConnection(std::string address, absl::Duration deadline,
                                         const tls::SchedulerTarget& target,
                                         std::shared_ptr<grpc::ChannelCredentials> credentials)
    : SchedulerConnection(std::move(address), deadline,
                          tls::CreateSchedulerChannel(target, std::move(credentials))) {
  // Several schedulers: wait (within the deadline) for one to lead rather than fail at once
  // while a standby takes over.
  wait_for_leader_ = target.balanced;
}

SchedulerConnection::SchedulerConnection(std::string address, absl::Duration deadline,
                                         std::shared_ptr<grpc::Channel> channel)
    : address_(std::move(address)),
      deadline_(deadline),
      channel_(std::move(channel)),
      jobs_(v1::JobService::NewStub(channel_)),
      farm_(v1::FarmService::NewStub(channel_)) {}

void SchedulerConnection::SetDeadline(grpc::ClientContext& context) const {
  context.set_deadline(absl::ToChronoTime(RealClock::Get().Now() + deadline_));
  if (wait_for_leader_) context.set_wait_for_ready(true);
}

absl::Status SchedulerConnection::ToStatus(const grpc::Status& status) const {
  // A TLS mismatch looks like an unreachable scheduler to gRPC; say what it is.
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    const std::string& message = status.error_message();
    if (const size_t at = message.find("handshake failed"); at != std::string::npos) {
      if (tls_check_) {
        if (absl::Status why = tls_check_(); !why.ok()) {
          return absl::UnavailableError(
              absl::StrCat("TLS with the scheduler failed: ", why.message()));
        }
      }
      return absl::UnavailableError(absl::StrCat(
          "TLS with the scheduler at ", address_, " failed (", message.substr(at),
          "): is --tls_ca ($GENFARM_CA) the farm CA that signed its certificate, and is the "
          "address one of its names?"));
    }
    if (!tls_ && absl::StrContains(message, "Socket closed")) {
      return absl::UnavailableError(absl::StrCat(
          "the scheduler at ", address_,
          " closed the connection: if it speaks TLS, give the farm CA with --tls_ca (or "
          "$GENFARM_CA)"));
    }
  }
  bool connected = channel_->GetState(/*try_to_connect=*/false) == GRPC_CHANNEL_READY;
  if (wait_for_leader_ && !connected &&
      (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
       status.error_code() == grpc::StatusCode::UNAVAILABLE)) {
    return absl::UnavailableError(absl::StrCat("no scheduler at ", address_,
                                               " is leading (gRPC health SERVING) after waiting ",
                                               absl::FormatDuration(deadline_),
                                               ": are they running, and is one able to reach the "
                                               "store? (",
                                               status.error_message(), ")"));
  }
  return RpcErrorToStatus(status.error_code(), status.error_message(), address_, connected);
}

}  // namespace genfarm::client
