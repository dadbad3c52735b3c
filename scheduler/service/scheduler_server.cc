#include "scheduler/service/scheduler_server.h"

#include <fcntl.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/http/http_metrics.h"
#include "common/http/http_server.h"
#include "common/serial_executor.h"
#include "common/status_macros.h"
#include "common/tls/grpc_credentials.h"
#include "nlohmann/json.hpp"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "scheduler/auth/auth_metrics.h"
#include "scheduler/auth/authenticator.h"
#include "scheduler/auth/authorizer.h"
#include "scheduler/auth/grpc_auth.h"
#include "scheduler/auth/handshake_audit.h"
#include "scheduler/auth/http_gate.h"
#include "scheduler/auth/listen_policy.h"
#include "scheduler/auth/roles_store.h"
#include "scheduler/auth/token_store.h"
#include "scheduler/core/store_writer_sink.h"
#include "scheduler/http/dashboard_routes.h"
#include "scheduler/metrics/scheduler_metrics.h"
#include "scheduler/service/farm_service.h"
#include "scheduler/service/job_service.h"
#include "scheduler/service/model_catalog_file.h"
#include "scheduler/service/standby_server.h"
#include "scheduler/service/worker_service.h"
#include "scheduler/store/job_store_factory.h"
#include "scheduler/store/store_writer.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler {
namespace {

// One scheduler per data directory: a second one would fork the job history.
absl::StatusOr<int> LockDataDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("data dir ", dir, ": ", ec.message()));
  const std::string path = dir + "/LOCK";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", path));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("data dir ", dir, " is in use by another genfarm-scheduler"));
  }
  return fd;
}

// Prometheus' token, hashed at once: only the digest is kept.
absl::StatusOr<std::string> MetricsTokenDigest(const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream in(path);
  std::string token;
  if (!in || !std::getline(in, token)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_token_file ", path, ": cannot read a token from it"));
  }
  token = std::string(absl::StripAsciiWhitespace(token));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--metrics_token_file ", path, " is empty"));
  }
  return auth::Sha256Hex(token);
}

void ReloadAndLog(auth::RolesStore& roles) {
  absl::StatusOr<bool> reloaded = roles.ReloadIfChanged();
  if (!reloaded.ok()) {
    spdlog::error("roles: {}", std::string(reloaded.status().message()));
  } else if (*reloaded) {
    spdlog::info("roles: reloaded {} (generation {})", roles.path(), roles.Current()->generation);
  }
}

}  // namespace

struct SchedulerServer::Parts {
  SchedulerServerOptions options;
  int lock_fd = -1;
  // Security, before the servers that consult it on their threads until they stop.
  std::unique_ptr<auth::AuthMetrics> auth_metrics;
  std::unique_ptr<auth::RolesStore> roles;  // null: authentication off
  std::unique_ptr<PeriodicTimer> roles_reloader;
  std::unique_ptr<auth::Authenticator> authenticator;
  std::unique_ptr<auth::Authorizer> authorizer;
  std::unique_ptr<auth::GrpcAuth> grpc_auth;
  std::unique_ptr<auth::AuditLog> audit;  // audit.db in the data dir (docs/security.md)
  // Refused TLS handshakes into `audit` (declared after it: uninstalled before it closes).
  std::unique_ptr<auth::HandshakeAudit> handshake_audit;
  std::unique_ptr<auth::HttpGate> http_gate;
  // Before the writer and the core, which report into the metrics until they stop.
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<SchedulerMetrics> metrics;
  std::unique_ptr<HttpMetrics> http_metrics;  // the HTTP port's own (genfarm_scheduler_http_*)
  // Before the executor and the HTTP server, whose work puts into and reads from it.
  std::unique_ptr<ThumbnailStore> thumbnails;
  std::unique_ptr<JobStore> store;
  // A second connection for task-log reads, used only on log_reader's thread.
  std::unique_ptr<JobStore> log_store;
  std::unique_ptr<SerialExecutor> log_reader;
  std::unique_ptr<StoreWriter> writer;
  std::unique_ptr<StoreWriterSink> sink;
  std::unique_ptr<GenFarmPolicy> policy;
  std::unique_ptr<SchedulerCore> core;
  std::unique_ptr<SerialExecutor> executor;
  std::unique_ptr<SerialExecutor> planner;  // validates and plans submissions off the core
  std::unique_ptr<PeriodicTimer> ticker;
  std::unique_ptr<GrpcJobService> job_service;
  std::unique_ptr<GrpcWorkerService> worker_service;
  std::unique_ptr<GrpcFarmService> farm_service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<HttpServer> http;
  int grpc_port = 0;
  int http_port = 0;
  absl::Notification shutdown;
  absl::Mutex mu;
  bool stopped ABSL_GUARDED_BY(mu) = false;
};

absl::StatusOr<std::unique_ptr<SchedulerServer>> SchedulerServer::Start(
    const SchedulerServerOptions& options) {
  const auth::SecurityOptions& security = options.security;
  GENFARM_ASSIGN_OR_RETURN(std::string insecure_warning,
                           auth::CheckListenSecurity({{{"--listen", options.grpc_address},
                                                       {"--http", options.http_address}},
                                                      security.tls.has_identity(),
                                                      security.authentication(),
                                                      security.insecure}));
  if (!insecure_warning.empty()) {
    for (int i = 0; i < 3; ++i) spdlog::warn("{}", insecure_warning);
  }
  if (security.authentication() && !security.tls.has_identity()) {
    return absl::InvalidArgumentError(
        "--roles needs --tls_cert and --tls_key: tokens and certificates travel only over TLS");
  }
  if (security.authentication() && security.tls.ca.empty()) {
    return absl::InvalidArgumentError(
        "--roles needs --tls_client_ca: workers prove who they are with certificates from the "
        "farm CA");
  }
  auto parts = std::make_unique<Parts>();
  parts->options = options;
  if (security.authentication()) {
    GENFARM_ASSIGN_OR_RETURN(parts->roles, auth::RolesStore::Open(security.roles_file));
    auth::RolesStore* roles = parts->roles.get();
    parts->roles_reloader = std::make_unique<PeriodicTimer>(
        RealClock::Get(), security.roles_reload_period, [roles] { ReloadAndLog(*roles); });
    parts->authenticator = std::make_unique<auth::Authenticator>(*parts->roles, RealClock::Get());
    spdlog::info("authentication on: {} people in {}",
                 parts->roles->Current()->config.people.size(), security.roles_file);
  }
  parts->auth_metrics = std::make_unique<auth::AuthMetrics>(*parts->registry);
  parts->authorizer = std::make_unique<auth::Authorizer>(parts->roles.get());
  parts->grpc_auth = std::make_unique<auth::GrpcAuth>(
      parts->authenticator.get(), *parts->authorizer, parts->auth_metrics.get());
  GENFARM_ASSIGN_OR_RETURN(std::string metrics_digest,
                           MetricsTokenDigest(security.metrics_token_file));
  parts->http_gate = std::make_unique<auth::HttpGate>(
      parts->authenticator.get(), *parts->authorizer, metrics_digest, parts->auth_metrics.get());
  GENFARM_ASSIGN_OR_RETURN(StoreKind store_kind, ParseStoreKind(options.store));
  // The LOCK guards the SQLite file; PostgreSQL arbitrates its own clients.
  if (store_kind == StoreKind::kSqlite) {
    GENFARM_ASSIGN_OR_RETURN(parts->lock_fd,
                             LockDataDir(SqliteDataDir(options.store, options.data_dir)));
  }
  const std::string store_name = DescribeStore(options.store, options.data_dir);
  if (options.fence.has_value()) {
    GENFARM_ASSIGN_OR_RETURN(parts->store, OpenFencedJobStore(options.store, *options.fence));
  } else {
    GENFARM_ASSIGN_OR_RETURN(parts->store, OpenJobStore(options.store, options.data_dir));
  }
  const absl::Time load_start = RealClock::Get().Now();
  GENFARM_ASSIGN_OR_RETURN(StoreSnapshot snapshot, parts->store->Load());
  parts->metrics = std::make_unique<SchedulerMetrics>(*parts->registry);
  parts->http_metrics = std::make_unique<HttpMetrics>(*parts->registry, "genfarm_scheduler");
  parts->thumbnails =
      std::make_unique<ThumbnailStore>(RealClock::Get(), options.thumbnails, parts->registry.get());
  StoreWriter::Options writer_options;
  writer_options.on_commit = [metrics = parts->metrics.get()](const CommitStats& s) {
    metrics->OnCommit(s);
  };
  parts->writer = std::make_unique<StoreWriter>(*parts->store, RealClock::Get(), writer_options);
  parts->sink = std::make_unique<StoreWriterSink>(*parts->writer);
  parts->policy = std::make_unique<GenFarmPolicy>(options.policy);
  parts->core = std::make_unique<SchedulerCore>(RealClock::Get(), *parts->sink, *parts->policy,
                                                options.core, parts->metrics.get());
  GENFARM_RETURN_IF_ERROR(parts->core->Recover(snapshot));
  if (!options.model_catalog_file.empty()) {
    GENFARM_ASSIGN_OR_RETURN(std::vector<v1::ModelInfo> models,
                             ReadModelCatalogFile(options.model_catalog_file));
    parts->core->LearnModels(models);  // before any request: the executor is not running yet
    spdlog::info("model catalog: {} models from {}", models.size(), options.model_catalog_file);
  }
  spdlog::info("loaded {} jobs and {} tasks from {} in {:.2f} s", snapshot.jobs.size(),
               snapshot.tasks.size(), store_name,
               absl::ToDoubleSeconds(RealClock::Get().Now() - load_start));
  snapshot = StoreSnapshot{};

  SchedulerCore* core = parts->core.get();
  Parts* p = parts.get();
  SerialExecutor::Options core_thread;
  // After each burst: dispatch, then queue the next slice of background work (a sweep of
  // a big job), so requests that arrive meanwhile run between slices.
  core_thread.idle = [p] {
    p->core->Dispatch();
    if (p->core->HasBackgroundWork()) p->executor->Post([p] { p->core->RunBackgroundWork(); });
  };
  core_thread.clock = &RealClock::Get();
  core_thread.on_run = [p](absl::Duration wall, absl::Duration cpu) {
    p->metrics->OnCoreRun(wall);
    if (p->options.on_core_run) p->options.on_core_run(wall, cpu);
  };
  parts->executor = std::make_unique<SerialExecutor>(std::move(core_thread));
  SerialExecutor* executor = parts->executor.get();
  // Submissions are validated and planned here, off the core thread; so are jobs that
  // waited for a model's facts.
  parts->planner = std::make_unique<SerialExecutor>();
  SerialExecutor* planner = parts->planner.get();
  core->SetPlanRunner(
      [planner, executor, core](v1::JobSpec spec, JobId id,
                                std::function<void(absl::StatusOr<PreparedJob>)> done) {
        planner->Post([executor, core, spec = std::move(spec), id, done = std::move(done)] {
          auto prepared = std::make_shared<absl::StatusOr<PreparedJob>>(core->PrepareJob(spec, id));
          executor->Post([done, prepared] { done(std::move(*prepared)); });
        });
      });
  parts->ticker = std::make_unique<PeriodicTimer>(RealClock::Get(), options.tick, [executor, core] {
    executor->Post([core] { core->Tick(); });
  });

  // Task-log reads run on their own thread, so on a connection of their own.
  GENFARM_ASSIGN_OR_RETURN(parts->log_store, OpenJobStore(options.store, options.data_dir));
  parts->log_reader = std::make_unique<SerialExecutor>();
  parts->job_service = std::make_unique<GrpcJobService>(*parts->executor, *parts->core,
                                                        *parts->log_store, *parts->log_reader);
  parts->job_service->set_planner(planner);
  parts->worker_service =
      std::make_unique<GrpcWorkerService>(*parts->executor, *parts->core, parts->thumbnails.get());
  parts->farm_service = std::make_unique<GrpcFarmService>(*parts->executor, *parts->core);
  // The data dir holds the audit log whatever the store (LockDataDir made it for SQLite).
  if (std::error_code ec; !std::filesystem::create_directories(options.data_dir, ec) && ec) {
    return absl::InternalError(absl::StrCat("data dir ", options.data_dir, ": ", ec.message()));
  }
  GENFARM_ASSIGN_OR_RETURN(
      parts->audit,
      auth::AuditLog::Open((std::filesystem::path(options.data_dir) / "audit.db").string(),
                           RealClock::Get()));
  parts->grpc_auth->set_audit(parts->audit.get());
  parts->http_gate->set_audit(parts->audit.get());
  if (security.tls.has_identity()) {
    parts->handshake_audit = std::make_unique<auth::HandshakeAudit>(
        parts->audit.get(), parts->auth_metrics.get(), RealClock::Get());
    parts->handshake_audit->Install();
  }
  parts->job_service->set_auth(parts->grpc_auth.get());
  parts->worker_service->set_auth(parts->grpc_auth.get());
  parts->farm_service->set_auth(parts->grpc_auth.get());
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> credentials = security.tls.has_identity()
                                                             ? tls::ServerCredentials(security.tls)
                                                             : grpc::InsecureServerCredentials();
  // Every call passes the door (authentication, the service-level rule) before its handler.
  if (security.authentication())
    credentials->SetAuthMetadataProcessor(parts->grpc_auth->DoorProcessor());
  builder.AddListeningPort(options.grpc_address, credentials, &parts->grpc_port);
  builder.RegisterService(parts->job_service.get());
  builder.RegisterService(parts->worker_service.get());
  builder.RegisterService(parts->farm_service.get());
  // Worker streams stay open for days: keepalives find dead peers the OS would not.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // A port another scheduler already serves must be an error, not a shared listener.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  parts->server = builder.BuildAndStart();
  if (parts->server == nullptr || parts->grpc_port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for gRPC on ", options.grpc_address));
  }
  // Kubernetes' liveness probe asks for this one: SERVING on leaders and standbys alike.
  parts->server->GetHealthCheckService()->SetServingStatus(kLivenessService, true);

  if (!options.http_address.empty()) {
    if (security.tls.has_identity()) {
      GENFARM_ASSIGN_OR_RETURN(parts->http,
                               HttpServer::Https(security.tls.cert_path, security.tls.key_path));
    } else {
      parts->http = std::make_unique<HttpServer>();
    }
    parts->http_gate->Install(parts->http->server());
    StoreWriter* writer = parts->writer.get();
    parts->http->server().Get(
        "/healthz", [writer](const httplib::Request&, httplib::Response& res) {
          absl::Status store = writer->last_error();
          if (store.ok()) {
            res.set_content("ok\n", "text/plain");
          } else {
            res.status = 503;
            res.set_content(absl::StrCat("store: ", store.message(), "\n"), "text/plain");
          }
        });
    std::weak_ptr<prometheus::Registry> registry = parts->registry;
    SchedulerMetrics* metrics = parts->metrics.get();
    HttpMetrics* http_metrics = parts->http_metrics.get();
    HttpServer* http = parts->http.get();
    parts->http->server().Get("/metrics", [registry, metrics, http_metrics, http, executor, core](
                                              const httplib::Request&, httplib::Response& res) {
      auto r = registry.lock();
      if (!r) return;
      // Gauges are read from the core on its executor (the core is single-threaded).
      metrics->Refresh(executor->Run([core] { return TakeFarmSnapshot(*core); }));
      http_metrics->Refresh(http->counts(), http->open_connections());
      res.set_content(prometheus::TextSerializer().Serialize(r->Collect()),
                      "text/plain; version=0.0.4");
    });
    // Prometheus HTTP service discovery: the /metrics addresses of the connected workers.
    parts->http->server().Get("/sd/workers", [executor, core](const httplib::Request&,
                                                              httplib::Response& res) {
      std::vector<v1::Worker> workers = executor->Run([core] { return core->ListWorkers(false); });
      nlohmann::json groups = nlohmann::json::array();
      for (const v1::Worker& w : workers) {
        if (w.http_address().empty()) continue;
        groups.push_back({{"targets", {w.http_address()}}, {"labels", {{"worker", w.id()}}}});
      }
      res.set_content(groups.dump(), "application/json");
    });
    DashboardOptions dashboard;
    dashboard.web_root = options.web_root;
    if (absl::Status s = RegisterDashboardRoutes(parts->http->server(), *executor, *core,
                                                 *parts->thumbnails, RealClock::Get(), dashboard);
        !s.ok()) {
      spdlog::warn("dashboard: {} (serving the JSON API only)", std::string(s.message()));
    }
    GENFARM_ASSIGN_OR_RETURN(parts->http_port, parts->http->Start(options.http_address));
  }
  spdlog::info("genfarm-scheduler serving gRPC on port {} and HTTP on port {} (data {})",
               parts->grpc_port, parts->http_port, store_name);
  return std::unique_ptr<SchedulerServer>(new SchedulerServer(std::move(parts)));
}

SchedulerServer::SchedulerServer(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

SchedulerServer::~SchedulerServer() { Shutdown(); }

int SchedulerServer::grpc_port() const { return parts_->grpc_port; }
int SchedulerServer::http_port() const { return parts_->http_port; }

void SchedulerServer::Wait() { parts_->shutdown.WaitForNotification(); }

void SchedulerServer::ReloadRoles() {
  if (parts_->roles) ReloadAndLog(*parts_->roles);
}

void SchedulerServer::Shutdown() {
  {
    absl::MutexLock lock(&parts_->mu);
    if (parts_->stopped) return;
    parts_->stopped = true;
  }
  spdlog::info("genfarm-scheduler shutting down");
  parts_->server->Shutdown(absl::ToChronoTime(RealClock::Get().Now() + absl::Seconds(2)));
  if (parts_->http) parts_->http->Stop();
  parts_->ticker.reset();
  parts_->planner->Stop();
  parts_->roles_reloader.reset();
  parts_->executor->Stop();
  absl::Status flushed = parts_->writer->Stop();
  if (!flushed.ok()) spdlog::error("store: final flush failed: {}", std::string(flushed.message()));
  if (parts_->lock_fd >= 0) ::close(parts_->lock_fd);
  parts_->shutdown.Notify();
}

}  // namespace genfarm::scheduler
