#include "worker/daemon/task_executor.h"

#include <functional>
#include <map>
#include <new>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/frames/frame_io.h"

namespace genfarm::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr absl::Duration kEventually = absl::Seconds(10);
constexpr absl::Duration kStaysBlocked = absl::Milliseconds(50);

// A runner that reports one frame of progress and a log line, then holds the attempt until
// the test releases it or it is cancelled (checked every millisecond of real time, as the
// frame pipeline checks between frames). Its outcome is whatever the test set for the attempt.
class FakeRunner : public TaskRunner {
 public:
  TaskOutcome Run(const TaskContext& context) override {
    const int64_t attempt = context.assignment->attempt_id();
    {
      absl::MutexLock lock(&mu_);
      started_.push_back(attempt);
    }
    context.log("fake model warm");
    context.progress(1, context.assignment->frames(0));
    absl::MutexLock lock(&mu_);
    auto go = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return released_.count(attempt) > 0 || context.cancel->cancelled();
    };
    while (!mu_.AwaitWithTimeout(absl::Condition(&go), absl::Milliseconds(1))) {
    }
    if (context.cancel->cancelled()) {
      TaskOutcome outcome;
      outcome.status = absl::CancelledError("cancelled between frames");
      return outcome;
    }
    // Its one output goes into place through the lease fence, as WriteFrame's rename does.
    if (context.before_rename) {
      if (absl::Status fenced = context.before_rename(); !fenced.ok()) {
        TaskOutcome outcome;
        outcome.status = fenced;
        return outcome;
      }
    }
    auto it = outcomes_.find(attempt);
    if (it != outcomes_.end()) return it->second;
    TaskOutcome outcome;
    outcome.frames_written.assign(context.assignment->frames().begin(),
                                  context.assignment->frames().end());
    outcome.load_seconds = 0.5;
    outcome.run_seconds = 2.5;
    return outcome;
  }

  void Release(int64_t attempt) {
    absl::MutexLock lock(&mu_);
    released_.insert(attempt);
  }
  void SetOutcome(int64_t attempt, TaskOutcome outcome) {
    absl::MutexLock lock(&mu_);
    outcomes_[attempt] = std::move(outcome);
  }
  bool AwaitStarted(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return started_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kEventually);
  }
  std::vector<int64_t> started() const {
    absl::MutexLock lock(&mu_);
    return started_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<int64_t> started_ ABSL_GUARDED_BY(mu_);
  std::set<int64_t> released_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, TaskOutcome> outcomes_ ABSL_GUARDED_BY(mu_);
};

// What the executor sent towards the scheduler.
class Outbox {
 public:
  void Send(const v1::WorkerMessage& message) {
    absl::MutexLock lock(&mu_);
    messages_.push_back(message);
  }
  // Waits for the result of `attempt`; returns it (empty when none came).
  v1::Result AwaitResult(int64_t attempt) {
    absl::MutexLock lock(&mu_);
    v1::Result found;
    auto has = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const v1::WorkerMessage& m : messages_) {
        if (m.has_result() && m.result().attempt_id() == attempt) {
          found = m.result();
          return true;
        }
      }
      return false;
    };
    mu_.AwaitWithTimeout(absl::Condition(&has), kEventually);
    return found;
  }
  std::vector<v1::Progress> Progress() const {
    absl::MutexLock lock(&mu_);
    std::vector<v1::Progress> out;
    for (const v1::WorkerMessage& m : messages_) {
      if (m.has_progress()) out.push_back(m.progress());
    }
    return out;
  }
  int results() const {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const v1::WorkerMessage& m : messages_) n += m.has_result() ? 1 : 0;
    return n;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<v1::WorkerMessage> messages_ ABSL_GUARDED_BY(mu_);
};

v1::SchedulerMessage Assign(int64_t attempt, std::vector<int64_t> frames = {1001, 1002}) {
  v1::SchedulerMessage m;
  v1::Assignment* a = m.mutable_assign();
  a->set_attempt_id(attempt);
  a->set_job_id(7);
  a->set_task_index(static_cast<int32_t>(attempt % 100));
  a->mutable_stage()->set_name("upres");
  for (int64_t f : frames) a->add_frames(f);
  return m;
}

v1::SchedulerMessage Cancel(int64_t attempt, v1::FailureReason reason) {
  v1::SchedulerMessage m;
  m.mutable_cancel()->set_attempt_id(attempt);
  m.mutable_cancel()->set_reason(reason);
  return m;
}

v1::SchedulerMessage DrainRequest(bool drain) {
  v1::SchedulerMessage m;
  m.mutable_drain()->set_drain(drain);
  return m;
}

class TaskExecutorTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  FakeRunner runner_;
  Outbox outbox_;
  TaskExecutor executor_{[this](const v1::Assignment&) -> TaskRunner& { return runner_; },
                         [this](const v1::WorkerMessage& m) { outbox_.Send(m); }, clock_};
};

TEST_F(TaskExecutorTest, RunsAnAssignmentAndReportsProgressLogsAndResult) {
  executor_.Handle(Assign(41));
  ASSERT_TRUE(runner_.AwaitStarted(1));
  EXPECT_THAT(executor_.Running(), ElementsAre(41));
  EXPECT_EQ(executor_.busy(), 1);
  runner_.Release(41);
  v1::Result r = outbox_.AwaitResult(41);
  EXPECT_TRUE(r.success()) << r.message();
  EXPECT_EQ(r.job_id(), 7);
  EXPECT_EQ(r.task_index(), 41);
  EXPECT_THAT(r.frames_done(), ElementsAre(1001, 1002));
  EXPECT_DOUBLE_EQ(r.load_seconds(), 0.5);
  EXPECT_DOUBLE_EQ(r.run_seconds(), 2.5);
  // The log line logged before the progress travels with the progress, not again later.
  std::vector<v1::Progress> progress = outbox_.Progress();
  ASSERT_THAT(progress, ::testing::SizeIs(1));
  EXPECT_EQ(progress[0].frames_done(), 1);
  EXPECT_EQ(progress[0].last_frame(), 1001);
  EXPECT_THAT(progress[0].log_lines(), ElementsAre("fake model warm"));
  // The result's own last line says how the attempt ended, so no task's log is empty.
  EXPECT_THAT(r.log_lines(), ElementsAre("attempt 41 succeeded: 2 frames in 2.50 s"));
  // The result goes out just before the attempt leaves the table: a drain (with a grace the
  // fake clock never reaches) returns as soon as it has.
  EXPECT_TRUE(executor_.Drain(absl::Hours(1)));
  EXPECT_THAT(executor_.Running(), IsEmpty());
}

TEST_F(TaskExecutorTest, RunsAttemptsConcurrently) {
  executor_.Handle(Assign(1));
  executor_.Handle(Assign(2));
  ASSERT_TRUE(runner_.AwaitStarted(2));  // both started while neither was released
  EXPECT_EQ(executor_.busy(), 2);
  runner_.Release(2);
  EXPECT_TRUE(outbox_.AwaitResult(2).success());
  EXPECT_THAT(executor_.Running(), ::testing::Contains(1));  // still running
  runner_.Release(1);
  EXPECT_TRUE(outbox_.AwaitResult(1).success());
}

TEST_F(TaskExecutorTest, ACancelReportsTheReasonTheSchedulerGave) {
  executor_.Handle(Assign(5));
  ASSERT_TRUE(runner_.AwaitStarted(1));
  executor_.Handle(Cancel(5, v1::FAILURE_REASON_PREEMPTED));
  v1::Result r = outbox_.AwaitResult(5);
  EXPECT_FALSE(r.success());
  EXPECT_EQ(r.failure_reason(), v1::FAILURE_REASON_PREEMPTED);
  EXPECT_EQ(r.message(), "cancelled between frames");
  executor_.Handle(Cancel(99, v1::FAILURE_REASON_CANCELED));  // unknown attempt: ignored
}

TEST_F(TaskExecutorTest, AFailureWithoutAReasonGetsOneFromItsStatus) {
  TaskOutcome missing;
  missing.status = absl::NotFoundError("frame 1001: in/plate.1001.exr not found");
  runner_.SetOutcome(8, missing);
  TaskOutcome oom;
  oom.status = absl::InternalError("cuda");
  oom.reason = v1::FAILURE_REASON_OUT_OF_MEMORY;  // the runner knew better
  runner_.SetOutcome(9, oom);
  executor_.Handle(Assign(8));
  executor_.Handle(Assign(9));
  runner_.Release(8);
  runner_.Release(9);
  v1::Result r8 = outbox_.AwaitResult(8);
  EXPECT_EQ(r8.failure_reason(), v1::FAILURE_REASON_INPUT_MISSING);
  EXPECT_EQ(r8.message(), "frame 1001: in/plate.1001.exr not found");
  EXPECT_EQ(outbox_.AwaitResult(9).failure_reason(), v1::FAILURE_REASON_OUT_OF_MEMORY);
}

// Throws what it was made with, as the frame pipeline may when a huge frame is read.
class ThrowingRunner : public TaskRunner {
 public:
  explicit ThrowingRunner(std::function<void()> thrower) : thrower_(std::move(thrower)) {}
  TaskOutcome Run(const TaskContext&) override {
    thrower_();
    return TaskOutcome{};
  }

 private:
  std::function<void()> thrower_;
};

TEST(RunCatchingTest, AnExceptionFailsTheAttemptWithAReasonInsteadOfEndingTheWorker) {
  TaskContext context;
  ThrowingRunner bad_alloc([] { throw std::bad_alloc(); });
  TaskOutcome oom = RunCatching(bad_alloc, context);
  EXPECT_EQ(oom.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(oom.reason, v1::FAILURE_REASON_OUT_OF_MEMORY);
  EXPECT_THAT(std::string(oom.status.message()), HasSubstr("std::bad_alloc"));

  ThrowingRunner runtime([] { throw std::runtime_error("oiio: bad tile"); });
  TaskOutcome other = RunCatching(runtime, context);
  EXPECT_EQ(other.reason, v1::FAILURE_REASON_MODEL_ERROR);
  EXPECT_THAT(std::string(other.status.message()), HasSubstr("oiio: bad tile"));

  ThrowingRunner odd([] { throw 42; });
  EXPECT_EQ(RunCatching(odd, context).reason, v1::FAILURE_REASON_MODEL_ERROR);
}

TEST_F(TaskExecutorTest, WhileTheSchedulerDrainsUsNewAssignmentsAreRefused) {
  executor_.Handle(DrainRequest(true));
  EXPECT_TRUE(executor_.draining());
  executor_.Handle(Assign(3));
  v1::Result refused = outbox_.AwaitResult(3);
  EXPECT_FALSE(refused.success());
  EXPECT_EQ(refused.failure_reason(), v1::FAILURE_REASON_CANCELED);
  EXPECT_THAT(runner_.started(), IsEmpty());

  executor_.Handle(DrainRequest(false));
  EXPECT_FALSE(executor_.draining());
  executor_.Handle(Assign(4));
  ASSERT_TRUE(runner_.AwaitStarted(1));
  runner_.Release(4);
  EXPECT_TRUE(outbox_.AwaitResult(4).success());
}

TEST_F(TaskExecutorTest, DrainWaitsOnTheClockForRunningAttemptsToFinish) {
  executor_.Handle(Assign(6));
  ASSERT_TRUE(runner_.AwaitStarted(1));
  absl::Notification drained;
  bool clean = false;
  std::thread drainer([&] {
    clean = executor_.Drain(absl::Minutes(5));
    drained.Notify();
  });
  ASSERT_TRUE(clock_.AwaitWaiters(1));
  EXPECT_TRUE(executor_.draining());
  clock_.Advance(absl::Minutes(5) - absl::Seconds(1));  // grace not over yet
  EXPECT_FALSE(drained.WaitForNotificationWithTimeout(kStaysBlocked));
  executor_.Handle(Assign(60));  // SIGTERM drain refuses new work
  EXPECT_EQ(outbox_.AwaitResult(60).failure_reason(), v1::FAILURE_REASON_CANCELED);
  runner_.Release(6);
  drainer.join();
  EXPECT_TRUE(clean);
  EXPECT_TRUE(outbox_.AwaitResult(6).success());
  executor_.Handle(DrainRequest(false));  // the scheduler's undrain cannot lift a shutdown
  EXPECT_TRUE(executor_.draining());
}

TEST_F(TaskExecutorTest, DrainCancelsWhatOutlivesTheGracePeriod) {
  executor_.Handle(Assign(7));
  ASSERT_TRUE(runner_.AwaitStarted(1));
  bool clean = true;
  std::thread drainer([&] { clean = executor_.Drain(absl::Seconds(30)); });
  ASSERT_TRUE(clock_.AwaitWaiters(1));
  clock_.Advance(absl::Seconds(30));
  drainer.join();
  EXPECT_FALSE(clean);
  v1::Result r = outbox_.AwaitResult(7);
  EXPECT_FALSE(r.success());
  EXPECT_EQ(r.failure_reason(), v1::FAILURE_REASON_CANCELED);  // requeued by the scheduler
  EXPECT_EQ(outbox_.results(), 1);
}

TEST(ReasonForStatusTest, TheAdaptersReasonWinsOverTheStatusCode) {
  absl::Status full = absl::ResourceExhaustedError("frame 3: output file /o/x.exr: no space");
  full.SetPayload(kFailureReasonPayload, absl::Cord("disk_full"));
  EXPECT_EQ(ReasonForStatus(full), v1::FAILURE_REASON_DISK_FULL);  // not out of memory
  absl::Status write = absl::InternalError("frame 3: output file /o/x.exr: write failed");
  write.SetPayload(kFailureReasonPayload, absl::Cord("output_write"));
  EXPECT_EQ(ReasonForStatus(write), v1::FAILURE_REASON_OUTPUT_WRITE);  // not a model error
  EXPECT_EQ(ReasonForStatus(absl::ResourceExhaustedError("cuda: out of memory")),
            v1::FAILURE_REASON_OUT_OF_MEMORY);
  EXPECT_EQ(ReasonForStatus(absl::InternalError("c10::Error")), v1::FAILURE_REASON_MODEL_ERROR);
  EXPECT_EQ(ReasonForStatus(absl::NotFoundError("input")), v1::FAILURE_REASON_INPUT_MISSING);
  EXPECT_EQ(ReasonForStatus(absl::DataLossError("input")), v1::FAILURE_REASON_INPUT_CORRUPT);
  EXPECT_EQ(ReasonForStatus(absl::AbortedError("lease")), v1::FAILURE_REASON_WORKER_LOST);
}

// --- Lease fencing (worker/daemon/lease_table.h) ---

class FencedTaskExecutorTest : public ::testing::Test {
 protected:
  FencedTaskExecutorTest() {
    const uint64_t seq = leases_.NoteSent();
    leases_.SetLease(absl::Seconds(10));
    v1::LeaseRenewal renewal;
    renewal.set_lease_seq(static_cast<int64_t>(seq));
    renewal.set_lease_ms(10000);
    leases_.OnRenewal(renewal);
  }
  void StartWatching() {
    leases_.Start([this](int64_t a, const std::string& why) { executor_.Lose(a, why); });
  }

  FakeClock clock_;
  FakeRunner runner_;
  Outbox outbox_;
  LeaseTable leases_{clock_};
  TaskExecutor executor_{[this](const v1::Assignment&) -> TaskRunner& { return runner_; },
                         [this](const v1::WorkerMessage& m) { outbox_.Send(m); }, clock_, &leases_};
};

TEST_F(FencedTaskExecutorTest, AnAttemptWhoseLeaseRunsOutIsStoppedAsWorkerLost) {
  StartWatching();
  executor_.Handle(Assign(5));
  ASSERT_TRUE(runner_.AwaitStarted(1));
  // Nobody renews (the scheduler is gone, or this process was frozen past its lease).
  clock_.Advance(absl::Seconds(10));
  v1::Result r = outbox_.AwaitResult(5);
  EXPECT_FALSE(r.success());
  EXPECT_EQ(r.failure_reason(), v1::FAILURE_REASON_WORKER_LOST);
  EXPECT_THAT(r.message(), ::testing::HasSubstr("lease ran out"));
  EXPECT_THAT(r.log_lines(), ::testing::Contains(::testing::HasSubstr("failed (worker_lost)")));
}

TEST_F(FencedTaskExecutorTest, ARenameTheFenceRefusesFailsTheAttemptAsWorkerLost) {
  executor_.Handle(Assign(6));
  ASSERT_TRUE(runner_.AwaitStarted(1));
  leases_.Revoke(6, "the scheduler no longer holds this attempt");  // no watcher: not stopped
  runner_.Release(6);
  v1::Result r = outbox_.AwaitResult(6);
  EXPECT_FALSE(r.success());
  EXPECT_EQ(r.failure_reason(), v1::FAILURE_REASON_WORKER_LOST);
  EXPECT_THAT(r.message(), ::testing::HasSubstr("not renamed"));
  EXPECT_EQ(leases_.renames_refused(), 1);
}

TEST_F(FencedTaskExecutorTest, AFinishedAttemptLeavesTheLeaseTable) {
  executor_.Handle(Assign(7));
  ASSERT_TRUE(runner_.AwaitStarted(1));
  runner_.Release(7);
  EXPECT_TRUE(outbox_.AwaitResult(7).success());
  EXPECT_TRUE(executor_.Drain(absl::Hours(1)));
  EXPECT_EQ(leases_.ValidUntil(7), absl::InfinitePast());  // removed
}

}  // namespace
}  // namespace genfarm::worker
