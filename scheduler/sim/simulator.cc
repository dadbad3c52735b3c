#include "scheduler/sim/simulator.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <utility>

#include "absl/time/time.h"
#include "common/clock.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/core/state_sink.h"
#include "scheduler/sim/event_queue.h"
#include "scheduler/sim/sim_worker.h"

namespace genfarm::sim {
namespace {

// Durability is not simulated.
class NullStateSink : public scheduler::StateSink {
 public:
  void PutJob(const scheduler::JobRecord&) override {}
  void PutTask(const scheduler::TaskRecord&) override {}
  void AppendLog(const scheduler::LogRecord&) override {}
  void SetAttemptHighWater(int64_t) override {}
  void SetJobHighWater(int64_t) override {}
  void DeleteJob(JobId) override {}
  void PutWorker(const scheduler::WorkerRecord&) override {}
  void PutModel(const scheduler::ModelRecord&) override {}
  void BeginUnit() override {}
  void EndUnit() override {}
  // Nothing is stored: everything is as durable as it will ever be.
  void WhenDurable(std::function<void(absl::Status)> done) override { done(absl::OkStatus()); }
};

class Simulation : public SimRecorder {
 public:
  Simulation(const Workload& workload, scheduler::PlacementPolicy& policy,
             const SimOptions& options)
      : workload_(workload), policy_(policy), options_(options) {}

  SimResult Run(const std::string& name) {
    scheduler::CoreOptions core_options;
    core_options.lease_ttl = absl::Hours(24 * 365);  // simulated workers never die
    core_options.usage_half_life = absl::Milliseconds(options_.usage_half_life_ms);
    scheduler::SchedulerCore core(clock_, sink_, policy_, core_options);
    core_ = &core;
    std::vector<std::shared_ptr<SimWorker>> workers;
    for (const SimDevice& device : workload_.devices) {
      auto worker = std::make_shared<SimWorker>(
          device, workload_.models, events_, [this] { return NowMs(); }, *this);
      worker->Attach(&core);
      (void)core.WorkerHello(worker->Hello(), worker);
      workers.push_back(worker);
    }
    for (const std::string& p : workload_.projects)
      project_index_[p] = projects_.size(), projects_.emplace_back();
    jobs_.resize(workload_.jobs.size());
    for (size_t j = 0; j < workload_.jobs.size(); ++j) {
      events_.At(workload_.jobs[j].arrival_ms, [this, j] { Submit(j); });
    }
    int64_t next_tick = 0;
    while (jobs_done_ < static_cast<int>(workload_.jobs.size()) && now_ms_ < options_.max_ms) {
      const int64_t t = events_.empty() ? next_tick : std::min(events_.next_ms(), next_tick);
      AdvanceTo(t);
      while (!events_.empty() && events_.next_ms() == t) events_.RunNext();
      if (t == next_tick) {
        core.Tick();
        next_tick += options_.tick_ms;
      }
      core.Dispatch();
    }
    return Result(name);
  }

  // --- SimRecorder ---
  void OnModelLoad(const std::string&, const std::string&, int64_t load_ms) override {
    ++loads_;
    load_ms_ += load_ms;
  }
  void OnAttemptStart(const std::string& project, double share) override {
    Project& p = projects_[project_index_.at(project)];
    p.running += 1;
    p.usage += share;
  }
  void OnAttemptEnd(const std::string& project, double share, int64_t held_ms,
                    bool succeeded) override {
    Project& p = projects_[project_index_.at(project)];
    p.running -= 1;
    p.usage -= share;
    p.device_ms += share * held_ms;
    if (succeeded) {
      p.succeeded += 1;
    } else {
      ++preemptions_;
      preempted_device_ms_ += share * held_ms;
    }
  }
  void OnFrameWritten(int64_t job_id, int64_t frame) override { written_[{job_id, frame}]++; }

 private:
  struct Project {
    int64_t tasks = 0;  // tasks submitted
    int64_t succeeded = 0;
    int64_t running = 0;
    double usage = 0;  // devices held now
    double device_ms = 0;
    double contention_device_ms = 0;
    int64_t queued() const { return tasks - succeeded - running; }
  };
  struct JobTrack {
    int64_t id = 0;
    int64_t submit_ms = -1;
    int64_t end_ms = -1;
    std::vector<int64_t> frames;
  };

  int64_t NowMs() const { return now_ms_; }

  void AdvanceTo(int64_t t) {
    const int64_t dt = t - now_ms_;
    if (dt > 0) {
      bool contended = !projects_.empty();
      for (const Project& p : projects_) contended = contended && p.queued() > 0;
      if (contended) {
        contention_ms_ += dt;
        for (Project& p : projects_) p.contention_device_ms += p.usage * dt;
      }
    }
    now_ms_ = t;
    clock_.Set(start_ + absl::Milliseconds(t));
  }

  void Submit(size_t j) {
    const SimJob& job = workload_.jobs[j];
    absl::StatusOr<scheduler::SubmitResult> submitted = core_->SubmitJob(job.spec, "");
    if (!submitted.ok()) {
      ++jobs_done_;  // counted so the run ends; shows as an unfinished job
      return;
    }
    JobTrack& track = jobs_[j];
    track.id = submitted->id.value();
    track.submit_ms = now_ms_;
    absl::StatusOr<std::vector<v1::Task>> tasks = core_->GetTasks(submitted->id);
    for (const v1::Task& t : *tasks)
      track.frames.insert(track.frames.end(), t.frames().begin(), t.frames().end());
    projects_[project_index_.at(job.spec.project())].tasks += static_cast<int64_t>(tasks->size());
    (void)core_->Watch(submitted->id, [this, j](const v1::JobEvent& event, bool done) {
      if (!done || jobs_[j].end_ms >= 0) return;
      jobs_[j].end_ms = now_ms_;
      if (event.job().state() == v1::JOB_STATE_SUCCEEDED) ++jobs_succeeded_;
      ++jobs_done_;
    });
  }

  SimResult Result(const std::string& name) const {
    SimResult r;
    r.policy = name;
    r.jobs = static_cast<int>(workload_.jobs.size());
    r.jobs_done = jobs_succeeded_;
    std::vector<double> jct;
    int64_t last_end = 0;
    for (const JobTrack& job : jobs_) {
      if (job.end_ms < 0) continue;
      jct.push_back((job.end_ms - job.submit_ms) / 1000.0);
      last_end = std::max(last_end, job.end_ms);
    }
    std::sort(jct.begin(), jct.end());
    r.makespan_s = last_end / 1000.0;
    if (!jct.empty()) {
      double sum = 0;
      for (double x : jct) sum += x;
      r.mean_jct_s = sum / jct.size();
      r.p95_jct_s =
          jct[std::min(jct.size() - 1, static_cast<size_t>(std::ceil(0.95 * jct.size())) - 1)];
    }
    r.model_loads = loads_;
    r.load_fraction =
        last_end > 0 ? load_ms_ / (static_cast<double>(workload_.devices.size()) * last_end) : 0;
    r.preemptions = preemptions_;
    r.preempted_fraction =
        last_end > 0
            ? preempted_device_ms_ / (static_cast<double>(workload_.devices.size()) * last_end)
            : 0;
    double device_ms = 0, contention_total = 0, weight_sum = 0;
    for (const Project& p : projects_) {
      device_ms += p.device_ms;
      contention_total += p.contention_device_ms;
    }
    for (const std::string& name : workload_.projects) {
      auto w = options_.project_weights.find(name);
      weight_sum += w == options_.project_weights.end() ? 1.0 : w->second;
    }
    r.busy_fraction =
        last_end > 0 ? device_ms / (static_cast<double>(workload_.devices.size()) * last_end) : 0;
    r.contention_s = contention_ms_ / 1000.0;
    for (size_t i = 0; i < workload_.projects.size(); ++i) {
      const Project& p = projects_[i];
      ProjectResult pr;
      pr.project = workload_.projects[i];
      auto w = options_.project_weights.find(pr.project);
      pr.weight = w == options_.project_weights.end() ? 1.0 : w->second;
      pr.device_seconds = p.device_ms / 1000.0;
      pr.contention_device_seconds = p.contention_device_ms / 1000.0;
      pr.share = contention_total > 0 ? p.contention_device_ms / contention_total : 0;
      pr.fair_share = pr.weight / weight_sum;
      if (contention_total > 0)
        r.max_share_error = std::max(r.max_share_error, std::abs(pr.share / pr.fair_share - 1));
      r.projects.push_back(pr);
    }
    for (const JobTrack& job : jobs_) {
      for (int64_t f : job.frames) {
        ++r.frames_expected;
        auto it = written_.find({job.id, f});
        if (it == written_.end()) {
          ++r.frames_missing;
        } else if (it->second > 1) {
          r.frames_duplicated += it->second - 1;
        }
      }
    }
    return r;
  }

  const Workload& workload_;
  scheduler::PlacementPolicy& policy_;
  SimOptions options_;
  const absl::Time start_ = absl::FromUnixSeconds(1'800'000'000);
  FakeClock clock_{start_};
  NullStateSink sink_;
  EventQueue events_;
  scheduler::SchedulerCore* core_ = nullptr;
  int64_t now_ms_ = 0;
  int64_t loads_ = 0;
  int64_t load_ms_ = 0;
  int64_t preemptions_ = 0;
  double preempted_device_ms_ = 0;
  int64_t contention_ms_ = 0;
  int jobs_done_ = 0;
  int jobs_succeeded_ = 0;
  std::vector<Project> projects_;
  absl::flat_hash_map<std::string, size_t> project_index_;
  std::vector<JobTrack> jobs_;
  std::map<std::pair<int64_t, int64_t>, int> written_;
};

}  // namespace

SimResult RunSimulation(const Workload& workload, scheduler::PlacementPolicy& policy,
                        const std::string& policy_name, const SimOptions& options) {
  Simulation simulation(workload, policy, options);
  return simulation.Run(policy_name);
}

}  // namespace genfarm::sim
