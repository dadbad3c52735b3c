// What a worker's stream may carry (scheduler/core/worker_events.h), through the core
// facade: hello checks naming the field, one hello per stream, one stream per worker id,
// progress clamped to the task, and messages of someone else's attempt or stream ignored
// and counted.
#include "scheduler/core/worker_events.h"

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/core/scheduler_core.h"
#include "tests/scheduler/core/fakes.h"

namespace genfarm::scheduler {
namespace {

using testing::CpuDevice;
using testing::FakeChannel;
using ::testing::HasSubstr;
using testing::MakeHello;
using testing::Model;
using ::testing::SizeIs;
using ::testing::StartsWith;

// A channel that also keeps the reason it was closed with.
class ReasonChannel : public FakeChannel {
 public:
  void CloseWithReason(const absl::Status& reason) override {
    reason_ = reason;
    Close();
  }
  const absl::Status& reason() const { return reason_; }

 private:
  absl::Status reason_;
};

class CountingObserver : public NullCoreObserver {
 public:
  void OnWorkerMessageIgnored(const std::string& kind, const std::string& reason) override {
    ++ignored[kind + "/" + reason];
  }
  std::map<std::string, int> ignored;
};

class WorkerEventsTest : public ::testing::Test {
 protected:
  WorkerEventsTest()
      : core_(std::make_unique<SchedulerCore>(clock_, sink_, policy_, CoreOptions{}, &observer_)) {}

  absl::Status Hello(const v1::Hello& hello, std::shared_ptr<WorkerChannel> channel) {
    return core_->WorkerHello(hello, std::move(channel));
  }

  std::shared_ptr<ReasonChannel> Connect(const std::string& id, const std::string& host = "") {
    auto channel = std::make_shared<ReasonChannel>();
    v1::Hello hello = MakeHello(id, {CpuDevice()}, {Model("esrgan")}, /*slots=*/2);
    if (!host.empty()) hello.set_hostname(host);
    absl::Status status = Hello(hello, channel);
    EXPECT_TRUE(status.ok()) << status;
    return channel;
  }

  // One model stage over `frames`, `chunk` frames per task.
  JobId Submit(const std::string& frames, int chunk) {
    absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(absl::StrCat(
        "name: job\nproject: show\nstages:\n  - {name: upres, model: esrgan, input: in.####.exr, "
        "output: out.####.exr, frames: \"",
        frames, "\", chunk: ", chunk, "}\n"));
    EXPECT_TRUE(spec.ok()) << spec.status();
    absl::StatusOr<SubmitResult> result = core_->SubmitJob(*spec, "");
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->id : JobId(0);
  }

  v1::Task TaskOf(JobId job, int32_t index) {
    absl::StatusOr<std::vector<v1::Task>> tasks = core_->GetTasks(job);
    EXPECT_TRUE(tasks.ok()) << tasks.status();
    return tasks.ok() ? (*tasks)[index] : v1::Task{};
  }

  size_t OnlineWorkers() { return core_->ListWorkers(/*include_offline=*/false).size(); }

  static v1::Progress ProgressOf(const v1::Assignment& a, int64_t done, int64_t last) {
    v1::Progress p;
    p.set_attempt_id(a.attempt_id());
    p.set_job_id(a.job_id());
    p.set_task_index(a.task_index());
    p.set_frames_done(done);
    p.set_last_frame(last);
    return p;
  }

  static v1::Result SuccessOf(const v1::Assignment& a) {
    v1::Result r;
    r.set_attempt_id(a.attempt_id());
    r.set_job_id(a.job_id());
    r.set_task_index(a.task_index());
    r.set_success(true);
    return r;
  }

  FakeClock clock_;
  testing::RecordingSink sink_;
  testing::FakePlacementPolicy policy_;
  CountingObserver observer_;
  std::unique_ptr<SchedulerCore> core_;
};

TEST_F(WorkerEventsTest, AHelloWithABadWorkerIdIsRefusedNamingTheField) {
  for (const std::string& id :
       {std::string(""), std::string("gpu 07"), std::string("a/b"), std::string("w1\n"),
        std::string("w\x1b[2J"), std::string(129, 'w'), std::string("caf\xc3\xa9")}) {
    absl::Status status = Hello(MakeHello(id, {CpuDevice()}, {}), std::make_shared<FakeChannel>());
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_THAT(std::string(status.message()), StartsWith("hello.worker_id: ")) << id;
    for (char c : status.message()) EXPECT_FALSE(c == '\n' || c == '\x1b') << status;
  }
  EXPECT_EQ(core_->ListWorkers(/*include_offline=*/true).size(), 0u);  // nothing registered
  EXPECT_TRUE(
      Hello(MakeHello(std::string(128, 'w'), {CpuDevice()}, {}), std::make_shared<FakeChannel>())
          .ok());
}

TEST_F(WorkerEventsTest, HelloFieldsAreBoundedAndNamed) {
  struct Case {
    std::function<void(v1::Hello&)> edit;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](v1::Hello& h) { h.set_hostname("host name"); }, "hello.hostname"},
      {[](v1::Hello& h) { h.set_slots(-1); }, "hello.slots"},
      {[](v1::Hello& h) { h.set_slots(kMaxWorkerSlots + 1); }, "hello.slots"},
      {[](v1::Hello& h) {
         for (int i = 0; i < kMaxWorkerDevices; ++i) *h.add_devices() = CpuDevice();
       },
       "hello.devices"},
      {[](v1::Hello& h) { h.mutable_devices(0)->set_name("cpu\n"); }, "hello.devices[0].name"},
      {[](v1::Hello& h) { h.mutable_devices(0)->set_memory_total_bytes(-1); },
       "hello.devices[0].memory_total_bytes"},
      {[](v1::Hello& h) {
         for (int i = 0; i <= kMaxWorkerModels; ++i) *h.add_models() = Model(absl::StrCat("m", i));
       },
       "hello.models"},
      {[](v1::Hello& h) { h.mutable_models(0)->set_name("esr gan"); }, "hello.models[0].name"},
      {[](v1::Hello& h) { h.mutable_models(0)->set_window_after(1'000'000); },
       "hello.models[0].window_after"},
      {[](v1::Hello& h) {
         for (int i = 0; i <= kMaxWorkerTags; ++i) h.add_tags(absl::StrCat("t", i));
       },
       "hello.tags"},
      {[](v1::Hello& h) { h.add_tags("gpu\t"); }, "hello.tags[0]"},
      {[](v1::Hello& h) { h.add_running_attempts(-4); }, "hello.running_attempts[0]"},
      {[](v1::Hello& h) {
         for (int i = 0; i <= kMaxReportedAttempts; ++i) h.add_running_attempts(i + 1);
       },
       "hello.running_attempts"},
      {[](v1::Hello& h) { h.set_version(std::string(1000, 'v')); }, "hello.version"},
      {[](v1::Hello& h) { h.set_http_address("127.0.0.1:7090\r\n"); }, "hello.http_address"},
  };
  for (const Case& c : cases) {
    v1::Hello hello = MakeHello("w1", {CpuDevice()}, {Model("esrgan")});
    c.edit(hello);
    absl::Status status = Hello(hello, std::make_shared<FakeChannel>());
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.field << ": " << status;
    EXPECT_THAT(std::string(status.message()), StartsWith(c.field + ": ")) << status;
  }
  EXPECT_EQ(OnlineWorkers(), 0u);
}

TEST_F(WorkerEventsTest, ASecondHelloOnOneStreamIsAFailedPrecondition) {
  auto channel = Connect("w1");
  absl::Status again = Hello(MakeHello("w1", {CpuDevice()}, {Model("esrgan")}), channel);
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(again.message()),
              StartsWith("hello: this stream already said hello as 'w1'"));
}

TEST_F(WorkerEventsTest, ADuplicateIdFromAnotherHostIsRefusedAndCannotTouchTheFirstsWork) {
  const JobId job = Submit("1-4", 4);
  auto first = Connect("render", "host-a");
  core_->Dispatch();
  ASSERT_THAT(first->Assignments(), SizeIs(1));
  const v1::Assignment a = first->Assignments()[0];

  auto intruder = std::make_shared<ReasonChannel>();
  v1::Hello hello = MakeHello("render", {CpuDevice()}, {Model("esrgan")});
  hello.set_hostname("host-b");
  absl::Status status = Hello(hello, intruder);
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(status.message()),
              StartsWith("hello.worker_id: worker 'render' is already "
                         "connected from host 'host-a'"));
  EXPECT_FALSE(first->closed());
  EXPECT_THAT(intruder->sent(), SizeIs(0));  // no welcome

  // Its messages carry the same id but come on a stream that is not the worker's.
  core_->WorkerProgress(WorkerId("render"), intruder.get(), ProgressOf(a, 3, 3));
  EXPECT_FALSE(core_->WorkerResult(WorkerId("render"), intruder.get(), SuccessOf(a)));
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_RUNNING);
  EXPECT_EQ(TaskOf(job, 0).frames_done(), 0);
  EXPECT_EQ(observer_.ignored["progress/not_current_stream"], 1);
  EXPECT_EQ(observer_.ignored["result/not_current_stream"], 1);
  core_->WorkerGone(WorkerId("render"), intruder.get());  // its stream ends: nothing lost
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_RUNNING);

  EXPECT_TRUE(core_->WorkerResult(WorkerId("render"), first.get(), SuccessOf(a)));
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_SUCCEEDED);
}

TEST_F(WorkerEventsTest, TheSameHostReconnectingReplacesItsLingeringStreamWithAReason) {
  const JobId job = Submit("1-4", 4);
  auto old_stream = Connect("w1", "host-a");
  core_->Dispatch();
  ASSERT_THAT(old_stream->Assignments(), SizeIs(1));
  const v1::Assignment a = old_stream->Assignments()[0];

  // The machine rebooted; its old TCP connection has not noticed yet.
  auto new_stream = Connect("w1", "host-a");
  EXPECT_TRUE(old_stream->closed());
  EXPECT_EQ(old_stream->reason().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(old_stream->reason().message()),
              HasSubstr("hello.worker_id: worker 'w1' connected "
                        "again on a newer stream"));
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_QUEUED);  // not claimed by the new process

  // The old stream's late messages are ignored; its end does not take the new one down.
  EXPECT_FALSE(core_->WorkerResult(WorkerId("w1"), old_stream.get(), SuccessOf(a)));
  core_->WorkerGone(WorkerId("w1"), old_stream.get());
  EXPECT_EQ(OnlineWorkers(), 1u);
  core_->Dispatch();
  ASSERT_THAT(new_stream->Assignments(), SizeIs(1));
  EXPECT_TRUE(core_->WorkerResult(WorkerId("w1"), new_stream.get(),
                                  SuccessOf(new_stream->Assignments()[0])));
  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_SUCCEEDED);
}

TEST_F(WorkerEventsTest, AWorkerWhoseStreamDiedReconnectsFromAnyHost) {
  auto first = Connect("w1", "host-a");
  core_->WorkerGone(WorkerId("w1"), first.get());
  EXPECT_EQ(OnlineWorkers(), 0u);
  Connect("w1", "host-b");  // moved to another machine: fine once the first is gone
  EXPECT_EQ(OnlineWorkers(), 1u);
}

TEST_F(WorkerEventsTest, ProgressIsClampedToTheTask) {
  const JobId job = Submit("1001-1004", 4);
  auto w1 = Connect("w1");
  core_->Dispatch();
  ASSERT_THAT(w1->Assignments(), SizeIs(1));
  const v1::Assignment a = w1->Assignments()[0];

  core_->WorkerProgress(WorkerId("w1"), w1.get(), ProgressOf(a, 2, 1002));
  EXPECT_EQ(TaskOf(job, 0).frames_done(), 2);
  EXPECT_EQ(observer_.ignored["progress/out_of_range"], 0);

  core_->WorkerProgress(WorkerId("w1"), w1.get(), ProgressOf(a, 1'000'000'000, 1004));
  EXPECT_EQ(TaskOf(job, 0).frames_done(), 4);
  core_->WorkerProgress(WorkerId("w1"), w1.get(), ProgressOf(a, -7, 1001));
  EXPECT_EQ(TaskOf(job, 0).frames_done(), 0);
  core_->WorkerProgress(WorkerId("w1"), w1.get(), ProgressOf(a, 1, 5000));  // not its frame
  EXPECT_EQ(TaskOf(job, 0).frames_done(), 1);
  EXPECT_EQ(observer_.ignored["progress/out_of_range"], 3);
  absl::StatusOr<v1::Job> view = core_->GetJob(job);
  ASSERT_TRUE(view.ok());
  EXPECT_LE(view->stages(0).frames_done(), view->stages(0).frames_total());
}

TEST_F(WorkerEventsTest, ProgressAndResultsForAnotherWorkersAttemptAreIgnoredAndCounted) {
  const JobId job = Submit("1-2", 2);
  auto w1 = Connect("w1");
  core_->Dispatch();
  auto w2 = Connect("w2");
  ASSERT_THAT(w1->Assignments(), SizeIs(1));
  const v1::Assignment a = w1->Assignments()[0];

  core_->WorkerProgress(WorkerId("w2"), w2.get(), ProgressOf(a, 2, 2));
  EXPECT_FALSE(core_->WorkerResult(WorkerId("w2"), w2.get(), SuccessOf(a)));
  v1::Result unknown = SuccessOf(a);
  unknown.set_attempt_id(a.attempt_id() + 1000);
  EXPECT_FALSE(core_->WorkerResult(WorkerId("w1"), w1.get(), unknown));
  v1::Progress wrong_task = ProgressOf(a, 1, 1);
  wrong_task.set_task_index(a.task_index() + 1);
  core_->WorkerProgress(WorkerId("w1"), w1.get(), wrong_task);

  EXPECT_EQ(TaskOf(job, 0).state(), v1::TASK_STATE_RUNNING);
  EXPECT_EQ(TaskOf(job, 0).frames_done(), 0);
  EXPECT_EQ(observer_.ignored["progress/stale_attempt"], 1);
  EXPECT_EQ(observer_.ignored["result/stale_attempt"], 2);
  EXPECT_EQ(observer_.ignored["progress/wrong_task"], 1);
}

TEST_F(WorkerEventsTest, LogLinesAndMessagesAreCutToSize) {
  const JobId job = Submit("1-2", 2);
  auto w1 = Connect("w1");
  core_->Dispatch();
  ASSERT_THAT(w1->Assignments(), SizeIs(1));
  const v1::Assignment a = w1->Assignments()[0];
  v1::Progress p = ProgressOf(a, 1, 1);
  p.add_log_lines(std::string(100'000, 'x') + "\xc3\xa9");
  for (int i = 0; i < 5000; ++i) p.add_log_lines("line");
  const size_t before = sink_.logs().size();
  core_->WorkerProgress(WorkerId("w1"), w1.get(), p);
  const std::vector<LogRecord>& logs = sink_.logs();
  ASSERT_EQ(logs.size() - before, static_cast<size_t>(kMaxLogLinesPerMessage) + 1);
  EXPECT_LE(logs[before].text.size(), static_cast<size_t>(kMaxLogLineBytes) + 32);
  EXPECT_THAT(logs[before].text, HasSubstr("bytes cut]"));
  EXPECT_THAT(logs.back().text, HasSubstr("4001 more lines dropped"));
  EXPECT_EQ(observer_.ignored["log/truncated"], 1);

  v1::Result failed = SuccessOf(a);
  failed.set_success(false);
  failed.set_failure_reason(v1::FAILURE_REASON_MODEL_ERROR);
  failed.set_message(std::string(1'000'000, 'm'));
  EXPECT_TRUE(core_->WorkerResult(WorkerId("w1"), w1.get(), failed));
  EXPECT_LE(TaskOf(job, 0).message().size(), static_cast<size_t>(kMaxResultMessageBytes) + 64);
}

TEST_F(WorkerEventsTest, ValidateWorkerMessageNamesTheField) {
  v1::WorkerMessage m;
  for (int i = 0; i <= kMaxReportedAttempts; ++i)
    m.mutable_heartbeat()->add_running_attempts(i + 1);
  EXPECT_THAT(std::string(ValidateWorkerMessage(m).message()),
              StartsWith("heartbeat.running_attempts: "));
  m.Clear();
  m.mutable_heartbeat()->add_loaded_models("esr\ngan");
  EXPECT_THAT(std::string(ValidateWorkerMessage(m).message()),
              StartsWith("heartbeat.loaded_models[0]: "));
  m.Clear();
  m.mutable_result()->set_attempt_id(1);
  m.mutable_result()->set_failure_reason(static_cast<v1::FailureReason>(999));
  EXPECT_THAT(std::string(ValidateWorkerMessage(m).message()),
              StartsWith("result.failure_reason: "));
  m.Clear();
  m.mutable_result()->set_attempt_id(1);
  for (int i = 0; i <= kMaxReportedFrames; ++i) m.mutable_result()->add_frames_done(i);
  EXPECT_THAT(std::string(ValidateWorkerMessage(m).message()), StartsWith("result.frames_done: "));
  m.Clear();
  m.mutable_progress()->set_attempt_id(0);
  EXPECT_THAT(std::string(ValidateWorkerMessage(m).message()), StartsWith("progress.attempt_id: "));
  m.Clear();
  *m.mutable_hello() = MakeHello("w1", {CpuDevice()}, {Model("esrgan")});
  EXPECT_TRUE(ValidateWorkerMessage(m).ok());
}

}  // namespace
}  // namespace genfarm::scheduler
