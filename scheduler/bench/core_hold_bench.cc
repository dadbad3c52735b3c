#include "scheduler/bench/core_hold_bench.h"

#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "genfarm/v1/farm_service.grpc.pb.h"
#include "genfarm/v1/job_service.grpc.pb.h"
#include "genfarm/v1/worker_service.grpc.pb.h"
#include "scheduler/service/scheduler_server.h"

namespace genfarm::scheduler {
namespace {

// The longest closure the core thread ran since the last Take(), and when the last
// long one (over kBusy) ended: a request has settled once the core has been quiet a while.
class HoldRecorder {
 public:
  static constexpr absl::Duration kBusy = absl::Milliseconds(2);

  void Record(absl::Duration wall, absl::Duration cpu) {
    Raise(longest_ns_, wall);
    Raise(longest_cpu_ns_, cpu);
    if (wall > kBusy) last_busy_ns_.store(absl::ToUnixNanos(RealClock::Get().Now()));
  }
  // The longest wall and CPU time since the last Take().
  std::pair<absl::Duration, absl::Duration> Take() {
    return {absl::Nanoseconds(longest_ns_.exchange(0)),
            absl::Nanoseconds(longest_cpu_ns_.exchange(0))};
  }
  absl::Time last_busy() const { return absl::FromUnixNanos(last_busy_ns_.load()); }

 private:
  static void Raise(std::atomic<int64_t>& longest, absl::Duration d) {
    const int64_t ns = absl::ToInt64Nanoseconds(d);
    int64_t seen = longest.load();
    while (ns > seen && !longest.compare_exchange_weak(seen, ns)) {
    }
  }

  std::atomic<int64_t> longest_ns_{0};
  std::atomic<int64_t> longest_cpu_ns_{0};
  std::atomic<int64_t> last_busy_ns_{0};
};

v1::StageSpec ModelStage(const std::string& name, const std::string& model,
                         const std::string& frames) {
  v1::StageSpec stage;
  stage.set_name(name);
  stage.set_kind(v1::STAGE_KIND_MODEL);
  stage.set_model(model);
  stage.set_input("/tmp/genfarm-hold/in/" + name + ".%07d.exr");
  stage.set_output("/tmp/genfarm-hold/out/" + name + ".%07d.exr");
  stage.set_frames(frames);
  stage.set_chunk(1);
  return stage;
}

v1::JobSpec OneStageJob(const std::string& name, const std::string& model,
                        const std::string& frames) {
  v1::JobSpec spec;
  spec.set_name(name);
  spec.set_project("bench");
  *spec.add_stages() = ModelStage("s", model, frames);
  return spec;
}

class Bench {
 public:
  Bench(const CoreHoldOptions& options, HoldRecorder& recorder, int port)
      : options_(options), recorder_(recorder) {
    channel_ =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
    jobs_ = v1::JobService::NewStub(channel_);
    farm_ = v1::FarmService::NewStub(channel_);
    workers_ = v1::WorkerService::NewStub(channel_);
  }

  // Times `request` (returns when its reply came) and waits until `settled` holds and
  // the core has been quiet for a while.
  absl::StatusOr<HoldFigure> Measure(const std::string& name,
                                     const std::function<absl::Status()>& request,
                                     const std::function<bool()>& settled = nullptr) {
    if (options_.on_step) options_.on_step(name);
    GENFARM_RETURN_IF_ERROR(Quiet());
    recorder_.Take();
    const absl::Time start = RealClock::Get().Now();
    HoldFigure figure;
    figure.request = name;
    // A failed request is a figure too (the table says why), not the end of the run.
    if (absl::Status s = request(); !s.ok()) figure.error = std::string(s.message());
    figure.reply = RealClock::Get().Now() - start;
    const absl::Time deadline = start + absl::Minutes(5);
    while (figure.error.empty() && settled && !settled()) {
      if (RealClock::Get().Now() > deadline) {
        return absl::DeadlineExceededError(absl::StrCat(name, ": did not settle in 5 minutes"));
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    GENFARM_RETURN_IF_ERROR(Quiet());
    figure.settled = RealClock::Get().Now() - start;
    std::tie(figure.longest_hold, figure.longest_cpu) = recorder_.Take();
    return figure;
  }

  // No core closure longer than HoldRecorder::kBusy for 500 ms.
  absl::Status Quiet() {
    const absl::Time deadline = RealClock::Get().Now() + absl::Minutes(5);
    while (RealClock::Get().Now() - recorder_.last_busy() < absl::Milliseconds(500)) {
      if (RealClock::Get().Now() > deadline) return absl::DeadlineExceededError("core never quiet");
      absl::SleepFor(absl::Milliseconds(50));
    }
    return absl::OkStatus();
  }

  absl::Status Call(const char* what, grpc::Status status) {
    if (status.ok()) return absl::OkStatus();
    return absl::InternalError(absl::StrCat(what, ": ", status.error_message()));
  }

  absl::StatusOr<int64_t> Submit(const v1::JobSpec& spec) {
    grpc::ClientContext ctx;
    v1::SubmitJobRequest req;
    *req.mutable_spec() = spec;
    v1::SubmitJobResponse resp;
    GENFARM_RETURN_IF_ERROR(Call("SubmitJob", jobs_->SubmitJob(&ctx, req, &resp)));
    return resp.job_id();
  }

  absl::StatusOr<v1::Job> GetJob(int64_t id) {
    grpc::ClientContext ctx;
    v1::GetJobRequest req;
    req.set_job_id(id);
    v1::GetJobResponse resp;
    GENFARM_RETURN_IF_ERROR(Call("GetJob", jobs_->GetJob(&ctx, req, &resp)));
    return resp.job();
  }

  // Tasks of `job` in `state`, summed over its stages (-1 when the call failed).
  int64_t Count(int64_t job, const std::string& state) {
    absl::StatusOr<v1::Job> j = GetJob(job);
    if (!j.ok()) return -1;
    int64_t n = 0;
    for (const v1::StageStatus& s : j->stages()) {
      auto it = s.tasks_by_state().find(state);
      if (it != s.tasks_by_state().end()) n += it->second;
    }
    return n;
  }

  absl::Status JobCall(const char* what, int64_t id) {
    grpc::ClientContext ctx;
    v1::JobRequest req;
    req.set_job_id(id);
    v1::JobResponse resp;
    const std::string name = what;
    if (name == "CancelJob") return Call(what, jobs_->CancelJob(&ctx, req, &resp));
    if (name == "PauseJob") return Call(what, jobs_->PauseJob(&ctx, req, &resp));
    return Call(what, jobs_->ResumeJob(&ctx, req, &resp));
  }

  // A worker stream that says hello with `models` models and then stays silent (the
  // lease is long); the core places tasks on its two slots and hears nothing back.
  absl::Status Hello(int models) {
    worker_ctx_ = std::make_unique<grpc::ClientContext>();
    stream_ = workers_->Connect(worker_ctx_.get());
    v1::WorkerMessage msg;
    v1::Hello* hello = msg.mutable_hello();
    hello->set_worker_id("bench-worker");
    hello->set_hostname("bench");
    hello->set_slots(2);
    v1::Device* cpu = hello->add_devices();
    cpu->set_name("cpu");
    cpu->set_kind("cpu");
    cpu->set_index(-1);
    for (int i = 0; i < models; ++i) {
      v1::ModelInfo* m = hello->add_models();
      m->set_name(i == 0 ? "bench-upscale" : i == 1 ? "bench-interp" : absl::StrCat("m", i));
      m->set_kind(i == 1 ? "interpolate" : "upscale");
      m->set_window_after(i == 1 ? 1 : 0);
      m->set_version("1");
      m->set_memory_bytes(1 << 20);
    }
    if (!stream_->Write(msg)) return absl::UnavailableError("worker stream closed at hello");
    v1::SchedulerMessage welcome;
    if (!stream_->Read(&welcome)) return absl::UnavailableError("no welcome");
    // Keep reading assignments so the stream's flow control never stalls the scheduler.
    reader_ = std::thread([this] {
      v1::SchedulerMessage m;
      while (stream_->Read(&m)) {
      }
    });
    return absl::OkStatus();
  }

  void CloseWorker() {
    if (worker_ctx_) worker_ctx_->TryCancel();
    if (reader_.joinable()) reader_.join();
  }

  v1::JobService::Stub& jobs() { return *jobs_; }
  v1::FarmService::Stub& farm() { return *farm_; }

 private:
  const CoreHoldOptions& options_;
  HoldRecorder& recorder_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::JobService::Stub> jobs_;
  std::unique_ptr<v1::FarmService::Stub> farm_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
  std::unique_ptr<grpc::ClientContext> worker_ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::WorkerMessage, v1::SchedulerMessage>> stream_;
  std::thread reader_;
};

absl::Status RunAll(Bench& b, const CoreHoldOptions& options, CoreHoldReport& report) {
  const int64_t n = options.tasks;
  auto add = [&](absl::StatusOr<HoldFigure> figure) -> absl::Status {
    if (!figure.ok()) return figure.status();
    report.figures.push_back(*std::move(figure));
    return absl::OkStatus();
  };
  GENFARM_RETURN_IF_ERROR(
      add(b.Measure("WorkerService hello, 256 models", [&] { return b.Hello(256); })));
  int64_t small = 0;
  GENFARM_ASSIGN_OR_RETURN(
      report.baseline, b.Measure("SubmitJob, 1 task (baseline)", [&]() -> absl::Status {
        GENFARM_ASSIGN_OR_RETURN(small, b.Submit(OneStageJob("one", "bench-upscale", "1")));
        return absl::OkStatus();
      }));
  int64_t big = 0;
  GENFARM_RETURN_IF_ERROR(add(b.Measure(
      absl::StrCat("SubmitJob, ", n, " tasks"),
      [&]() -> absl::Status {
        GENFARM_ASSIGN_OR_RETURN(
            big, b.Submit(OneStageJob("big", "bench-upscale", absl::StrCat("1-", n))));
        return absl::OkStatus();
      },
      [&] { return b.Count(big, "queued") + b.Count(big, "running") == n; })));
  GENFARM_RETURN_IF_ERROR(
      add(b.Measure("GetJob", [&]() -> absl::Status { return b.GetJob(big).status(); })));
  GENFARM_RETURN_IF_ERROR(add(b.Measure("ListJobs", [&] {
    grpc::ClientContext ctx;
    v1::ListJobsRequest req;
    v1::ListJobsResponse resp;
    return b.Call("ListJobs", b.jobs().ListJobs(&ctx, req, &resp));
  })));
  GENFARM_RETURN_IF_ERROR(add(b.Measure("GetFarmStats", [&] {
    grpc::ClientContext ctx;
    v1::GetFarmStatsRequest req;
    v1::FarmStats resp;
    return b.Call("GetFarmStats", b.farm().GetFarmStats(&ctx, req, &resp));
  })));
  GENFARM_RETURN_IF_ERROR(add(b.Measure("WatchJob, first event", [&]() -> absl::Status {
    grpc::ClientContext ctx;
    v1::WatchJobRequest req;
    req.set_job_id(big);
    auto reader = b.jobs().WatchJob(&ctx, req);
    v1::JobEvent event;
    const bool got = reader->Read(&event);
    ctx.TryCancel();
    reader->Finish();
    return got ? absl::OkStatus() : absl::UnavailableError("WatchJob: no first event");
  })));
  GENFARM_RETURN_IF_ERROR(add(b.Measure("SetPriority", [&] {
    grpc::ClientContext ctx;
    v1::SetPriorityRequest req;
    req.set_job_id(big);
    req.set_priority(70);
    v1::JobResponse resp;
    return b.Call("SetPriority", b.jobs().SetPriority(&ctx, req, &resp));
  })));
  GENFARM_RETURN_IF_ERROR(add(b.Measure("PauseJob", [&] { return b.JobCall("PauseJob", big); })));
  GENFARM_RETURN_IF_ERROR(add(b.Measure("ResumeJob", [&] { return b.JobCall("ResumeJob", big); })));
  GENFARM_RETURN_IF_ERROR(add(b.Measure(
      absl::StrCat("CancelJob, ", n, " tasks"), [&] { return b.JobCall("CancelJob", big); },
      [&] { return b.Count(big, "canceled") == n; })));
  GENFARM_RETURN_IF_ERROR(add(b.Measure(
      absl::StrCat("RetryTasks failed_only, ", n, " tasks"),
      [&] {
        grpc::ClientContext ctx;
        v1::RetryTasksRequest req;
        req.set_job_id(big);
        req.set_failed_only(true);
        v1::RetryTasksResponse resp;
        return b.Call("RetryTasks", b.jobs().RetryTasks(&ctx, req, &resp));
      },
      [&] { return b.Count(big, "queued") + b.Count(big, "running") == n; })));
  GENFARM_RETURN_IF_ERROR(add(b.Measure("GetTaskLog", [&] {
    grpc::ClientContext ctx;
    v1::GetTaskLogRequest req;
    req.set_job_id(big);
    req.set_task_index(0);
    v1::GetTaskLogResponse resp;
    return b.Call("GetTaskLog", b.jobs().GetTaskLog(&ctx, req, &resp));
  })));
  GENFARM_RETURN_IF_ERROR(add(b.Measure(absl::StrCat("CancelJob again, ", n, " tasks"),
                                        [&] { return b.JobCall("CancelJob", big); })));
  // A retime by the interpolation model's default factor (2) writing n output frames.
  int64_t retime = 0;
  GENFARM_RETURN_IF_ERROR(
      add(b.Measure(absl::StrCat("SubmitJob, retime x2 to ", n, " frames"), [&]() -> absl::Status {
        GENFARM_ASSIGN_OR_RETURN(
            retime, b.Submit(OneStageJob("retime", "bench-interp", absl::StrCat("1-", n / 2))));
        return absl::OkStatus();
      })));
  GENFARM_RETURN_IF_ERROR(
      add(b.Measure("CancelJob, retime", [&] { return b.JobCall("CancelJob", retime); })));
  // The most stages a job may have, each frame-by-frame after the one before.
  GENFARM_RETURN_IF_ERROR(add(
      b.Measure(absl::StrCat("SubmitJob, 64 chained stages, ", n, " tasks"), [&]() -> absl::Status {
        v1::JobSpec spec;
        spec.set_name("chain");
        spec.set_project("bench");
        const int64_t per = n / 64;
        for (int s = 0; s < 64; ++s) {
          v1::StageSpec stage =
              ModelStage(absl::StrCat("s", s), "bench-upscale", absl::StrCat("1-", per));
          if (s > 0) {
            stage.set_input(spec.stages(s - 1).output());
            stage.add_after(absl::StrCat("s", s - 1));
          }
          *spec.add_stages() = stage;
        }
        return b.Submit(spec).status();
      })));
  return absl::OkStatus();
}

}  // namespace

absl::Duration CoreHoldReport::Longest() const {
  absl::Duration longest = baseline.longest_hold;
  for (const HoldFigure& f : figures) longest = std::max(longest, f.longest_hold);
  return longest;
}

absl::Duration CoreHoldReport::LongestCpu() const {
  absl::Duration longest = baseline.longest_cpu;
  for (const HoldFigure& f : figures) longest = std::max(longest, f.longest_cpu);
  return longest;
}

absl::StatusOr<CoreHoldReport> RunCoreHoldBench(const CoreHoldOptions& options) {
  HoldRecorder recorder;
  SchedulerServerOptions server_options;
  server_options.grpc_address = "127.0.0.1:0";
  server_options.http_address = "";
  server_options.data_dir = options.dir + "/scheduler";
  server_options.core.lease_ttl = absl::Hours(1);  // the bench's worker never heartbeats
  server_options.on_core_run = [&recorder](absl::Duration wall, absl::Duration cpu) {
    recorder.Record(wall, cpu);
  };
  GENFARM_ASSIGN_OR_RETURN(std::unique_ptr<SchedulerServer> server,
                           SchedulerServer::Start(server_options));
  CoreHoldReport report;
  report.tasks = options.tasks;
  double load[1] = {0};
  if (getloadavg(load, 1) == 1) report.load_before = load[0];
  Bench bench(options, recorder, server->grpc_port());
  absl::Status status = RunAll(bench, options, report);
  if (getloadavg(load, 1) == 1) report.load_after = load[0];
  bench.CloseWorker();
  server->Shutdown();
  if (!status.ok()) return status;
  return report;
}

std::string FormatCoreHoldReport(const CoreHoldReport& report) {
  std::string out = absl::StrFormat(
      "genfarm-core-hold-bench: the longest time one request held the core thread "
      "(load average %.1f before, %.1f after)\n\n%-44s %9s %9s %9s %9s %9s\n",
      report.load_before, report.load_after, "request", "cpu ms", "wall ms", "cpu ratio", "reply s",
      "settled s");
  const double base = std::max(1e-3, absl::ToDoubleMilliseconds(report.baseline.longest_cpu));
  auto row = [&](const HoldFigure& f) {
    const double cpu = absl::ToDoubleMilliseconds(f.longest_cpu);
    absl::StrAppendFormat(&out, "%-44s %9.2f %9.2f %8.1fx %9.3f %9.3f%s\n", f.request, cpu,
                          absl::ToDoubleMilliseconds(f.longest_hold), cpu / base,
                          absl::ToDoubleSeconds(f.reply), absl::ToDoubleSeconds(f.settled),
                          f.error.empty() ? "" : absl::StrCat("  FAILED: ", f.error));
  };
  row(report.baseline);
  for (const HoldFigure& f : report.figures) row(f);
  int failed = report.baseline.error.empty() ? 0 : 1;
  for (const HoldFigure& f : report.figures) failed += f.error.empty() ? 0 : 1;
  absl::StrAppendFormat(&out,
                        "\nlongest hold of any request: %.2f ms of CPU, %.2f ms wall "
                        "(bound: 100 ms); %d failed\n",
                        absl::ToDoubleMilliseconds(report.LongestCpu()),
                        absl::ToDoubleMilliseconds(report.Longest()), failed);
  return out;
}

}  // namespace genfarm::scheduler
