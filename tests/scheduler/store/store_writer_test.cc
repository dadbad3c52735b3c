#include "scheduler/store/store_writer.h"

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/store/in_memory_job_store.h"
#include "scheduler/store/sqlite_job_store.h"
#include "tests/scheduler/store/store_test_util.h"

namespace genfarm::scheduler {
namespace {

using ::genfarm::scheduler::testing::ExpectTaskEq;
using ::genfarm::scheduler::testing::LogTexts;
using ::genfarm::scheduler::testing::MakeJob;
using ::genfarm::scheduler::testing::MakeLog;
using ::genfarm::scheduler::testing::MakeTask;
using ::genfarm::scheduler::testing::ScopedTempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// Holds the first Commit inside the store until released, so a test can pile up writes
// behind a commit in progress, deterministically.
class CommitGate {
 public:
  explicit CommitGate(InMemoryJobStore& store) {
    store.SetBeforeCommitHook([this](const WriteBatch&) {
      if (calls_++ != 0) return;
      entered_.Notify();
      release_.WaitForNotification();
    });
  }
  void WaitUntilCommitting() { entered_.WaitForNotification(); }
  void Release() { release_.Notify(); }

 private:
  std::atomic<int> calls_{0};
  absl::Notification entered_;
  absl::Notification release_;
};

// Retries at once (a zero delay is already due on the fake clock), for tests about what a
// retry commits rather than when.
StoreWriter::Options NoRetryDelay() {
  StoreWriter::Options options;
  options.initial_backoff = absl::ZeroDuration();
  options.max_backoff = absl::ZeroDuration();
  return options;
}

TEST(StoreWriterTest, UpdatesToOneTaskBetweenCommitsAreWrittenOnce) {
  InMemoryJobStore store;
  CommitGate gate(store);
  FakeClock clock;
  StoreWriter writer(store, clock);

  writer.PutTask(MakeTask(1, 0));
  gate.WaitUntilCommitting();  // first commit is in progress; the rest queue behind it
  TaskRecord latest = MakeTask(1, 0);
  for (int i = 1; i <= 5; ++i) {
    latest.frames_done = i;
    writer.PutTask(latest);
  }
  writer.PutTask(MakeTask(1, 1));
  writer.PutTask(MakeTask(1, 1));
  writer.PutJob(MakeJob(1));
  writer.PutJob(MakeJob(1));
  writer.AppendLog(MakeLog(1, 0, 1, 1, "a"));
  writer.AppendLog(MakeLog(1, 0, 1, 2, "b"));
  writer.SetAttemptHighWater(7);
  writer.SetAttemptHighWater(3);  // never lowers
  gate.Release();
  ASSERT_TRUE(writer.Flush().ok());

  std::vector<InMemoryJobStore::CommitRecord> history = store.commit_history();
  ASSERT_THAT(history, SizeIs(2));
  EXPECT_EQ(history[0].tasks, 1u);
  EXPECT_EQ(history[1].tasks, 2u);  // 7 task puts, 2 distinct tasks
  EXPECT_EQ(history[1].jobs, 1u);
  EXPECT_EQ(history[1].logs, 2u);  // logs are appended, never coalesced
  EXPECT_EQ(history[1].attempt_high_water, 7);

  absl::StatusOr<StoreSnapshot> snapshot = store.Load();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_THAT(snapshot->tasks, SizeIs(2));
  ExpectTaskEq(snapshot->tasks[0], latest);
  EXPECT_THAT(LogTexts(*store.ReadLogs(TaskId{JobId(1), 0}, 0)), ElementsAre("a", "b"));
}

TEST(StoreWriterTest, ANewJobsTasksGoInWholeAndALaterPutOfOneWins) {
  InMemoryJobStore store;
  FakeClock clock;
  StoreWriter writer(store, clock);
  std::vector<TaskRecord> tasks;
  for (int32_t i = 0; i < 1000; ++i) tasks.push_back(MakeTask(1, i));
  writer.BeginUnit();
  writer.PutJob(MakeJob(1));
  writer.PutNewTasks(std::move(tasks));
  TaskRecord updated = MakeTask(1, 7);
  updated.frames_done = 42;
  writer.PutTask(updated);
  writer.EndUnit();
  ASSERT_TRUE(writer.Flush().ok());

  std::vector<InMemoryJobStore::CommitRecord> history = store.commit_history();
  ASSERT_THAT(history, SizeIs(1));     // one unit, one transaction
  EXPECT_EQ(history[0].tasks, 1000u);  // task 7 once, as last put
  absl::StatusOr<StoreSnapshot> snapshot = store.Load();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_THAT(snapshot->tasks, SizeIs(1000));
  ExpectTaskEq(snapshot->tasks[7], updated);
}

TEST(StoreWriterTest, ADeletedJobStaysDeletedWhateverOfItWasStillPending) {
  InMemoryJobStore store;
  FakeClock clock;
  StoreWriter::Options options;
  options.max_batch_records = 2;  // the backlog below is split: the delete must come last
  StoreWriter writer(store, clock, options);
  writer.PutJob(MakeJob(1));
  writer.PutJob(MakeJob(2));
  writer.PutTask(MakeTask(1, 0));
  writer.PutTask(MakeTask(1, 1));
  writer.AppendLog(MakeLog(1, 0, 1, 1, "a"));
  writer.PutWorker(WorkerRecord{WorkerId("gpu-1"), true, 5});
  writer.SetJobHighWater(2);
  writer.DeleteJob(JobId(1));
  ASSERT_TRUE(writer.Flush().ok());
  absl::StatusOr<StoreSnapshot> snapshot = store.Load();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_THAT(snapshot->jobs, SizeIs(1));
  EXPECT_EQ(snapshot->jobs[0].id, JobId(2));
  EXPECT_THAT(snapshot->tasks, SizeIs(0));
  EXPECT_THAT(*store.ReadLogs(TaskId{JobId(1), -1}, 0), SizeIs(0));
  EXPECT_EQ(snapshot->job_high_water, 2);  // deleting never frees an id
  ASSERT_THAT(snapshot->workers, SizeIs(1));
}

TEST(StoreWriterTest, FlushMakesEverythingDurableInSqlite) {
  ScopedTempDir dir;
  absl::StatusOr<std::unique_ptr<SqliteJobStore>> store = SqliteJobStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status();
  StoreWriter writer(**store, RealClock::Get());
  for (int i = 0; i < 500; ++i) {
    writer.PutTask(MakeTask(1, i));
    writer.AppendLog(MakeLog(1, i, i, i, absl::StrCat("line ", i)));
  }
  writer.PutJob(MakeJob(1, "key"));
  writer.SetAttemptHighWater(499);
  ASSERT_TRUE(writer.Flush().ok());
  EXPECT_EQ(writer.pending_records(), 0u);

  // A second connection (as after a restart) sees all of it.
  absl::StatusOr<std::unique_ptr<SqliteJobStore>> reader = SqliteJobStore::Open(dir.path());
  ASSERT_TRUE(reader.ok()) << reader.status();
  absl::StatusOr<StoreSnapshot> snapshot = (*reader)->Load();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_THAT(snapshot->jobs, SizeIs(1));
  ASSERT_THAT(snapshot->tasks, SizeIs(500));
  ExpectTaskEq(snapshot->tasks[123], MakeTask(1, 123));
  EXPECT_EQ(snapshot->attempt_high_water, 499);
  EXPECT_THAT(*(*reader)->ReadLogs(TaskId{JobId(1), -1}, 0), SizeIs(500));
  EXPECT_TRUE(writer.Stop().ok());
}

TEST(StoreWriterTest, FailedCommitIsRetriedAndNothingIsLost) {
  InMemoryJobStore store;
  store.FailNextCommits(3, absl::UnavailableError("sqlite: commit: database is locked"));
  FakeClock clock;
  std::vector<CommitStats> stats;
  absl::Mutex stats_mu;
  StoreWriter::Options options;
  options.initial_backoff = absl::Seconds(1);
  options.max_backoff = absl::Seconds(2);
  options.on_commit = [&](const CommitStats& s) {
    absl::MutexLock lock(&stats_mu);
    stats.push_back(s);
  };
  auto attempts = [&] {
    absl::MutexLock lock(&stats_mu);
    return stats.size();
  };
  StoreWriter writer(store, clock, options);
  // One unit, so the first (failing) commit holds all 11 records: without it the writer
  // thread could take the 10 tasks before the log is queued (seen once in CI).
  writer.BeginUnit();
  for (int i = 0; i < 10; ++i) writer.PutTask(MakeTask(1, i));
  writer.AppendLog(MakeLog(1, 0, 1, 1, "kept"));
  writer.EndUnit();

  // Each retry waits out the next backoff on the clock: 1 s, 2 s, then capped at 2 s.
  const absl::Duration delays[] = {absl::Seconds(1), absl::Seconds(2), absl::Seconds(2)};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(clock.AwaitWaitsStarted(i + 1));
    ASSERT_EQ(clock.WaiterCount(), 1);
    EXPECT_EQ(clock.WaiterDeadlines()[0] - clock.Now(), delays[i]) << "retry " << i + 1;
    EXPECT_EQ(attempts(), static_cast<size_t>(i + 1));
    clock.Advance(delays[i] - absl::Milliseconds(1));
    EXPECT_EQ(attempts(), static_cast<size_t>(i + 1)) << "retried before its backoff ran out";
    clock.Advance(absl::Milliseconds(1));
  }
  ASSERT_TRUE(writer.Flush().ok());

  EXPECT_THAT(store.Load()->tasks, SizeIs(10));
  EXPECT_THAT(LogTexts(*store.ReadLogs(TaskId{JobId(1), 0}, 0)), ElementsAre("kept"));
  EXPECT_TRUE(writer.last_error().ok());
  absl::MutexLock lock(&stats_mu);
  ASSERT_THAT(stats, SizeIs(4));
  EXPECT_FALSE(stats[0].ok);
  EXPECT_EQ(stats[0].records, 11u);
  EXPECT_TRUE(stats[3].ok);
  EXPECT_EQ(stats[3].tasks, 10u);
}

TEST(StoreWriterTest, LastErrorReportsAPersistentFailureUntilItClears) {
  InMemoryJobStore store;
  store.FailNextCommits(1'000'000, absl::ResourceExhaustedError("disk full"));
  FakeClock clock;
  absl::Notification failed;
  StoreWriter::Options options;
  options.initial_backoff = absl::Seconds(1);
  options.on_commit = [&](const CommitStats& s) {
    if (!s.ok && !failed.HasBeenNotified()) failed.Notify();
  };
  StoreWriter writer(store, clock, options);
  writer.PutTask(MakeTask(1, 0));
  failed.WaitForNotification();
  EXPECT_EQ(writer.last_error().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(writer.pending_records(), 1u);
  // The flush's timeout runs on the injected clock, as does the writer's retry backoff.
  absl::Status flush;
  std::thread flusher([&] { flush = writer.Flush(absl::Milliseconds(20)); });
  ASSERT_TRUE(clock.AwaitWaiters(2));  // the writer's backoff and the flush
  clock.Advance(absl::Milliseconds(20));
  flusher.join();
  EXPECT_EQ(flush.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(flush.message(), HasSubstr("disk full"));
  EXPECT_EQ(writer.pending_records(), 1u);

  store.FailNextCommits(0, absl::OkStatus());  // the operator freed some space
  clock.Advance(absl::Seconds(1));             // the writer's next retry is due
  ASSERT_TRUE(writer.Flush().ok());
  EXPECT_TRUE(writer.last_error().ok());
  EXPECT_THAT(store.Load()->tasks, SizeIs(1));
}

TEST(StoreWriterTest, WritesDuringAFailedCommitWinAndLogsKeepTheirOrder) {
  InMemoryJobStore store;
  store.FailNextCommits(1, absl::UnavailableError("busy"));
  CommitGate gate(store);
  FakeClock clock;
  StoreWriter writer(store, clock, NoRetryDelay());

  TaskRecord old_version = MakeTask(1, 0);
  writer.PutTask(old_version);
  writer.PutTask(MakeTask(1, 1));
  writer.AppendLog(MakeLog(1, 0, 1, 1, "first"));
  gate.WaitUntilCommitting();  // this commit will fail
  TaskRecord new_version = MakeTask(1, 0);
  new_version.state = v1::TASK_STATE_SUCCEEDED;
  writer.PutTask(new_version);
  writer.AppendLog(MakeLog(1, 0, 1, 2, "second"));
  gate.Release();
  ASSERT_TRUE(writer.Flush().ok());

  absl::StatusOr<StoreSnapshot> snapshot = store.Load();
  ASSERT_THAT(snapshot->tasks, SizeIs(2));
  ExpectTaskEq(snapshot->tasks[0], new_version);
  ExpectTaskEq(snapshot->tasks[1], MakeTask(1, 1));
  EXPECT_THAT(LogTexts(*store.ReadLogs(TaskId{JobId(1), 0}, 0)), ElementsAre("first", "second"));
}

TEST(StoreWriterTest, ConcurrentProducersLoseNothing) {
  InMemoryJobStore store;
  FakeClock clock;
  StoreWriter writer(store, clock);
  constexpr int kThreads = 4;
  constexpr int kTasksPerThread = 500;
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&writer, t] {
      for (int i = 0; i < kTasksPerThread; ++i) {
        TaskRecord task = MakeTask(t, i);
        task.frames_done = 0;
        writer.PutTask(task);
        task.frames_done = 8;  // the final update of each task must win
        writer.PutTask(task);
        writer.AppendLog(MakeLog(t, i, 1, i, absl::StrCat(t, ":", i)));
        writer.SetAttemptHighWater(t * kTasksPerThread + i);
        if (i % 100 == 0) {
          EXPECT_TRUE(writer.Flush().ok());
        }
      }
    });
  }
  for (std::thread& producer : producers) producer.join();
  ASSERT_TRUE(writer.Flush().ok());

  absl::StatusOr<StoreSnapshot> snapshot = store.Load();
  ASSERT_THAT(snapshot->tasks, SizeIs(kThreads * kTasksPerThread));
  for (const TaskRecord& task : snapshot->tasks) EXPECT_EQ(task.frames_done, 8);
  EXPECT_EQ(snapshot->attempt_high_water, kThreads * kTasksPerThread - 1);
  for (int t = 0; t < kThreads; ++t) {
    std::vector<LogRecord> logs = *store.ReadLogs(TaskId{JobId(t), -1}, 0);
    ASSERT_THAT(logs, SizeIs(kTasksPerThread));
    for (int i = 0; i < kTasksPerThread; ++i) {
      EXPECT_EQ(logs[i].text, absl::StrCat(t, ":", i));  // one producer's order is kept
    }
  }
}

TEST(StoreWriterTest, LargeBacklogIsSplitIntoBoundedTransactions) {
  InMemoryJobStore store;
  CommitGate gate(store);
  FakeClock clock;
  StoreWriter::Options options;
  options.max_batch_records = 4;
  StoreWriter writer(store, clock, options);
  writer.PutJob(MakeJob(1));
  gate.WaitUntilCommitting();
  for (int i = 0; i < 10; ++i) writer.PutTask(MakeTask(1, i));
  writer.SetAttemptHighWater(99);
  gate.Release();
  ASSERT_TRUE(writer.Flush().ok());

  std::vector<InMemoryJobStore::CommitRecord> history = store.commit_history();
  ASSERT_THAT(history, SizeIs(4));  // 1 job, then 10 tasks as 4 + 4 + 2
  EXPECT_EQ(history[1].tasks, 4u);
  EXPECT_EQ(history[1].attempt_high_water, 99);  // with the first part of the backlog
  EXPECT_EQ(history[3].tasks, 2u);
  EXPECT_THAT(store.Load()->tasks, SizeIs(10));
}

TEST(StoreWriterTest, AUnitIsOneTransactionEvenPastTheBatchBound) {
  InMemoryJobStore store;
  CommitGate gate(store);
  FakeClock clock;
  StoreWriter::Options options;
  options.max_batch_records = 4;
  StoreWriter writer(store, clock, options);
  writer.PutJob(MakeJob(1));
  gate.WaitUntilCommitting();
  writer.BeginUnit();
  writer.PutJob(MakeJob(2));
  for (int i = 0; i < 10; ++i) writer.PutTask(MakeTask(2, i));
  writer.EndUnit();
  gate.Release();
  ASSERT_TRUE(writer.Flush().ok());
  std::vector<InMemoryJobStore::CommitRecord> history = store.commit_history();
  ASSERT_THAT(history, SizeIs(2));  // job 1, then job 2 with all 10 tasks at once
  EXPECT_EQ(history[1].jobs, 1u);
  EXPECT_EQ(history[1].tasks, 10u);
}

TEST(StoreWriterTest, TheBacklogIsNotTakenWhileAUnitIsOpen) {
  InMemoryJobStore store;
  FakeClock clock;
  StoreWriter writer(store, clock);
  writer.BeginUnit();
  writer.PutJob(MakeJob(7));
  writer.PutTask(MakeTask(7, 0));
  // The writer may not commit half the unit: Flush cannot finish while it is open.
  EXPECT_EQ(writer.Flush(absl::ZeroDuration()).code(), absl::StatusCode::kDeadlineExceeded);
  writer.PutTask(MakeTask(7, 1));
  writer.EndUnit();
  ASSERT_TRUE(writer.Flush().ok());
  std::vector<InMemoryJobStore::CommitRecord> history = store.commit_history();
  ASSERT_THAT(history, SizeIs(1));
  EXPECT_EQ(history[0].tasks, 2u);
}

TEST(StoreWriterTest, WhenDurableAnswersOnlyAfterTheCommit) {
  InMemoryJobStore store;
  CommitGate gate(store);
  FakeClock clock;
  StoreWriter writer(store, clock);
  writer.PutJob(MakeJob(1));
  gate.WaitUntilCommitting();
  writer.PutTask(MakeTask(1, 0));  // behind the commit in progress
  absl::Notification durable;
  absl::Status answer = absl::UnknownError("not called");
  writer.WhenDurable([&](absl::Status s) {
    answer = s;
    // Its records are in the store by the time it is told.
    EXPECT_THAT(store.Load()->tasks, SizeIs(1));
    durable.Notify();
  });
  EXPECT_FALSE(durable.HasBeenNotified());
  gate.Release();
  durable.WaitForNotification();
  EXPECT_TRUE(answer.ok()) << answer;
  // Nothing pending: answered at once, on the caller's thread.
  bool now = false;
  writer.WhenDurable([&](absl::Status s) { now = s.ok(); });
  EXPECT_TRUE(now);
}

TEST(StoreWriterTest, WhenDurableReportsChangesAStoppedWriterNeverCommitted) {
  InMemoryJobStore store;
  store.FailNextCommits(1000, absl::ResourceExhaustedError("disk full"));
  FakeClock clock;
  StoreWriter writer(store, clock, NoRetryDelay());
  writer.PutJob(MakeJob(1));
  absl::Status answer;
  writer.WhenDurable([&](absl::Status s) { answer = s; });
  EXPECT_FALSE(writer.Stop().ok());
  EXPECT_EQ(answer.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(answer.message()), HasSubstr("before this change was durable"));
}

TEST(StoreWriterTest, CommitDurationComesFromTheInjectedClock) {
  InMemoryJobStore store;
  FakeClock clock;
  store.SetBeforeCommitHook([&clock](const WriteBatch&) { clock.Advance(absl::Seconds(2)); });
  absl::Mutex mu;
  std::vector<CommitStats> stats;
  StoreWriter::Options options;
  options.on_commit = [&](const CommitStats& s) {
    absl::MutexLock lock(&mu);
    stats.push_back(s);
  };
  StoreWriter writer(store, clock, options);
  writer.PutTask(MakeTask(1, 0));
  ASSERT_TRUE(writer.Flush().ok());
  absl::MutexLock lock(&mu);
  ASSERT_THAT(stats, SizeIs(1));
  EXPECT_DOUBLE_EQ(stats[0].seconds, 2.0);
  EXPECT_EQ(stats[0].records, 1u);
}

TEST(StoreWriterTest, StopCommitsWhatIsPendingThenRefusesWork) {
  InMemoryJobStore store;
  CommitGate gate(store);
  FakeClock clock;
  StoreWriter writer(store, clock);
  writer.PutTask(MakeTask(1, 0));
  gate.WaitUntilCommitting();
  writer.PutTask(MakeTask(1, 1));  // pending when Stop is called
  std::thread stopper([&writer] { EXPECT_TRUE(writer.Stop().ok()); });
  gate.Release();
  stopper.join();
  EXPECT_THAT(store.Load()->tasks, SizeIs(2));

  writer.PutTask(MakeTask(1, 2));                           // dropped
  EXPECT_EQ(writer.Flush().code(), absl::StatusCode::kOk);  // nothing new was accepted
  EXPECT_THAT(store.Load()->tasks, SizeIs(2));
  EXPECT_TRUE(writer.Stop().ok());  // idempotent
}

TEST(StoreWriterTest, StopReportsRecordsItCouldNotMakeDurable) {
  InMemoryJobStore store;
  store.FailNextCommits(1'000'000, absl::UnavailableError("disk gone"));
  FakeClock clock;
  StoreWriter writer(store, clock);  // retries wait on the fake clock, which never moves
  writer.PutTask(MakeTask(1, 0));
  writer.PutTask(MakeTask(1, 1));
  absl::Status status = writer.Stop();  // cuts the backoff short for a final attempt
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("2 records not durable"));
  EXPECT_EQ(writer.Flush().code(), absl::StatusCode::kFailedPrecondition);
}

// The durability promise of synchronous=NORMAL in WAL mode: once Flush() returns, the data
// survives the scheduler being SIGKILLed, even in the middle of its next commit.
TEST(StoreWriterTest, FlushedDataSurvivesSigkill) {
  ScopedTempDir dir;
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    absl::StatusOr<std::unique_ptr<SqliteJobStore>> store = SqliteJobStore::Open(dir.path());
    if (!store.ok()) _exit(2);
    StoreWriter writer(**store, RealClock::Get());
    writer.PutJob(MakeJob(1, "survivor"));
    for (int i = 0; i < 1000; ++i) writer.PutTask(MakeTask(1, i));
    writer.SetAttemptHighWater(4242);
    if (!writer.Flush().ok()) _exit(3);
    char byte = 'F';
    if (write(ready[1], &byte, 1) != 1) _exit(4);
    // Keep committing until killed, so the kill lands in or between later commits.
    for (int round = 0;; ++round) {
      for (int i = 0; i < 1000; ++i) {
        TaskRecord task = MakeTask(2, i);
        task.frames_done = round;
        writer.PutTask(task);
      }
      (void)writer.Flush();
    }
  }
  close(ready[1]);
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1);
  close(ready[0]);
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFSIGNALED(wstatus)) << "child exited with " << WEXITSTATUS(wstatus);
  EXPECT_EQ(WTERMSIG(wstatus), SIGKILL);

  absl::StatusOr<std::unique_ptr<SqliteJobStore>> store = SqliteJobStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<StoreSnapshot> snapshot = (*store)->Load();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_GE(snapshot->jobs.size(), 1u);
  EXPECT_EQ(snapshot->jobs[0].idempotency_key, "survivor");
  EXPECT_EQ(snapshot->attempt_high_water, 4242);
  int job1_tasks = 0;
  for (const TaskRecord& task : snapshot->tasks) {
    if (task.id.job == JobId(1)) {
      ++job1_tasks;
      ExpectTaskEq(task, MakeTask(1, task.id.index));
    }
  }
  EXPECT_EQ(job1_tasks, 1000);
  // Whatever of job 2 got committed before the kill is intact.
  for (const TaskRecord& task : snapshot->tasks) {
    if (task.id.job == JobId(2)) {
      EXPECT_EQ(task.frames, MakeTask(2, task.id.index).frames);
    }
  }
}

}  // namespace
}  // namespace genfarm::scheduler
