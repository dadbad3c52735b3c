// The CLI's connection to the scheduler (or to several, --scheduler a:7070,b:7070, of which
// the leader answers: see common/tls/scheduler_channel.h): one channel, the JobService and
// FarmService stubs, and the per-call deadline every unary call carries.
//
//   SchedulerConnection scheduler("127.0.0.1:7070", absl::Seconds(10));
//   grpc::ClientContext context;
//   scheduler.SetDeadline(context);
//   grpc::Status s = scheduler.jobs().GetJob(&context, request, &response);
//   if (!s.ok()) return scheduler.ToStatus(s);
//
// Stubs are thread-safe; the CLI uses them from one thread.
#ifndef GENFARM_CLIENT_CLI_SCHEDULER_CONNECTION_H_
#define GENFARM_CLIENT_CLI_SCHEDULER_CONNECTION_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/tls/scheduler_channel.h"
#include "genfarm/v1/farm_service.grpc.pb.h"
#include "genfarm/v1/job_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace genfarm::client {

class SchedulerConnection {
 public:
  SchedulerConnection(std::string address, absl::Duration deadline);
  // With the credentials of common/tls/grpc_credentials.h; `tls` says whether they are TLS
  // (for what failures mean).
  SchedulerConnection(std::string address, absl::Duration deadline,
                      std::shared_ptr<grpc::ChannelCredentials> credentials, bool tls);
  // Over the channel `target` names (common/tls/scheduler_channel.h): several schedulers
  // make every unary call wait, within its deadline, for the leader.
  SchedulerConnection(std::string address, absl::Duration deadline,
                      const tls::SchedulerTarget& target,
                      std::shared_ptr<grpc::ChannelCredentials> credentials);
  // Over a channel the caller made (tests: a server's InProcessChannel); `address` only
  // names the scheduler in messages.
  SchedulerConnection(std::string address, absl::Duration deadline,
                      std::shared_ptr<grpc::Channel> channel);

  const std::string& address() const { return address_; }
  v1::JobService::Stub& jobs() { return *jobs_; }
  v1::FarmService::Stub& farm() { return *farm_; }

  // Gives a unary call its deadline. Streams that follow a job (WatchJob) go without one.
  void SetDeadline(grpc::ClientContext& context) const;

  // A failed call's status, explained for the terminal (see rpc_error.h).
  absl::Status ToStatus(const grpc::Status& status) const;

  // What ToStatus runs when a TLS handshake failed on our side: a check that says why the
  // scheduler's certificate was refused, and tells the scheduler (common/tls/server_check.h).
  // OK: no finding, the usual explanation stands.
  void set_tls_check(std::function<absl::Status()> check) { tls_check_ = std::move(check); }

 private:
  std::string address_;
  absl::Duration deadline_;
  bool tls_ = false;
  bool wait_for_leader_ = false;
  std::function<absl::Status()> tls_check_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::JobService::Stub> jobs_;
  std::unique_ptr<v1::FarmService::Stub> farm_;
};

}  // namespace genfarm::client

#endif  // GENFARM_CLIENT_CLI_SCHEDULER_CONNECTION_H_
