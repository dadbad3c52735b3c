// InMemoryJobStore: the JobStore fake for unit tests. Behaves like SqliteJobStore (upserts by
// id, idempotency keys unique among non-empty keys, all-or-nothing batches, attempt and job high
// waters never move backwards, ReadLogs returns the newest `limit` lines oldest first) without
// disk. It also records what each Commit carried, can fail the next commits on demand, and can run
// a hook inside Commit, so tests can exercise a StoreWriter's coalescing and error paths.
//
//   InMemoryJobStore store;
//   store.FailNextCommits(1, absl::UnavailableError("disk full"));
//   StoreWriter writer(store, clock);
//   writer.PutTask(task);
//   ASSERT_TRUE(writer.Flush().ok());      // first commit fails, the retry succeeds
//   EXPECT_EQ(store.commit_history().size(), 2);
//
// Ownership: owns copies of everything committed. Thread-safe (all methods take one mutex;
// the before-commit hook runs without it held, so it may block or call back into the store).
#ifndef GENFARM_SCHEDULER_STORE_IN_MEMORY_JOB_STORE_H_
#define GENFARM_SCHEDULER_STORE_IN_MEMORY_JOB_STORE_H_

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "scheduler/store/job_store.h"

namespace genfarm::scheduler {

class InMemoryJobStore : public JobStore {
 public:
  // What one Commit call carried, successful or not.
  struct CommitRecord {
    size_t jobs = 0;
    size_t tasks = 0;
    size_t logs = 0;
    int64_t attempt_high_water = 0;
    bool ok = false;
  };

  InMemoryJobStore() = default;

  absl::StatusOr<StoreSnapshot> Load() override;
  absl::Status Commit(const WriteBatch& batch) override;
  absl::StatusOr<std::vector<LogRecord>> ReadLogs(TaskId task, int limit) override;

  // The next `count` Commit calls return `status` and change nothing.
  void FailNextCommits(int count, absl::Status status);
  // Runs at the start of every Commit, before anything is applied, without the store's lock.
  void SetBeforeCommitHook(std::function<void(const WriteBatch&)> hook);

  std::vector<CommitRecord> commit_history() const;
  // Sum of jobs + tasks + logs over successful commits.
  size_t committed_records() const;

 private:
  mutable absl::Mutex mu_;
  std::map<JobId, JobRecord> jobs_ ABSL_GUARDED_BY(mu_);
  std::map<TaskId, TaskRecord> tasks_ ABSL_GUARDED_BY(mu_);
  std::vector<LogRecord> logs_ ABSL_GUARDED_BY(mu_);
  std::map<WorkerId, WorkerRecord> workers_ ABSL_GUARDED_BY(mu_);  // drained ones
  std::map<std::string, ModelRecord> models_ ABSL_GUARDED_BY(mu_);
  int64_t attempt_high_water_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t job_high_water_ ABSL_GUARDED_BY(mu_) = 0;
  int fail_count_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status fail_status_ ABSL_GUARDED_BY(mu_);
  std::function<void(const WriteBatch&)> before_commit_ ABSL_GUARDED_BY(mu_);
  std::vector<CommitRecord> history_ ABSL_GUARDED_BY(mu_);
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_STORE_IN_MEMORY_JOB_STORE_H_
