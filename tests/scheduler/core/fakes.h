// Test doubles for the scheduler core: a StateSink that keeps the latest record per
// key (what a store would hold after every batch committed), and a WorkerChannel that
// records what the core sends to one worker. Plus small builders for worker hellos.
//
//   RecordingSink sink;
//   auto channel = std::make_shared<FakeChannel>();
//   core.WorkerHello(MakeHello("w1", {GpuDevice(0, 24 * kGiB)}, {Model("esrgan")}), channel);
//   core.Dispatch();
//   EXPECT_EQ(channel->Assignments().size(), 1);
//
// Not thread-safe: the core under test runs on the test's thread.
#ifndef GENFARM_TESTS_SCHEDULER_CORE_FAKES_H_
#define GENFARM_TESTS_SCHEDULER_CORE_FAKES_H_

#include <algorithm>
#include <climits>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "genfarm/v1/types.pb.h"
#include "genfarm/v1/worker_service.pb.h"
#include "scheduler/core/state_sink.h"
#include "scheduler/core/worker_channel.h"
#include "scheduler/policy/eligibility.h"
#include "scheduler/policy/placement_policy.h"
#include "scheduler/store/job_store.h"

namespace genfarm::scheduler::testing {

inline constexpr int64_t kGiB = int64_t{1} << 30;

// upres over 1001-1003 (one frame a task), then grade reading upres frame by frame.
inline constexpr char kTwoStageYaml[] = R"(name: job
project: show
stages:
  - name: upres
    model: esrgan
    input: in/plate.####.exr
    output: out/upres.####.exr
    frames: "1001-1003"
  - name: grade
    model: esrgan
    input: out/upres.####.exr
    output: out/grade.####.exr
    frames: "1001-1003"
)";

class RecordingSink : public StateSink {
 public:
  void PutJob(const JobRecord& job) override {
    jobs_[job.id.value()] = job;
    ++puts_;
  }
  void PutTask(const TaskRecord& task) override {
    tasks_[{task.id.job.value(), task.id.index}] = task;
    ++puts_;
  }
  void AppendLog(const LogRecord& log) override { logs_.push_back(log); }
  void DeleteJob(JobId job) override {
    jobs_.erase(job.value());
    tasks_.erase(tasks_.lower_bound({job.value(), INT32_MIN}),
                 tasks_.upper_bound({job.value(), INT32_MAX}));
    logs_.erase(std::remove_if(logs_.begin(), logs_.end(),
                               [job](const LogRecord& log) { return log.task.job == job; }),
                logs_.end());
    ++deleted_;
  }
  void PutModel(const ModelRecord& model) override { models_[model.model.name()] = model; }
  void PutWorker(const WorkerRecord& worker) override {
    if (worker.draining) {
      workers_[worker.id.value()] = worker;
    } else {
      workers_.erase(worker.id.value());
    }
  }
  void SetAttemptHighWater(int64_t attempt_id) override { high_water_ = attempt_id; }
  void SetJobHighWater(int64_t job_id) override {
    job_high_water_ = std::max(job_high_water_, job_id);
  }
  // Records apply at once (as if each commit succeeded), so units only need counting:
  // a test can check that a change happened inside one.
  void BeginUnit() override { ++open_units_; }
  void EndUnit() override {
    --open_units_;
    ++units_;
  }
  void WhenDurable(std::function<void(absl::Status)> done) override {
    ++durable_waits_;
    if (hold_durability_) {
      held_.push_back(std::move(done));
      return;
    }
    done(open_units_ == 0 ? absl::OkStatus()
                          : absl::InternalError("WhenDurable inside an open unit"));
  }
  // While held, durability callbacks wait (as if the commit were slow) until released.
  void HoldDurability(bool hold) { hold_durability_ = hold; }
  size_t held() const { return held_.size(); }
  void ReleaseDurable(absl::Status status = absl::OkStatus()) {
    std::vector<std::function<void(absl::Status)>> held;
    held.swap(held_);
    for (auto& done : held) done(status);
  }
  int units() const { return units_; }
  int open_units() const { return open_units_; }
  int durable_waits() const { return durable_waits_; }

  // What a store would load after a restart: jobs by id, tasks by (job, index).
  StoreSnapshot Snapshot() const {
    StoreSnapshot snap;
    for (const auto& [id, job] : jobs_) snap.jobs.push_back(job);
    for (const auto& [key, task] : tasks_) snap.tasks.push_back(task);
    snap.attempt_high_water = high_water_;
    snap.job_high_water = job_high_water_;
    for (const auto& [id, worker] : workers_) snap.workers.push_back(worker);
    for (const auto& [name, model] : models_) snap.models.push_back(model);
    return snap;
  }
  const TaskRecord& task(int64_t job, int32_t index) const { return tasks_.at({job, index}); }
  bool has_task(int64_t job, int32_t index) const { return tasks_.count({job, index}) > 0; }
  const JobRecord& job(int64_t id) const { return jobs_.at(id); }
  const std::vector<LogRecord>& logs() const { return logs_; }
  bool has_job(int64_t id) const { return jobs_.count(id) > 0; }
  // The model catalog as the store would hold it, by name.
  const std::map<std::string, ModelRecord>& models() const { return models_; }
  size_t task_records() const { return tasks_.size(); }
  int deleted() const { return deleted_; }
  // Drained workers, as the store would keep them.
  bool drained(const std::string& worker) const { return workers_.count(worker) > 0; }
  int64_t high_water() const { return high_water_; }
  int64_t job_high_water() const { return job_high_water_; }
  // Job and task records written so far: unchanged when an event changes nothing.
  int64_t puts() const { return puts_; }

 private:
  std::map<int64_t, JobRecord> jobs_;
  std::map<std::pair<int64_t, int32_t>, TaskRecord> tasks_;
  std::vector<LogRecord> logs_;
  std::map<std::string, WorkerRecord> workers_;  // drained workers
  std::map<std::string, ModelRecord> models_;
  int64_t high_water_ = 0;
  int64_t job_high_water_ = 0;
  int64_t puts_ = 0;
  int deleted_ = 0;
  int open_units_ = 0;
  int units_ = 0;
  bool hold_durability_ = false;
  std::vector<std::function<void(absl::Status)>> held_;
  int durable_waits_ = 0;
};

class FakeChannel : public WorkerChannel {
 public:
  void Send(const v1::SchedulerMessage& message) override { sent_.push_back(message); }
  void Close() override { closed_ = true; }

  const std::vector<v1::SchedulerMessage>& sent() const { return sent_; }
  bool closed() const { return closed_; }
  void Clear() { sent_.clear(); }

  std::vector<v1::Assignment> Assignments() const {
    std::vector<v1::Assignment> out;
    for (const auto& m : sent_) {
      if (m.has_assign()) out.push_back(m.assign());
    }
    return out;
  }
  std::vector<v1::CancelAttempt> Cancels() const {
    std::vector<v1::CancelAttempt> out;
    for (const auto& m : sent_) {
      if (m.has_cancel()) out.push_back(m.cancel());
    }
    return out;
  }

 private:
  std::vector<v1::SchedulerMessage> sent_;
  bool closed_ = false;
};

// First fit: groups in the order the core lists them, each task on the first worker
// that can take it (the shared eligibility rules: model, tags, free slots and memory).
// No priorities, fair share or preemption: core tests that are not about placement use
// it so they test the core's mechanism, not GenFarmPolicy's ordering.
class FakePlacementPolicy : public PlacementPolicy {
 public:
  std::vector<Placement> Place(const FarmView& view) override {
    std::vector<Placement> out;
    std::vector<WorkerView> workers = view.workers;
    for (size_t g = 0; g < view.groups.size(); ++g) {
      const WorkGroup& group = view.groups[g];
      for (int64_t placed = 0; placed < group.queued;) {
        bool any = false;
        for (size_t w = 0; w < workers.size() && placed < group.queued; ++w) {
          if (group.blocked_workers.contains(workers[w].id)) continue;
          const DeviceChoice choice = ChooseDevice(group, workers[w]);
          if (!choice.ok()) continue;
          Reserve(group, workers[w], choice.device);
          out.push_back(Placement{g, w, choice.device});
          ++placed;
          any = true;
        }
        if (!any) break;
      }
    }
    ++rounds_;
    return out;
  }
  std::string WhyUnplaceable(const WorkGroup& group,
                             const std::vector<WorkerView>& all_workers) const override {
    if (all_workers.empty()) return "no worker is connected";
    std::string why;
    for (const WorkerView& worker : all_workers) {
      why = WhyNeverEligible(group, worker);
      if (why.empty()) return "";
    }
    return why;
  }
  int rounds() const { return rounds_; }

 private:
  int rounds_ = 0;
};

inline v1::Device GpuDevice(int32_t index, int64_t memory_bytes) {
  v1::Device d;
  d.set_name("cuda:" + std::to_string(index));
  d.set_kind("cuda");
  d.set_index(index);
  d.set_memory_total_bytes(memory_bytes);
  return d;
}

inline v1::Device CpuDevice(int64_t memory_bytes = 64 * kGiB) {
  v1::Device d;
  d.set_name("cpu");
  d.set_kind("cpu");
  d.set_index(0);
  d.set_memory_total_bytes(memory_bytes);
  return d;
}

inline v1::ModelInfo Model(const std::string& name, int64_t memory_bytes = kGiB,
                           int32_t window_before = 0, int32_t window_after = 0) {
  v1::ModelInfo m;
  m.set_name(name);
  m.set_version("1");
  m.set_memory_bytes(memory_bytes);
  m.set_window_before(window_before);
  m.set_window_after(window_after);
  return m;
}

inline v1::Hello MakeHello(const std::string& id, std::vector<v1::Device> devices,
                           std::vector<v1::ModelInfo> models, int32_t slots = 1,
                           std::vector<std::string> tags = {},
                           std::vector<int64_t> running_attempts = {}) {
  v1::Hello h;
  h.set_worker_id(id);
  h.set_hostname(id);
  h.set_slots(slots);
  for (auto& d : devices) *h.add_devices() = std::move(d);
  for (auto& m : models) *h.add_models() = std::move(m);
  for (auto& t : tags) h.add_tags(std::move(t));
  for (int64_t a : running_attempts) h.add_running_attempts(a);
  return h;
}

}  // namespace genfarm::scheduler::testing

#endif  // GENFARM_TESTS_SCHEDULER_CORE_FAKES_H_
