// genfarm-worker: parses flags, wires the model repository, cache, runners and the
// scheduler link together, and runs until SIGTERM (drain) or SIGINT.
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "common/clock.h"
#include "spdlog/spdlog.h"
#include "worker/daemon/model_task_runner.h"
#include "worker/daemon/scheduler_link.h"
#include "worker/daemon/task_executor.h"
#include "worker/runtime/devices.h"
#include "worker/runtime/model_cache.h"
#include "worker/runtime/model_repository.h"
#include "worker/runtime/torch_model_loader.h"

ABSL_FLAG(std::string, scheduler, "", "scheduler address HOST:PORT (default $GENFARM_SCHEDULER or 127.0.0.1:7070)");
ABSL_FLAG(std::string, id, "", "worker id (default: the hostname)");
ABSL_FLAG(int, slots, 1, "tasks run at once");
ABSL_FLAG(std::string, tags, "", "comma-separated tags a stage may require");
ABSL_FLAG(std::string, models, "var/models", "model repository folder");
ABSL_FLAG(double, drain_grace_seconds, 120, "on SIGTERM, how long running tasks may finish before they are handed back");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error");

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
  absl::SetProgramUsageMessage("GenFarm worker: runs frame tasks with warm LibTorch models.");
  absl::ParseCommandLine(argc, argv);
  spdlog::set_level(spdlog::level::from_str(absl::GetFlag(FLAGS_log_level)));

  std::string address = absl::GetFlag(FLAGS_scheduler);
  if (address.empty()) address = getenv("GENFARM_SCHEDULER") ? getenv("GENFARM_SCHEDULER") : "127.0.0.1:7070";
  const std::string worker_id = absl::GetFlag(FLAGS_id).empty() ? Hostname() : absl::GetFlag(FLAGS_id);
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
  for (const auto& error : repository.errors()) spdlog::error("model {} skipped: {}", error.model, std::string(error.status.message()));
  for (const auto& m : repository.models()) spdlog::info("model {} {} ({})", m.name, m.version, m.model_path);

  TorchModelLoader loader(clock);
  ModelCache cache(loader, clock);
  ModelTaskRunner model_runner(repository, cache, *devices, clock);

  std::unique_ptr<SchedulerLink> link;
  TaskExecutor executor([&](const genfarm::v1::Assignment&) -> TaskRunner& { return model_runner; },
                        [&](const genfarm::v1::WorkerMessage& m) { link->Send(m); });

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
    return h;
  };
  auto heartbeat = [&] {
    genfarm::v1::Heartbeat hb;
    for (int64_t a : executor.Running()) hb.add_running_attempts(a);
    for (const DeviceSpec& d : *devices) *hb.add_devices() = ToProto(d, cache.used_bytes(d));
    for (const LoadedModel& m : cache.loaded()) hb.add_loaded_models(m.model);
    return hb;
  };
  link = std::make_unique<SchedulerLink>(SchedulerLink::Options{address}, hello,
                                         [&](const genfarm::v1::SchedulerMessage& m) { executor.Handle(m); },
                                         heartbeat);
  link->Start();
  spdlog::info("genfarm-worker {} started: {} slots, {} devices, {} models, scheduler {}", worker_id, slots,
               devices->size(), repository.models().size(), address);

  int sig = 0;
  sigwait(&signals, &sig);
  if (sig == SIGTERM) {
    spdlog::info("SIGTERM: draining (up to {} s)", absl::GetFlag(FLAGS_drain_grace_seconds));
    executor.Drain(absl::Seconds(absl::GetFlag(FLAGS_drain_grace_seconds)));
  } else {
    executor.Drain(absl::ZeroDuration());
  }
  link->Stop();
  spdlog::info("genfarm-worker {} stopped", worker_id);
  return 0;
}
