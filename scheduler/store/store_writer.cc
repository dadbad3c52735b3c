#include "scheduler/store/store_writer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler {

StoreWriter::StoreWriter(JobStore& store, const Clock& clock)
    : StoreWriter(store, clock, Options()) {}

StoreWriter::StoreWriter(JobStore& store, const Clock& clock, Options options)
    : store_(store), clock_(clock), options_(std::move(options)) {
  thread_ = std::thread([this] { Run(); });
}

StoreWriter::~StoreWriter() { (void)Stop(); }

void StoreWriter::PutJob(JobRecord job) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  JobId id = job.id;
  pending_.jobs.insert_or_assign(id, std::move(job));
  ++enqueued_seq_;
}

void StoreWriter::PutTask(TaskRecord task) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  pending_.tasks.push_back(std::move(task));
  ++enqueued_seq_;
}

void StoreWriter::PutNewTasks(std::vector<TaskRecord> tasks) {
  if (tasks.empty()) return;
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  pending_.new_task_count += tasks.size();
  pending_.new_tasks.push_back(std::move(tasks));
  ++enqueued_seq_;
}

void StoreWriter::AppendLog(LogRecord log) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  pending_.logs.push_back(std::move(log));
  ++enqueued_seq_;
}

void StoreWriter::PutWorker(WorkerRecord worker) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  WorkerId id = worker.id;
  pending_.workers.insert_or_assign(std::move(id), std::move(worker));
  ++enqueued_seq_;
}

void StoreWriter::PutModel(ModelRecord model) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  std::string name = model.model.name();
  pending_.models.insert_or_assign(std::move(name), std::move(model));
  ++enqueued_seq_;
}

void StoreWriter::DeleteJob(JobId job) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  pending_.deleted_jobs.push_back(job);
  ++enqueued_seq_;
}

void StoreWriter::SetAttemptHighWater(int64_t high_water) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  pending_.attempt_high_water = std::max(pending_.attempt_high_water, high_water);
  ++enqueued_seq_;
}

void StoreWriter::SetJobHighWater(int64_t high_water) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  pending_.job_high_water = std::max(pending_.job_high_water, high_water);
  ++enqueued_seq_;
}

void StoreWriter::BeginUnit() {
  absl::MutexLock lock(&mu_);
  ++open_units_;
}

void StoreWriter::EndUnit() {
  absl::MutexLock lock(&mu_);
  --open_units_;
  pending_.holds_unit = true;
}

void StoreWriter::WhenDurable(std::function<void(absl::Status)> done) {
  absl::Status now;
  {
    absl::MutexLock lock(&mu_);
    if (!stopped_ && committed_seq_ < enqueued_seq_) {
      waiters_.push_back(DurableWaiter{enqueued_seq_, std::move(done)});
      return;
    }
    if (stopped_ && committed_seq_ < enqueued_seq_) {
      now = absl::FailedPreconditionError("store writer: stopped before this change was durable");
    }
  }
  done(now);
}

std::vector<StoreWriter::DurableWaiter> StoreWriter::TakeDueWaiters(bool all) {
  std::vector<DurableWaiter> due;
  size_t n = 0;
  while (n < waiters_.size() && (all || waiters_[n].seq <= committed_seq_)) ++n;
  due.assign(std::make_move_iterator(waiters_.begin()),
             std::make_move_iterator(waiters_.begin() + n));
  waiters_.erase(waiters_.begin(), waiters_.begin() + n);
  return due;
}

absl::Status StoreWriter::Flush(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const uint64_t target = enqueued_seq_;
  auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return committed_seq_ >= target || stopped_;
  };
  if (timeout == absl::InfiniteDuration()) {
    mu_.Await(absl::Condition(&done));  // no deadline: nothing to wait for on the clock
  } else {
    clock_.AwaitUntil(&mu_, absl::Condition(&done), clock_.Now() + timeout);
  }
  if (committed_seq_ >= target) return absl::OkStatus();
  if (stopped_) {
    return absl::FailedPreconditionError(
        absl::StrCat("store writer: stopped before flushing; ",
                     stop_status_.ok() ? last_error_.ToString() : stop_status_.ToString()));
  }
  return absl::DeadlineExceededError(absl::StrCat("store writer: flush not durable after ",
                                                  absl::FormatDuration(timeout),
                                                  "; last commit error: ", last_error_.ToString()));
}

absl::Status StoreWriter::Stop() {
  absl::MutexLock join_lock(&join_mu_);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  return stop_status_;
}

absl::Status StoreWriter::last_error() const {
  absl::MutexLock lock(&mu_);
  return last_error_;
}

size_t StoreWriter::pending_records() const {
  absl::MutexLock lock(&mu_);
  return pending_.records() + in_flight_records_;
}

void StoreWriter::Run() {
  BackoffOptions retry;
  retry.initial = options_.initial_backoff;
  retry.max = options_.max_backoff;
  retry.jitter = 0;
  ExponentialBackoff backoff(retry, unused_bitgen_);
  mu_.Lock();
  for (;;) {
    // An open unit is still being filled on the core thread: taking the backlog now
    // would commit half a job.
    auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || (!pending_.empty() && open_units_ == 0);
    };
    mu_.Await(absl::Condition(&has_work));
    const bool final_attempt = stopping_;
    if (pending_.empty()) break;  // stopping with nothing left

    // Take the whole backlog; producers keep filling a fresh one while we commit.
    Pending taken = std::move(pending_);
    pending_ = Pending();
    const uint64_t taken_seq = enqueued_seq_;
    in_flight_records_ = taken.records();
    const bool taken_holds_unit = taken.holds_unit;
    mu_.Unlock();

    std::vector<WriteBatch> batches = Split(std::move(taken));
    absl::Status error;
    size_t failed_at = CommitAll(batches, &error);

    mu_.Lock();
    in_flight_records_ = 0;
    if (failed_at == batches.size()) {
      committed_seq_ = taken_seq;
      backoff.Reset();
      std::vector<DurableWaiter> due = TakeDueWaiters(/*all=*/false);
      if (!due.empty()) {
        mu_.Unlock();
        for (DurableWaiter& waiter : due) waiter.done(absl::OkStatus());
        mu_.Lock();
      }
      continue;
    }
    Requeue(batches, failed_at);
    pending_.holds_unit = pending_.holds_unit || taken_holds_unit;
    if (final_attempt) {
      stop_status_ =
          absl::Status(error.code(), absl::StrCat("store writer: stopped with ", pending_.records(),
                                                  " records not durable: ", error.message()));
      spdlog::error("{}", stop_status_.ToString());
      break;
    }
    const absl::Duration delay = backoff.Next();
    spdlog::warn("store writer: commit failed, retrying in {}: {}", absl::FormatDuration(delay),
                 error.ToString());
    // Wait out the backoff unless Stop() is called; new Puts do not cut it short.
    auto stop_requested = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    clock_.AwaitUntil(&mu_, absl::Condition(&stop_requested), clock_.Now() + delay);
  }
  stopped_ = true;
  // Whatever was committed by the final attempt is durable; the rest never will be.
  std::vector<DurableWaiter> durable = TakeDueWaiters(/*all=*/false);
  std::vector<DurableWaiter> lost = TakeDueWaiters(/*all=*/true);
  mu_.Unlock();
  for (DurableWaiter& waiter : durable) waiter.done(absl::OkStatus());
  for (DurableWaiter& waiter : lost) {
    waiter.done(absl::FailedPreconditionError(
        "store writer: stopped before this change was durable; it may be lost"));
  }
}

std::vector<WriteBatch> StoreWriter::Split(Pending pending) const {
  std::vector<WriteBatch> batches(1);
  // The high water goes in the first transaction: it must be durable no later than any task
  // carrying an attempt id below it, or a restart could hand out that id again.
  batches.back().attempt_high_water = pending.attempt_high_water;
  batches.back().job_high_water = pending.job_high_water;
  for (auto& [id, worker] : pending.workers) batches.back().workers.push_back(std::move(worker));
  for (auto& [name, model] : pending.models) batches.back().models.push_back(std::move(model));
  // A unit (a job and its tasks) is never split across transactions.
  const size_t limit = pending.holds_unit ? 0 : options_.max_batch_records;
  auto room = [&]() -> WriteBatch& {
    WriteBatch* last = &batches.back();
    if (limit != 0 && last->jobs.size() + last->tasks.size() + last->logs.size() >= limit) {
      last = &batches.emplace_back();
    }
    return *last;
  };
  for (auto& [id, job] : pending.jobs) room().jobs.push_back(std::move(job));
  // Tasks in the order they were put (new jobs' runs first: any PutTask of theirs is
  // newer), each written once, as last put.
  std::vector<TaskRecord*> order;
  order.reserve(pending.new_task_count + pending.tasks.size());
  for (std::vector<TaskRecord>& run : pending.new_tasks) {
    for (TaskRecord& task : run) order.push_back(&task);
  }
  for (TaskRecord& task : pending.tasks) order.push_back(&task);
  absl::flat_hash_map<TaskId, size_t> last;
  last.reserve(order.size());
  for (size_t i = 0; i < order.size(); ++i) last.insert_or_assign(order[i]->id, i);
  for (size_t i = 0; i < order.size(); ++i) {
    if (last[order[i]->id] == i) room().tasks.push_back(std::move(*order[i]));
  }
  for (LogRecord& log : pending.logs) room().logs.push_back(std::move(log));
  // Last, after every record of the deleted jobs that was still pending.
  batches.back().deleted_jobs = std::move(pending.deleted_jobs);
  return batches;
}

size_t StoreWriter::CommitAll(std::vector<WriteBatch>& batches, absl::Status* error) {
  for (size_t i = 0; i < batches.size(); ++i) {
    const WriteBatch& batch = batches[i];
    CommitStats stats;
    stats.jobs = batch.jobs.size();
    stats.tasks = batch.tasks.size();
    stats.logs = batch.logs.size();
    stats.records = stats.jobs + stats.tasks + stats.logs;
    absl::Time start = clock_.Now();
    absl::Status status = store_.Commit(batch);
    stats.seconds = absl::ToDoubleSeconds(clock_.Now() - start);
    stats.ok = status.ok();
    {
      // Before the observer runs, so whoever it notifies sees last_error() agree.
      absl::MutexLock lock(&mu_);
      last_error_ = status;
    }
    if (options_.on_commit) options_.on_commit(stats);
    if (!status.ok()) {
      *error = std::move(status);
      return i;
    }
  }
  return batches.size();
}

void StoreWriter::Requeue(std::vector<WriteBatch>& batches, size_t first) {
  Pending merged;
  for (size_t i = first; i < batches.size(); ++i) {
    WriteBatch& batch = batches[i];
    for (JobRecord& job : batch.jobs) merged.jobs.insert_or_assign(job.id, std::move(job));
    for (TaskRecord& task : batch.tasks) merged.tasks.push_back(std::move(task));
    for (LogRecord& log : batch.logs) merged.logs.push_back(std::move(log));
    for (WorkerRecord& w : batch.workers) merged.workers.insert_or_assign(w.id, std::move(w));
    for (ModelRecord& m : batch.models)
      merged.models.insert_or_assign(m.model.name(), std::move(m));
    merged.deleted_jobs.insert(merged.deleted_jobs.end(), batch.deleted_jobs.begin(),
                               batch.deleted_jobs.end());
    merged.attempt_high_water = std::max(merged.attempt_high_water, batch.attempt_high_water);
    merged.job_high_water = std::max(merged.job_high_water, batch.job_high_water);
  }
  // What producers enqueued during the failed commit is newer: it wins for jobs and tasks,
  // and its logs come after the failed ones.
  for (auto& [id, job] : pending_.jobs) merged.jobs.insert_or_assign(id, std::move(job));
  for (std::vector<TaskRecord>& run : pending_.new_tasks) {
    for (TaskRecord& task : run) merged.tasks.push_back(std::move(task));
  }
  for (TaskRecord& task : pending_.tasks) merged.tasks.push_back(std::move(task));
  merged.logs.reserve(merged.logs.size() + pending_.logs.size());
  for (LogRecord& log : pending_.logs) merged.logs.push_back(std::move(log));
  for (auto& [id, w] : pending_.workers) merged.workers.insert_or_assign(id, std::move(w));
  for (auto& [name, m] : pending_.models) merged.models.insert_or_assign(name, std::move(m));
  merged.deleted_jobs.insert(merged.deleted_jobs.end(), pending_.deleted_jobs.begin(),
                             pending_.deleted_jobs.end());
  merged.attempt_high_water = std::max(merged.attempt_high_water, pending_.attempt_high_water);
  merged.job_high_water = std::max(merged.job_high_water, pending_.job_high_water);
  pending_ = std::move(merged);
}

}  // namespace genfarm::scheduler
