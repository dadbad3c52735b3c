#include "scheduler/store/in_memory_job_store.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace genfarm::scheduler {

absl::StatusOr<StoreSnapshot> InMemoryJobStore::Load() {
  absl::MutexLock lock(&mu_);
  StoreSnapshot snapshot;
  snapshot.jobs.reserve(jobs_.size());
  for (const auto& [id, job] : jobs_) snapshot.jobs.push_back(job);
  snapshot.tasks.reserve(tasks_.size());
  for (const auto& [id, task] : tasks_) snapshot.tasks.push_back(task);
  snapshot.attempt_high_water = attempt_high_water_;
  snapshot.job_high_water = job_high_water_;
  for (const auto& [id, worker] : workers_) snapshot.workers.push_back(worker);
  for (const auto& [name, model] : models_) snapshot.models.push_back(model);
  return snapshot;
}

absl::Status InMemoryJobStore::Commit(const WriteBatch& batch) {
  std::function<void(const WriteBatch&)> hook;
  {
    absl::MutexLock lock(&mu_);
    hook = before_commit_;
  }
  if (hook) hook(batch);

  absl::MutexLock lock(&mu_);
  CommitRecord record{batch.jobs.size(), batch.tasks.size(), batch.logs.size(),
                      batch.attempt_high_water, /*ok=*/false};
  if (fail_count_ > 0) {
    --fail_count_;
    history_.push_back(record);
    return fail_status_;
  }
  // Validate the idempotency keys before applying anything: a batch is all or nothing.
  absl::flat_hash_map<std::string, JobId> key_owner;
  for (const auto& [id, job] : jobs_) {
    if (!job.idempotency_key.empty()) key_owner[job.idempotency_key] = id;
  }
  for (const JobRecord& job : batch.jobs) {
    // The job's own previous key no longer counts once it is overwritten.
    auto old = jobs_.find(job.id);
    if (old != jobs_.end() && !old->second.idempotency_key.empty()) {
      auto owner = key_owner.find(old->second.idempotency_key);
      if (owner != key_owner.end() && owner->second == job.id) key_owner.erase(owner);
    }
  }
  for (const JobRecord& job : batch.jobs) {
    if (job.idempotency_key.empty()) continue;
    auto [it, inserted] = key_owner.emplace(job.idempotency_key, job.id);
    if (!inserted && it->second != job.id) {
      history_.push_back(record);
      return absl::AlreadyExistsError(absl::StrCat(
          "in-memory store: commit: job ", job.id.value(), " reuses idempotency key \"",
          job.idempotency_key, "\" of job ", it->second.value()));
    }
  }
  for (const JobRecord& job : batch.jobs) jobs_[job.id] = job;
  for (const TaskRecord& task : batch.tasks) tasks_[task.id] = task;
  logs_.insert(logs_.end(), batch.logs.begin(), batch.logs.end());
  for (const ModelRecord& rec : batch.models) {
    // What the SQLite store keeps of it, no more.
    ModelRecord& kept = models_[rec.model.name()];
    kept.updated_ms = rec.updated_ms;
    kept.model.Clear();
    kept.model.set_name(rec.model.name());
    kept.model.set_kind(rec.model.kind());
    kept.model.set_window_before(rec.model.window_before());
    kept.model.set_window_after(rec.model.window_after());
    kept.model.set_version(rec.model.version());
    kept.model.set_sha256(rec.model.sha256());
  }
  for (JobId job : batch.deleted_jobs) {
    jobs_.erase(job);
    tasks_.erase(tasks_.lower_bound(TaskId{job, std::numeric_limits<int32_t>::min()}),
                 tasks_.upper_bound(TaskId{job, std::numeric_limits<int32_t>::max()}));
    logs_.erase(std::remove_if(logs_.begin(), logs_.end(),
                               [job](const LogRecord& log) { return log.task.job == job; }),
                logs_.end());
  }
  for (const WorkerRecord& worker : batch.workers) {
    if (worker.draining) {
      workers_[worker.id] = worker;
    } else {
      workers_.erase(worker.id);
    }
  }
  attempt_high_water_ = std::max(attempt_high_water_, batch.attempt_high_water);
  job_high_water_ = std::max(job_high_water_, batch.job_high_water);
  record.ok = true;
  history_.push_back(record);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<LogRecord>> InMemoryJobStore::ReadLogs(TaskId task, int limit) {
  absl::MutexLock lock(&mu_);
  std::vector<LogRecord> out;
  for (const LogRecord& log : logs_) {
    if (log.task.job != task.job) continue;
    if (task.index >= 0 && log.task.index != task.index) continue;
    out.push_back(log);
  }
  if (limit > 0 && out.size() > static_cast<size_t>(limit)) {
    out.erase(out.begin(), out.end() - limit);
  }
  return out;
}

void InMemoryJobStore::FailNextCommits(int count, absl::Status status) {
  absl::MutexLock lock(&mu_);
  fail_count_ = count;
  fail_status_ = std::move(status);
}

void InMemoryJobStore::SetBeforeCommitHook(std::function<void(const WriteBatch&)> hook) {
  absl::MutexLock lock(&mu_);
  before_commit_ = std::move(hook);
}

std::vector<InMemoryJobStore::CommitRecord> InMemoryJobStore::commit_history() const {
  absl::MutexLock lock(&mu_);
  return history_;
}

size_t InMemoryJobStore::committed_records() const {
  absl::MutexLock lock(&mu_);
  size_t total = 0;
  for (const CommitRecord& record : history_) {
    if (record.ok) total += record.jobs + record.tasks + record.logs;
  }
  return total;
}

}  // namespace genfarm::scheduler
