// HaScheduler: genfarm-scheduler --ha. Several of these share one PostgreSQL; the one holding
// the leader lease (scheduler/ha) runs the full SchedulerServer, the others are warm standbys
// (StandbyServer: health "" NOT_SERVING, every call UNAVAILABLE naming the leader).
//
//   HaScheduler::Options ha;
//   ha.server = server_options;          // --store must be postgres://...
//   ha.argv = {argv, argv + argc};        // to restart as a standby after stepping down
//   GENFARM_ASSIGN_OR_RETURN(auto scheduler, HaScheduler::Start(ha));
//   scheduler->Wait();                    // until Shutdown() (SIGTERM)
//
// Life cycle: start as a standby on --listen and ask for the lease every poll interval. Once
// elected: stop the standby server, recover from PostgreSQL exactly as a normal start does
// (SchedulerServer::Start, its store commits fenced by the epoch), serve, and renew the lease
// in the background. Stepping down (a renewal refused or late, a fenced commit) re-executes
// the binary with the same arguments, so it comes back as a standby. Shutdown() as leader
// flushes the store and releases the lease, so a standby takes over at once.
//
// Thread-safety: Shutdown and ReloadRoles from any thread; Wait from one.
#ifndef GENFARM_SCHEDULER_SERVICE_HA_SCHEDULER_H_
#define GENFARM_SCHEDULER_SERVICE_HA_SCHEDULER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "scheduler/service/scheduler_server.h"

namespace genfarm::scheduler {

class HaScheduler {
 public:
  struct Options {
    SchedulerServerOptions server;
    // Where clients reach this scheduler when it leads (kept in the lease row and named by
    // the standbys); empty: the --listen address with the port really bound.
    std::string advertise;
    absl::Duration lease = absl::Seconds(2);  // renew every lease/4, standbys poll every lease/8
    std::string port_file;                    // rewritten on each role change (common/port_file.h)
    std::vector<std::string> argv;            // this process's arguments, for the re-exec
  };

  static absl::StatusOr<std::unique_ptr<HaScheduler>> Start(Options options);
  ~HaScheduler();

  int grpc_port() const;
  // Blocks until Shutdown(); meanwhile becomes the leader when elected.
  void Wait();
  void Shutdown();
  void ReloadRoles();

  struct Parts;

 private:
  explicit HaScheduler(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_SERVICE_HA_SCHEDULER_H_
