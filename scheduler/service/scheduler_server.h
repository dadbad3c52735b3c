// SchedulerServer: the genfarm-scheduler daemon assembled from its parts: the durable
// store and its group-commit writer, the core on its executor with a tick timer, the
// gRPC services (JobService, WorkerService, FarmService, health, reflection) and the
// HTTP side (/healthz, /metrics). Used by main.cc and by in-process tests.
//
//   SchedulerServerOptions options;
//   options.grpc_address = "127.0.0.1:0";
//   GENFARM_ASSIGN_OR_RETURN(auto server, SchedulerServer::Start(options));
//   std::cout << server->grpc_port();
//   server->Wait();
#ifndef GENFARM_SCHEDULER_SERVICE_SCHEDULER_SERVER_H_
#define GENFARM_SCHEDULER_SERVICE_SCHEDULER_SERVER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "scheduler/auth/security_options.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/http/thumbnail_store.h"
#include "scheduler/policy/genfarm_policy.h"
#include "scheduler/store/postgres_job_store.h"

namespace genfarm::scheduler {

struct SchedulerServerOptions {
  std::string grpc_address = "127.0.0.1:7070";
  std::string http_address = "127.0.0.1:7080";  // empty: no HTTP side
  std::string data_dir = "var/scheduler";
  // Which JobStore (see job_store_factory.h): empty = SQLite in data_dir; postgres://... .
  std::string store;
  // Model facts known before any worker connects (model_catalog_file.h); empty: none.
  std::string model_catalog_file;
  std::string web_root;  // dashboard static files (scheduler/web); empty: JSON API only
  CoreOptions core;
  PolicyConfig policy;
  ThumbnailStoreOptions thumbnails;  // the dashboard's in-memory frame previews
  absl::Duration tick = absl::Milliseconds(100);
  // Told, on the core thread, how long each closure held it, wall and CPU time (the
  // core-hold benchmark).
  std::function<void(absl::Duration wall, absl::Duration cpu)> on_core_run;
  // High availability (genfarm-scheduler --ha): the epoch this scheduler was elected at.
  // Set, the PostgreSQL store's commits are fenced by it (PostgresJobStore::EnableFencing);
  // empty for a scheduler that runs alone.
  std::optional<PostgresJobStore::Fence> fence;
  // TLS, authentication and --insecure (docs/security.md); the default is plaintext, open,
  // and loopback only.
  auth::SecurityOptions security;
};

class SchedulerServer {
 public:
  static absl::StatusOr<std::unique_ptr<SchedulerServer>> Start(
      const SchedulerServerOptions& options);
  ~SchedulerServer();

  int grpc_port() const;
  int http_port() const;

  // Blocks until Shutdown() is called from another thread (e.g. a signal handler thread).
  void Wait();
  // Stops accepting calls, flushes the store, stops threads. Idempotent.
  void Shutdown();
  // Re-reads the roles file if it changed (SIGHUP; a timer also does it every few seconds).
  // A file that does not parse is logged and the roles in force stay. No-op without --roles.
  void ReloadRoles();

  struct Parts;

 private:
  explicit SchedulerServer(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_SERVICE_SCHEDULER_SERVER_H_
