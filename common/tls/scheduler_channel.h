// SchedulerChannel: the gRPC channel a worker, the CLI or a tool opens to "the scheduler",
// which may be several schedulers of which one leads (genfarm-scheduler --ha). The address
// is one HOST:PORT, several comma-separated (`sched-a:7070,sched-b:7070`), or one DNS name
// with several records. With several addresses, or a name, the channel balances round_robin
// over every address with gRPC client-side health checking on service "": only the backend
// whose health is SERVING (the leader; standbys are NOT_SERVING) gets calls, and when the
// leader changes the channel moves by itself. A single IP address is a plain channel.
//
//   grpc::ChannelArguments args;
//   args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
//   GENFARM_ASSIGN_OR_RETURN(SchedulerTarget target, ParseSchedulerTarget("a:7070,b:7070"));
//   auto channel = CreateSchedulerChannel(target, credentials, std::move(args));
//   if (target.several()) context.set_wait_for_ready(true);   // wait for a leader, bounded
//                                                              // by the call's deadline
//
// Several names are resolved once, here (gRPC's ipv4:/ipv6: targets take addresses only):
// a scheduler that moves to another IP needs the client restarted, or one DNS name, which
// gRPC re-resolves. With TLS, every scheduler's certificate must carry the first address's
// host name (or the one DNS name): the channel checks them all against it.
// An adapter over grpc++ (like grpc_credentials.h); no business logic.
#ifndef GENFARM_COMMON_TLS_SCHEDULER_CHANNEL_H_
#define GENFARM_COMMON_TLS_SCHEDULER_CHANNEL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace genfarm::tls {

struct SchedulerTarget {
  std::string target;     // what grpc::CreateCustomChannel is given
  std::string authority;  // :authority and TLS name for a multi-address target; else empty
  bool balanced = false;  // round_robin + health checking (several addresses or a DNS name)
  int addresses = 1;      // how many were named

  bool several() const { return balanced; }
};

// The service config of a balanced channel (exposed for tests and the Python twin).
extern const char kLeaderOnlyServiceConfig[];

absl::StatusOr<SchedulerTarget> ParseSchedulerTarget(const std::string& addresses);

std::shared_ptr<grpc::Channel> CreateSchedulerChannel(
    const SchedulerTarget& target, std::shared_ptr<grpc::ChannelCredentials> credentials,
    grpc::ChannelArguments args = grpc::ChannelArguments());

}  // namespace genfarm::tls

#endif  // GENFARM_COMMON_TLS_SCHEDULER_CHANNEL_H_
