// genfarm-scheduler: parses flags and runs a SchedulerServer until SIGINT/SIGTERM.
#include <csignal>
#include <iostream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/flags_usage.h"
#include "common/port_file.h"
#include "common/tls/tls_files.h"
#include "scheduler/service/ha_scheduler.h"
#include "scheduler/service/scheduler_server.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7070",
          "gRPC address HOST:PORT (port 0 picks a free one)");
ABSL_FLAG(std::string, http, "127.0.0.1:7080",
          "HTTP address for /metrics, /healthz and the dashboard; empty disables");
ABSL_FLAG(std::string, data_dir, "var/scheduler", "directory of the embedded SQLite store");
ABSL_FLAG(std::string, model_catalog, "",
          "YAML file of model facts (name, kind, window_before, window_after) the scheduler knows "
          "before any worker connects, so jobs naming them are planned at once (a job naming a "
          "model nobody has advertised waits, unplanned); workers' hellos update it");
ABSL_FLAG(std::string, store, "",
          "job store: empty or sqlite: = SQLite in --data_dir; postgres://user@host:port/db or "
          "postgres:<libpq keywords> = PostgreSQL (docs/deploy.md)");
#ifndef GENFARM_WEB_ROOT
#define GENFARM_WEB_ROOT ""
#endif
ABSL_FLAG(std::string, web_root, GENFARM_WEB_ROOT,
          "folder of the web dashboard's static files; empty serves only /api/");
ABSL_FLAG(std::string, port_file, "",
          "once both ports are bound, write them here atomically as two lines 'grpc_port=N' and "
          "'http_port=N' (0 when --http is empty): how tests and scripts find port-0 ports");
ABSL_FLAG(double, lease_seconds, 15,
          "heartbeat silence after which a worker's attempts are requeued");
ABSL_FLAG(double, heartbeat_seconds, 2, "heartbeat interval asked of workers");
ABSL_FLAG(double, retry_backoff_seconds, 1, "first retry delay; doubles per failure");
ABSL_FLAG(double, retry_backoff_max_seconds, 60, "longest retry delay");
ABSL_FLAG(int, blocklist_failures, 3,
          "failures of one job on one worker before it is kept off the job");
ABSL_FLAG(std::string, project_weights, "",
          "fair-share weights, e.g. 'feature=2,commercial=1' (default 1)");
ABSL_FLAG(double, preempt_after_seconds, 300,
          "higher-tier work waiting this long preempts batch attempts; 0 disables preemption");
ABSL_FLAG(double, affinity_wait_seconds, 0,
          "how long a batch stage may wait for a worker with its model warm (delay scheduling); 0 "
          "= never wait");
ABSL_FLAG(double, fair_share_history_weight, 0.25,
          "fair share: weight of recent decayed usage against slots held now (0..1)");
ABSL_FLAG(
    double, fair_share_preempt_seconds, 0,
    "a starved project's batch work waiting this long preempts an over-share project's youngest "
    "batch attempt (finished frames are kept); 0 disables, the simulator recommends 15");
ABSL_FLAG(int, thumbnail_memory_mb, 32,
          "memory for the dashboard's frame previews (sent by workers, least recently viewed "
          "evicted first)");
ABSL_FLAG(absl::Duration, retain_finished, absl::InfiniteDuration(),
          "delete jobs (with their tasks and logs) that ended longer ago than this, e.g. 72h or "
          "168h (units: s, m, h); inf (the default) keeps every job until `genfarm delete JOB`");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain of the scheduler (deploy/certs.sh: server.pem); with --tls_key "
          "both ports speak TLS only");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert (server.key)");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA that signs client certificates (ca.pem): workers prove their id with one");
ABSL_FLAG(std::string, roles, "",
          "roles file (YAML, docs/security.md): turns authentication and per-project roles on; "
          "reloaded when it changes. Needs --tls_cert");
ABSL_FLAG(std::string, metrics_token_file, "",
          "file holding the bearer token Prometheus sends for /metrics and /sd/workers");
ABSL_FLAG(bool, ha, false,
          "high availability: run as one of several schedulers on one PostgreSQL (--store "
          "postgres://...); one leads, the others stand by (gRPC health NOT_SERVING) and take "
          "over when its lease expires (docs/deploy.md)");
ABSL_FLAG(std::string, advertise, "",
          "with --ha: the address clients reach this scheduler at, shown by the standbys; empty: "
          "the --listen address");
ABSL_FLAG(double, ha_lease_seconds, 2,
          "with --ha: the leader lease; the leader renews every quarter of it, standbys ask every "
          "eighth, so a standby leads about this long after the leader dies");
ABSL_FLAG(bool, insecure, false,
          "allow a non-loopback --listen or --http without TLS and authentication (anyone who "
          "reaches the port controls the farm)");

namespace {

// Serves until SIGINT or SIGTERM (SIGHUP re-reads the roles file), then shuts `daemon` down.
// `signals` are blocked in every thread; one thread waits for them.
template <typename Daemon>
void ServeUntilSignalled(Daemon& daemon, sigset_t signals) {
  std::thread waiter([&daemon, signals] {
    for (;;) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig != SIGHUP) break;
      daemon.ReloadRoles();
    }
    daemon.Shutdown();
  });
  daemon.Wait();
  waiter.detach();
}

}  // namespace

int main(int argc, char** argv) {
  genfarm::SetFlagsUsage("genfarm-scheduler",
                         "the GenFarm scheduler: jobs, tasks and workers over gRPC.");
  absl::ParseCommandLine(argc, argv);
  spdlog::set_level(spdlog::level::from_str(absl::GetFlag(FLAGS_log_level)));

  genfarm::scheduler::SchedulerServerOptions options;
  options.grpc_address = absl::GetFlag(FLAGS_listen);
  options.http_address = absl::GetFlag(FLAGS_http);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.store = absl::GetFlag(FLAGS_store);
  options.model_catalog_file = absl::GetFlag(FLAGS_model_catalog);
  options.web_root = absl::GetFlag(FLAGS_web_root);
  options.core.lease_ttl = absl::Seconds(absl::GetFlag(FLAGS_lease_seconds));
  options.core.heartbeat_interval = absl::Seconds(absl::GetFlag(FLAGS_heartbeat_seconds));
  options.core.retry_backoff_base = absl::Seconds(absl::GetFlag(FLAGS_retry_backoff_seconds));
  options.core.retry_backoff_max = absl::Seconds(absl::GetFlag(FLAGS_retry_backoff_max_seconds));
  options.core.blocklist_failures = absl::GetFlag(FLAGS_blocklist_failures);
  options.core.retain_finished = absl::GetFlag(FLAGS_retain_finished);
  if (options.core.retain_finished < absl::ZeroDuration()) {
    std::cerr << "genfarm-scheduler: --retain_finished must not be negative\n";
    return 2;
  }
  if (absl::GetFlag(FLAGS_thumbnail_memory_mb) < 1) {
    std::cerr << "genfarm-scheduler: --thumbnail_memory_mb must be at least 1\n";
    return 2;
  }
  options.thumbnails.max_bytes = int64_t{absl::GetFlag(FLAGS_thumbnail_memory_mb)} << 20;
  options.policy.preempt_after_ms =
      static_cast<int64_t>(absl::GetFlag(FLAGS_preempt_after_seconds) * 1000);
  options.policy.affinity_wait_ms =
      static_cast<int64_t>(absl::GetFlag(FLAGS_affinity_wait_seconds) * 1000);
  options.policy.history_weight = absl::GetFlag(FLAGS_fair_share_history_weight);
  options.policy.fair_share_preempt_after_ms =
      static_cast<int64_t>(absl::GetFlag(FLAGS_fair_share_preempt_seconds) * 1000);
  if (options.policy.history_weight < 0 || options.policy.history_weight > 1) {
    std::cerr << "genfarm-scheduler: --fair_share_history_weight must be between 0 and 1\n";
    return 2;
  }
  for (absl::string_view item :
       absl::StrSplit(absl::GetFlag(FLAGS_project_weights), ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    double weight = 0;
    if (!absl::SimpleAtod(kv.second, &weight) || weight <= 0) {
      std::cerr << "genfarm-scheduler: --project_weights: '" << item
                << "' is not PROJECT=POSITIVE_NUMBER\n";
      return 2;
    }
    options.policy.project_weights[kv.first] = weight;
  }

  genfarm::tls::TlsFiles tls_files;
  tls_files.cert = {"--tls_cert", absl::GetFlag(FLAGS_tls_cert)};
  tls_files.key = {"--tls_key", absl::GetFlag(FLAGS_tls_key)};
  tls_files.ca = {"--tls_client_ca", absl::GetFlag(FLAGS_tls_client_ca)};
  auto tls = genfarm::tls::LoadTlsFiles(tls_files);
  if (!tls.ok()) {
    std::cerr << "genfarm-scheduler: " << tls.status().message() << "\n";
    return 2;
  }
  if (!tls->ca.empty() && !tls->has_identity()) {
    std::cerr << "genfarm-scheduler: --tls_client_ca needs --tls_cert and --tls_key\n";
    return 2;
  }
  options.security.tls = *std::move(tls);
  options.security.roles_file = absl::GetFlag(FLAGS_roles);
  options.security.metrics_token_file = absl::GetFlag(FLAGS_metrics_token_file);
  options.security.insecure = absl::GetFlag(FLAGS_insecure);

  // Block the signals in every thread; one thread waits for them. SIGHUP re-reads the roles
  // file.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (absl::GetFlag(FLAGS_ha)) {
    genfarm::scheduler::HaScheduler::Options ha;
    ha.server = options;
    ha.advertise = absl::GetFlag(FLAGS_advertise);
    ha.lease = absl::Seconds(absl::GetFlag(FLAGS_ha_lease_seconds));
    ha.port_file = absl::GetFlag(FLAGS_port_file);
    ha.argv.assign(argv, argv + argc);
    if (ha.lease < absl::Milliseconds(400)) {
      std::cerr << "genfarm-scheduler: --ha_lease_seconds must be at least 0.4\n";
      return 2;
    }
    auto scheduler = genfarm::scheduler::HaScheduler::Start(std::move(ha));
    if (!scheduler.ok()) {
      std::cerr << "genfarm-scheduler: " << scheduler.status().message() << "\n";
      return scheduler.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
    }
    std::cout << "genfarm-scheduler standing by on gRPC port " << (*scheduler)->grpc_port()
              << std::endl;
    ServeUntilSignalled(**scheduler, signals);
    return 0;
  }
  if (!absl::GetFlag(FLAGS_advertise).empty()) {
    std::cerr << "genfarm-scheduler: --advertise is for --ha only\n";
    return 2;
  }

  auto server = genfarm::scheduler::SchedulerServer::Start(options);
  if (!server.ok()) {
    std::cerr << "genfarm-scheduler: " << server.status().message() << "\n";
    return 1;
  }
  std::cout << "genfarm-scheduler listening on gRPC port " << (*server)->grpc_port()
            << ", HTTP port " << (*server)->http_port() << std::endl;
  if (const std::string port_file = absl::GetFlag(FLAGS_port_file); !port_file.empty()) {
    if (absl::Status s = genfarm::WritePortFile(port_file, {{"grpc_port", (*server)->grpc_port()},
                                                            {"http_port", (*server)->http_port()}});
        !s.ok()) {
      std::cerr << "genfarm-scheduler: --port_file: " << s.message() << "\n";
      (*server)->Shutdown();
      return 1;
    }
  }
  ServeUntilSignalled(**server, signals);
  return 0;
}
