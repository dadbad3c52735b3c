#include "scheduler/service/ha_scheduler.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/port_file.h"
#include "common/status_macros.h"
#include "scheduler/ha/leader_election.h"
#include "scheduler/ha/postgres_leader_lease.h"
#include "scheduler/service/standby_server.h"
#include "scheduler/store/job_store_factory.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler {
namespace {

// Restarts this binary with its own arguments. Why a new process rather than tearing the
// leader down in place: the core, the store writer's pending batch (now fenced), reactors of
// streams from the lost epoch, the policy's history and the caches all hold state from a
// term that is over, and some of it (the writer retrying a fenced batch) would keep trying to
// act on it. A fresh process has none, by construction; it is what a crash and a supervisor
// restart would give, without depending on a supervisor. The lease connection dies with the
// old image, and the new one starts as a standby that recovers from PostgreSQL if elected.
[[noreturn]] void RestartAsStandby(const std::vector<std::string>& argv, const absl::Status& why) {
  spdlog::error("high availability: stepping down ({}); restarting as a standby",
                std::string(why.message()));
  spdlog::default_logger()->flush();
  // Descriptors a library opened without O_CLOEXEC (an HTTP listener, say) would survive the
  // exec and keep their port bound in the new image.
  rlimit limit{};
  const int max_fd = getrlimit(RLIMIT_NOFILE, &limit) == 0
                         ? static_cast<int>(std::min<rlim_t>(limit.rlim_cur, 65536))
                         : 1024;
  for (int fd = 3; fd < max_fd; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  execv("/proc/self/exe", args.data());
  spdlog::critical("high availability: re-exec of /proc/self/exe failed (errno {}); exiting",
                   errno);
  spdlog::default_logger()->flush();
  _exit(1);
}

// Unique per process, readable in the lease row: host, pid and a random tag (a re-exec keeps
// the pid).
std::string HolderId() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  absl::BitGen bitgen;
  return absl::StrFormat("%s:%d:%08x", host, getpid(), absl::Uniform<uint32_t>(bitgen));
}

// `listen` with its port replaced by the one bound (for --listen HOST:0).
std::string WithPort(const std::string& listen, int port) {
  const size_t colon = listen.rfind(':');
  return absl::StrCat(colon == std::string::npos ? listen : listen.substr(0, colon), ":", port);
}

// What to advertise by default: the --listen address, with a wildcard host (0.0.0.0, [::])
// replaced by this host's name, which clients can at least try.
std::string DefaultAdvertise(const std::string& listen, int port) {
  const size_t colon = listen.rfind(':');
  const std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") {
    char name[256] = {};
    gethostname(name, sizeof(name) - 1);
    return absl::StrCat(name, ":", port);
  }
  return WithPort(listen, port);
}

}  // namespace

struct HaScheduler::Parts {
  Options options;
  std::string holder;
  std::string address;  // advertised
  std::unique_ptr<ha::PostgresLeaderLease> lease;
  std::unique_ptr<ha::LeaderElection> election;
  std::unique_ptr<StandbyServer> standby;
  std::unique_ptr<SchedulerServer> server;
  int port = 0;

  absl::Mutex mu;
  int64_t elected_epoch ABSL_GUARDED_BY(mu) = 0;
  bool shutting_down ABSL_GUARDED_BY(mu) = false;
  bool done ABSL_GUARDED_BY(mu) = false;

  void WritePorts(int http_port) {
    if (options.port_file.empty()) return;
    if (absl::Status s =
            WritePortFile(options.port_file, {{"grpc_port", port}, {"http_port", http_port}});
        !s.ok()) {
      spdlog::error("--port_file: {}", std::string(s.message()));
    }
  }
};

absl::StatusOr<std::unique_ptr<HaScheduler>> HaScheduler::Start(Options options) {
  GENFARM_ASSIGN_OR_RETURN(StoreKind kind, ParseStoreKind(options.server.store));
  if (kind != StoreKind::kPostgres) {
    return absl::InvalidArgumentError(
        "--ha needs --store postgres://...: the schedulers share their state and elect their "
        "leader through PostgreSQL (an SQLite file belongs to one scheduler)");
  }
  auto parts = std::make_unique<Parts>();
  parts->options = std::move(options);
  parts->holder = HolderId();
  GENFARM_ASSIGN_OR_RETURN(parts->standby, StandbyServer::Start(parts->options.server.grpc_address,
                                                                parts->options.server.security));
  parts->port = parts->standby->port();
  parts->address = parts->options.advertise.empty()
                       ? DefaultAdvertise(parts->options.server.grpc_address, parts->port)
                       : parts->options.advertise;
  ha::PostgresLeaderLease::Options lease;
  lease.url = PostgresUrl(parts->options.server.store);
  lease.holder = parts->holder;
  lease.address = parts->address;
  lease.lease = parts->options.lease;
  GENFARM_ASSIGN_OR_RETURN(parts->lease, ha::PostgresLeaderLease::Open(lease));
  parts->WritePorts(0);

  ha::LeaderElection::Options election;
  election.lease = parts->options.lease;
  election.renew_interval = parts->options.lease / 4;
  election.poll_interval = parts->options.lease / 8;
  election.expiry_margin = parts->options.lease / 8;
  Parts* p = parts.get();
  ha::LeaderElection::Callbacks callbacks;
  callbacks.on_elected = [p](int64_t epoch) {
    absl::MutexLock lock(&p->mu);
    p->elected_epoch = epoch;
  };
  callbacks.on_standby = [p](const ha::LeaseView& leader) {
    absl::MutexLock lock(&p->mu);
    if (p->standby != nullptr && p->elected_epoch == 0) p->standby->SetLeader(leader);
  };
  callbacks.on_lost = [p](const absl::Status& why) {
    {
      absl::MutexLock lock(&p->mu);
      if (p->shutting_down) return;  // a clean stop gave the lease up on purpose
    }
    RestartAsStandby(p->options.argv, why);
  };
  parts->election = std::make_unique<ha::LeaderElection>(*parts->lease, RealClock::Get(), election,
                                                         std::move(callbacks));
  spdlog::info("genfarm-scheduler standing by on gRPC port {} as {} (advertised {})", parts->port,
               parts->holder, parts->address);
  parts->election->Start();
  return std::unique_ptr<HaScheduler>(new HaScheduler(std::move(parts)));
}

HaScheduler::HaScheduler(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

HaScheduler::~HaScheduler() { Shutdown(); }

int HaScheduler::grpc_port() const { return parts_->port; }

void HaScheduler::Wait() {
  Parts* p = parts_.get();
  int64_t epoch = 0;
  {
    absl::MutexLock lock(&p->mu);
    p->mu.Await(absl::Condition(
        +[](Parts* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu) {
          return p->elected_epoch != 0 || p->shutting_down;
        },
        p));
    if (p->shutting_down) {
      p->mu.Await(absl::Condition(&p->done));
      return;
    }
    epoch = p->elected_epoch;
  }
  const absl::Time elected_at = RealClock::Get().Now();
  p->standby->Shutdown();
  SchedulerServerOptions server = p->options.server;
  server.grpc_address = WithPort(server.grpc_address, p->port);
  PostgresJobStore::Fence fence;
  fence.epoch = epoch;
  fence.holder = p->holder;
  fence.idle_in_transaction_timeout = p->options.lease;
  ha::LeaderElection* election = p->election.get();
  fence.on_fenced = [election](const absl::Status& why) { election->StepDown(why); };
  server.fence = std::move(fence);
  absl::StatusOr<std::unique_ptr<SchedulerServer>> started = SchedulerServer::Start(server);
  if (!started.ok()) {
    // Not a re-exec: a bad flag or file would make that a loop. Give the lease up so another
    // standby leads, and let the supervisor restart this one.
    spdlog::critical("high availability: elected at epoch {} but cannot start: {}", epoch,
                     std::string(started.status().message()));
    (void)p->lease->Release(epoch);
    spdlog::default_logger()->flush();
    _exit(1);
  }
  bool stopping;
  {
    absl::MutexLock lock(&p->mu);
    p->server = *std::move(started);
    stopping = p->shutting_down;  // Shutdown() ran while we recovered: it saw no server
  }
  if (stopping) {
    p->server->Shutdown();
    absl::MutexLock lock(&p->mu);
    p->mu.Await(absl::Condition(&p->done));
    return;
  }
  p->WritePorts(p->server->http_port());
  spdlog::info(
      "high availability: leading at epoch {} on gRPC port {} ({:.2f} s from election to "
      "serving)",
      epoch, p->port, absl::ToDoubleSeconds(RealClock::Get().Now() - elected_at));
  p->server->Wait();
  absl::MutexLock lock(&p->mu);
  p->mu.Await(absl::Condition(&p->done));
}

void HaScheduler::Shutdown() {
  Parts* p = parts_.get();
  SchedulerServer* server = nullptr;
  {
    absl::MutexLock lock(&p->mu);
    if (p->shutting_down) return;
    p->shutting_down = true;
    server = p->server.get();
  }
  if (server != nullptr) server->Shutdown();  // flushes the store while still fenced
  p->election->Stop();
  if (const int64_t epoch = p->election->epoch(); epoch != 0) {
    if (absl::Status s = p->lease->Release(epoch); !s.ok()) {
      spdlog::warn("high availability: releasing the lease: {}", std::string(s.message()));
    } else {
      spdlog::info("high availability: released the lease of epoch {}", epoch);
    }
  }
  p->standby->Shutdown();
  absl::MutexLock lock(&p->mu);
  p->done = true;
}

void HaScheduler::ReloadRoles() {
  absl::MutexLock lock(&parts_->mu);
  if (parts_->server != nullptr) parts_->server->ReloadRoles();
}

}  // namespace genfarm::scheduler
