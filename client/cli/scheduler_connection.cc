#include "client/cli/scheduler_connection.h"

#include "absl/time/time.h"
#include "client/cli/rpc_error.h"
#include "common/clock.h"

namespace genfarm::client {

SchedulerConnection::SchedulerConnection(std::string address, absl::Duration deadline)
    : SchedulerConnection(address, deadline,
                          grpc::CreateChannel(address, grpc::InsecureChannelCredentials())) {}

SchedulerConnection::SchedulerConnection(std::string address, absl::Duration deadline,
                                         std::shared_ptr<grpc::ChannelCredentials> credentials)
    : SchedulerConnection(address, deadline, grpc::CreateChannel(address, std::move(credentials))) {
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
}

absl::Status SchedulerConnection::ToStatus(const grpc::Status& status) const {
  bool connected = channel_->GetState(/*try_to_connect=*/false) == GRPC_CHANNEL_READY;
  return RpcErrorToStatus(status.error_code(), status.error_message(), address_, connected);
}

}  // namespace genfarm::client
