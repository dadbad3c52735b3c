// StandbyServer: what a standby scheduler (genfarm-scheduler --ha, not leading) serves on its
// gRPC port. Health: service "" NOT_SERVING, so a Kubernetes readiness probe and clients with
// gRPC client-side health checking send nothing here; service "genfarm.liveness" SERVING, so
// a liveness probe does not kill a healthy standby. Every other call (JobService,
// FarmService, WorkerService) is answered UNAVAILABLE, naming the leader's address and epoch
// as last read from the lease, so a person with one address knows where to go.
//
//   GENFARM_ASSIGN_OR_RETURN(auto standby, StandbyServer::Start("0.0.0.0:7070", security));
//   standby->SetLeader({.epoch = 7, .address = "sched-b:7070"});
//   ...                      // once elected:
//   standby->Shutdown();     // frees the port for the full SchedulerServer
//
// Thread-safety: SetLeader and Shutdown from any thread.
#ifndef GENFARM_SCHEDULER_SERVICE_STANDBY_SERVER_H_
#define GENFARM_SCHEDULER_SERVICE_STANDBY_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "scheduler/auth/security_options.h"
#include "scheduler/ha/leader_lease.h"

namespace genfarm::scheduler {

// The gRPC health service name that is SERVING on leaders and standbys alike (liveness).
inline constexpr char kLivenessService[] = "genfarm.liveness";

class StandbyServer {
 public:
  static absl::StatusOr<std::unique_ptr<StandbyServer>> Start(
      const std::string& address, const auth::SecurityOptions& security);
  ~StandbyServer();

  int port() const;
  void SetLeader(const ha::LeaseView& leader);
  // Stops serving (waits at most a second for calls in flight). Idempotent.
  void Shutdown();

  struct Parts;

 private:
  explicit StandbyServer(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_SERVICE_STANDBY_SERVER_H_
