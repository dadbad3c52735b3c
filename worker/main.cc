// genfarm-worker: parses flags, wires the model repository, cache, runners and the
// scheduler link together, and runs until SIGTERM (drain) or SIGINT.
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/clock.h"
#include "common/enum_names.h"
#include "common/flags_usage.h"
#include "common/http/http_metrics.h"
#include "common/http/http_server.h"
#include "common/port_file.h"
#include "common/tls/certificate_info.h"
#include "common/tls/grpc_credentials.h"
#include "common/tls/server_check.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "spdlog/spdlog.h"
#include "worker/daemon/lease_table.h"
#include "worker/daemon/model_task_runner.h"
#include "worker/daemon/scheduler_link.h"
#include "worker/daemon/task_executor.h"
#include "worker/dailies/dailies_task_runner.h"
#include "worker/metrics/worker_metrics.h"
#include "worker/runtime/devices.h"
#include "worker/runtime/model_cache.h"
#include "worker/runtime/model_repository.h"
#include "worker/runtime/torch_model_loader.h"

ABSL_FLAG(std::string, scheduler, "",
          "scheduler address HOST:PORT, several comma-separated or a DNS name with several "
          "records (--ha: the worker follows the leader) (default $GENFARM_SCHEDULER or "
          "127.0.0.1:7070)");
ABSL_FLAG(std::string, id, "", "worker id (default: the hostname)");
ABSL_FLAG(int, slots, 1, "tasks run at once");
ABSL_FLAG(std::string, tags, "", "comma-separated tags a stage may require");
ABSL_FLAG(std::string, models, "var/models", "model repository folder");
ABSL_FLAG(double, drain_grace_seconds, 120,
          "on SIGTERM, how long running tasks may finish before they are handed back");
ABSL_FLAG(std::string, http, "127.0.0.1:7090",
          "HTTP address for /metrics and /healthz (port 0 picks a free one); empty disables");
ABSL_FLAG(
    std::string, port_file, "",
    "once the HTTP port is bound, write it here atomically as 'http_port=N' (0 when --http is "
    "empty or could not bind): how tests and scripts find a port-0 port");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM farm CA (deploy/certs.sh: ca.pem): speak TLS and verify the scheduler with it");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM worker certificate (workers/ID.pem); its CN is the worker id (--id may be left "
          "out, and must match when given)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert (workers/ID.key)");

namespace {

using genfarm::worker::DeviceSpec;

genfarm::v1::Device ToProto(const DeviceSpec& d, int64_t used) {
  genfarm::v1::Device out;
  out.set_name(d.name);
  out.set_kind(d.kind);
  out.set_index(d.index);
  out.set_memory_total_bytes(d.memory_total_bytes);
  out.set_memory_used_bytes(used);
  return out;
}

std::string Hostname() {
  char name[256] = {0};
  gethostname(name, sizeof(name) - 1);
  return name;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace genfarm::worker;
  genfarm::SetFlagsUsage("genfarm-worker",
                         "a GenFarm worker: runs frame tasks with warm LibTorch models.");
  absl::ParseCommandLine(argc, argv);
  spdlog::set_level(spdlog::level::from_str(absl::GetFlag(FLAGS_log_level)));

  std::string address = absl::GetFlag(FLAGS_scheduler);
  if (address.empty())
    address = getenv("GENFARM_SCHEDULER") ? getenv("GENFARM_SCHEDULER") : "127.0.0.1:7070";
  genfarm::tls::TlsFiles tls_files;
  tls_files.ca = {"--tls_ca", absl::GetFlag(FLAGS_tls_ca)};
  tls_files.cert = {"--tls_cert", absl::GetFlag(FLAGS_tls_cert)};
  tls_files.key = {"--tls_key", absl::GetFlag(FLAGS_tls_key)};
  auto tls = genfarm::tls::LoadTlsFiles(tls_files);
  if (!tls.ok()) {
    std::cerr << "genfarm-worker: " << tls.status().message() << "\n";
    return 2;
  }
  auto credentials = genfarm::tls::ChannelCredentials(*tls);
  if (!credentials.ok()) {
    std::cerr << "genfarm-worker: " << credentials.status().message() << "\n";
    return 2;
  }
  std::string worker_id = absl::GetFlag(FLAGS_id).empty() ? Hostname() : absl::GetFlag(FLAGS_id);
  if (tls->has_identity()) {
    // The scheduler takes the worker's id from its certificate: say it here too.
    auto cert = genfarm::tls::ParseCertificate(tls->cert_chain);
    if (!cert.ok()) {
      std::cerr << "genfarm-worker: --tls_cert: " << cert.status().message() << "\n";
      return 2;
    }
    if (!absl::GetFlag(FLAGS_id).empty() && absl::GetFlag(FLAGS_id) != cert->common_name) {
      std::cerr << "genfarm-worker: --id " << absl::GetFlag(FLAGS_id) << " but --tls_cert is "
                << "the certificate of worker " << cert->common_name << "\n";
      return 2;
    }
    worker_id = cert->common_name;
  }
  const int slots = absl::GetFlag(FLAGS_slots);
  if (slots < 1) {
    std::cerr << "genfarm-worker: --slots must be at least 1\n";
    return 2;
  }
  std::vector<std::string> tags = absl::StrSplit(absl::GetFlag(FLAGS_tags), ',', absl::SkipEmpty());

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  genfarm::RealClock& clock = genfarm::RealClock::Get();
  auto devices = EnumerateDevices();
  if (!devices.ok() || devices->empty()) {
    std::cerr << "genfarm-worker: cannot enumerate devices: " << devices.status().message() << "\n";
    return 1;
  }
  ModelRepository repository(absl::GetFlag(FLAGS_models));
  if (absl::Status s = repository.Scan(); !s.ok()) {
    std::cerr << "genfarm-worker: model repository: " << s.message() << "\n";
    return 1;
  }
  for (const auto& error : repository.errors())
    spdlog::error("model {} skipped: {}", error.model, std::string(error.status.message()));
  for (const auto& m : repository.models())
    spdlog::info("model {} {} ({})", m.name, m.version, m.model_path);

  TorchModelLoader loader(clock);
  ModelCache cache(loader, clock);
  ModelTaskRunner model_runner(repository, cache, *devices, clock);
  auto registry = std::make_shared<prometheus::Registry>();
  WorkerMetrics metrics(*registry);
  genfarm::HttpMetrics http_metrics(*registry, "genfarm_worker");
  cache.SetObserver([&metrics](const CacheEvent& e) { metrics.OnCacheEvent(e); });
  model_runner.SetTimingObserver([&metrics](const TaskTimings& t) { metrics.OnTaskTimings(t); });
  DailiesTaskRunner dailies_runner(DailiesOptions{}, clock);

  // Lease fencing (docs/fencing.md) on the monotonic clock: a wall-clock step must not stretch
  // a lease past the scheduler's.
  genfarm::MonotonicClock monotonic;
  LeaseTable::Options lease_options;
  lease_options.on_rename_refused = [&metrics] { metrics.OnRenameRefused(); };
  LeaseTable leases(monotonic, lease_options);
  std::unique_ptr<SchedulerLink> link;
  TaskExecutor executor(
      [&](const genfarm::v1::Assignment& a) -> TaskRunner& {
        if (a.stage().kind() == genfarm::v1::STAGE_KIND_DAILIES) return dailies_runner;
        return model_runner;
      },
      [&](const genfarm::v1::WorkerMessage& m) { link->Send(m); }, clock, &leases);
  executor.SetFailureObserver([&metrics](genfarm::v1::FailureReason reason) {
    metrics.OnTaskFailed(std::string(genfarm::FailureReasonName(reason)));
  });
  leases.Start([&](int64_t attempt, const std::string& why) {
    metrics.OnLeaseLost();
    executor.Lose(attempt, why);
  });

  std::string http_address;  // set below once /metrics listens, before the first hello
  int http_port = 0;         // for --port_file; 0 while nothing listens
  auto hello = [&] {
    genfarm::v1::Hello h;
    h.set_worker_id(worker_id);
    h.set_hostname(Hostname());
    for (const DeviceSpec& d : *devices) *h.add_devices() = ToProto(d, cache.used_bytes(d));
    h.set_slots(slots);
    for (const std::string& t : tags) h.add_tags(t);
    std::set<std::string> loaded;
    for (const LoadedModel& m : cache.loaded()) loaded.insert(m.model);
    for (const Manifest& m : repository.models()) {
      genfarm::v1::ModelInfo* info = h.add_models();
      info->set_name(m.name);
      info->set_version(m.version);
      info->set_sha256(m.sha256);
      info->set_kind(ModelKindName(m.kind));
      info->set_scale(m.scale);
      info->set_window_before(m.window_before);
      info->set_window_after(m.window_after);
      info->set_memory_bytes(m.memory_bytes);
      info->set_batch_size(m.batch_size);
      info->set_loaded(loaded.count(m.name) > 0);
    }
    for (int64_t a : executor.Running()) h.add_running_attempts(a);
    h.set_version("genfarm-worker 0.1.0");
    h.set_http_address(http_address);
    return h;
  };
  auto heartbeat = [&] {
    genfarm::v1::Heartbeat hb;
    for (int64_t a : executor.Running()) hb.add_running_attempts(a);
    for (const DeviceSpec& d : *devices) *hb.add_devices() = ToProto(d, cache.used_bytes(d));
    for (const LoadedModel& m : cache.loaded()) hb.add_loaded_models(m.model);
    return hb;
  };
  absl::BitGen bitgen;  // reconnect jitter
  SchedulerLink::Options link_options;
  link_options.address = address;
  link_options.credentials = *credentials;
  link_options.lease = &leases;
  if (tls->enabled()) {
    const std::string ca_source = tls_files.ca.path.empty()
                                      ? std::string("the system's CA certificates")
                                      : absl::StrCat("--tls_ca ", tls_files.ca.path);
    link_options.check_server = [address, ca = tls->ca, ca_source] {
      return genfarm::tls::CheckSchedulerCertificates(address, ca, ca_source, absl::Seconds(3));
    };
  }
  link_options.on_log_lines_dropped = [&metrics](int64_t lines) {
    metrics.OnLogLinesDropped(lines);
  };
  link = std::make_unique<SchedulerLink>(
      link_options, hello, [&](const genfarm::v1::SchedulerMessage& m) { executor.Handle(m); },
      heartbeat, clock, bitgen);
  // /metrics and /healthz. Metrics must not stop rendering: if the address is taken the
  // worker runs without them (and says so).
  std::unique_ptr<genfarm::HttpServer> http;
  if (const std::string listen = absl::GetFlag(FLAGS_http); !listen.empty()) {
    http = std::make_unique<genfarm::HttpServer>();
    http->server().Get("/healthz", [&](const httplib::Request&, httplib::Response& res) {
      res.set_content(absl::StrCat("ok\nscheduler: ",
                                   link && link->connected() ? "connected" : "disconnected", "\n"),
                      "text/plain");
    });
    http->server().Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
      WorkerSnapshot snapshot;
      snapshot.slots = slots;
      snapshot.busy_slots = executor.busy();
      snapshot.draining = executor.draining();
      snapshot.connected = link && link->connected();
      const std::vector<LoadedModel> loaded = cache.loaded();
      for (const DeviceSpec& d : *devices) {
        WorkerSnapshot::Device device{d.Key(), cache.used_bytes(d), d.memory_total_bytes, 0};
        for (const LoadedModel& m : loaded) device.models_loaded += m.device == d.Key() ? 1 : 0;
        snapshot.devices.push_back(device);
      }
      metrics.Refresh(snapshot);
      http_metrics.Refresh(http->counts(), http->open_connections());
      res.set_content(prometheus::TextSerializer().Serialize(registry->Collect()),
                      "text/plain; version=0.0.4");
    });
    absl::StatusOr<int> port = http->Start(listen);
    if (port.ok()) {
      std::string host = listen.substr(0, listen.rfind(':'));
      if (host.empty() || host == "0.0.0.0" || host == "[::]") host = Hostname();
      http_address = absl::StrCat(host, ":", *port);
      http_port = *port;
      spdlog::info("serving /metrics and /healthz on http://{}", http_address);
    } else {
      spdlog::error("no /metrics: {}", std::string(port.status().message()));
      http.reset();
    }
  }

  if (const std::string port_file = absl::GetFlag(FLAGS_port_file); !port_file.empty()) {
    if (absl::Status s = genfarm::WritePortFile(port_file, {{"http_port", http_port}}); !s.ok()) {
      std::cerr << "genfarm-worker: --port_file: " << s.message() << "\n";
      if (http) http->Stop();
      return 1;
    }
  }
  link->Start();
  spdlog::info("genfarm-worker {} started: {} slots, {} devices, {} models, scheduler {}",
               worker_id, slots, devices->size(), repository.models().size(), address);

  int sig = 0;
  sigwait(&signals, &sig);
  if (sig == SIGTERM) {
    spdlog::info("SIGTERM: draining (up to {} s)", absl::GetFlag(FLAGS_drain_grace_seconds));
    executor.Drain(absl::Seconds(absl::GetFlag(FLAGS_drain_grace_seconds)));
  } else {
    executor.Drain(absl::ZeroDuration());
  }
  if (http) http->Stop();
  link->Stop();
  leases.Stop();
  spdlog::info("genfarm-worker {} stopped", worker_id);
  return 0;
}
