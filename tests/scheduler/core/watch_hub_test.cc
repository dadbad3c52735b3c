// Watch events stay bounded whatever the job's size: the first event of a big job, a mass
// change, and a slow reader's merged events (MergeJobEvents).
#include "scheduler/core/watch_hub.h"

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

using testing::FakePlacementPolicy;
using ::testing::IsEmpty;
using testing::RecordingSink;
using ::testing::SizeIs;

class WatchHubTest : public ::testing::Test {
 protected:
  WatchHubTest() { core_.LearnModels({testing::Model("esrgan")}); }

  JobId Submit(int tasks) {
    absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(absl::StrCat(
        "name: job\nproject: show\nlabels:\n  dept: comp\nstages:\n  - name: upres\n"
        "    model: esrgan\n    input: in/plate.####.exr\n    output: out/upres.####.exr\n"
        "    frames: \"1-",
        tasks, "\"\n"));
    EXPECT_TRUE(spec.ok()) << spec.status();
    absl::StatusOr<SubmitResult> result = core_.SubmitJob(*spec, "");
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->id : JobId(0);
  }

  void Watch(JobId job) {
    absl::StatusOr<int64_t> id = core_.Watch(
        job, [this](const v1::JobEvent& e, bool done) { events_.emplace_back(e, done); });
    ASSERT_TRUE(id.ok()) << id.status();
  }

  FakeClock clock_;
  RecordingSink sink_;
  FakePlacementPolicy policy_;
  SchedulerCore core_{clock_, sink_, policy_, CoreOptions{}};
  std::vector<std::pair<v1::JobEvent, bool>> events_;
};

TEST_F(WatchHubTest, TheFirstEventOfASmallJobListsEveryTask) {
  Watch(Submit(3));
  ASSERT_THAT(events_, SizeIs(1));
  EXPECT_THAT(events_[0].first.changed_tasks(), SizeIs(3));
  EXPECT_FALSE(events_[0].first.tasks_truncated());
}

TEST_F(WatchHubTest, TheFirstEventOfABigJobListsItsFirstTasksAndSaysTruncated) {
  const int tasks = kMaxWatchEventTasks * 3;
  Watch(Submit(tasks));
  ASSERT_THAT(events_, SizeIs(1));
  const v1::JobEvent& first = events_[0].first;
  ASSERT_THAT(first.changed_tasks(), SizeIs(kMaxWatchEventTasks));
  EXPECT_EQ(first.changed_tasks(0).index(), 0);
  EXPECT_EQ(first.changed_tasks(kMaxWatchEventTasks - 1).index(), kMaxWatchEventTasks - 1);
  EXPECT_TRUE(first.tasks_truncated());
  // The job is its summary, with exact counters.
  EXPECT_THAT(first.job().spec().stages(), IsEmpty());
  EXPECT_THAT(first.job().spec().labels(), IsEmpty());
  EXPECT_EQ(first.job().spec().name(), "job");
  EXPECT_EQ(first.job().stages(0).tasks_total(), tasks);
}

TEST_F(WatchHubTest, AMassChangeSendsABoundedEventWithExactCounters) {
  const int tasks = kMaxWatchEventTasks * 5;
  const JobId job = Submit(tasks);
  Watch(job);
  ASSERT_TRUE(core_.CancelJob(job).ok());
  core_.Dispatch();
  ASSERT_THAT(events_, SizeIs(2));
  const v1::JobEvent& last = events_[1].first;
  EXPECT_TRUE(events_[1].second);
  EXPECT_EQ(last.job().state(), v1::JOB_STATE_CANCELED);
  EXPECT_THAT(last.changed_tasks(), SizeIs(kMaxWatchEventTasks));
  EXPECT_TRUE(last.tasks_truncated());
  EXPECT_EQ(last.job().stages(0).tasks_by_state().at("canceled"), tasks);
  for (const v1::Task& t : last.changed_tasks()) EXPECT_EQ(t.state(), v1::TASK_STATE_CANCELED);
}

TEST_F(WatchHubTest, AFewChangesAreListedWholeAndNotTruncated) {
  const JobId job = Submit(kMaxWatchEventTasks * 2);
  core_.Dispatch();  // the submit's own changes go out (to nobody), as after every burst
  Watch(job);
  auto w1 = std::make_shared<testing::FakeChannel>();
  ASSERT_TRUE(core_
                  .WorkerHello(testing::MakeHello("w1", {testing::CpuDevice()},
                                                  {testing::Model("esrgan")}, 2, {}, {}),
                               w1)
                  .ok());
  core_.Dispatch();
  ASSERT_THAT(events_, SizeIs(2));
  EXPECT_THAT(events_[1].first.changed_tasks(), SizeIs(2));
  EXPECT_FALSE(events_[1].first.tasks_truncated());
  EXPECT_EQ(events_[1].first.changed_tasks(0).state(), v1::TASK_STATE_RUNNING);
}

v1::Task TaskAt(int32_t index, v1::TaskState state) {
  v1::Task t;
  t.set_index(index);
  t.set_state(state);
  return t;
}

TEST(MergeJobEventsTest, TheNewerJobAndTaskWinAndNewTasksAreAdded) {
  v1::JobEvent queued;
  queued.mutable_job()->set_state(v1::JOB_STATE_ACTIVE);
  *queued.add_changed_tasks() = TaskAt(1, v1::TASK_STATE_QUEUED);
  *queued.add_changed_tasks() = TaskAt(2, v1::TASK_STATE_QUEUED);
  v1::JobEvent next;
  next.mutable_job()->set_state(v1::JOB_STATE_SUCCEEDED);
  *next.add_changed_tasks() = TaskAt(2, v1::TASK_STATE_SUCCEEDED);
  *next.add_changed_tasks() = TaskAt(3, v1::TASK_STATE_RUNNING);
  MergeJobEvents(queued, next);
  EXPECT_EQ(queued.job().state(), v1::JOB_STATE_SUCCEEDED);
  ASSERT_THAT(queued.changed_tasks(), SizeIs(3));
  EXPECT_EQ(queued.changed_tasks(1).state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(queued.changed_tasks(2).index(), 3);
  EXPECT_FALSE(queued.tasks_truncated());
}

TEST(MergeJobEventsTest, MergingStaysWithinOneEventsBoundsAndSaysTruncated) {
  v1::JobEvent queued;
  for (int i = 0; i < kMaxWatchEventTasks; ++i) {
    *queued.add_changed_tasks() = TaskAt(i, v1::TASK_STATE_QUEUED);
  }
  for (int round = 0; round < 50; ++round) {  // a slow reader: many events fold into one
    v1::JobEvent next;
    for (int i = 0; i < kMaxWatchEventTasks; ++i) {
      *next.add_changed_tasks() =
          TaskAt(kMaxWatchEventTasks * (round + 1) + i, v1::TASK_STATE_RUNNING);
    }
    *next.add_changed_tasks() = TaskAt(5, v1::TASK_STATE_SUCCEEDED);  // one already listed
    MergeJobEvents(queued, next);
  }
  EXPECT_THAT(queued.changed_tasks(), SizeIs(kMaxWatchEventTasks));
  EXPECT_TRUE(queued.tasks_truncated());
  EXPECT_EQ(queued.changed_tasks(5).state(), v1::TASK_STATE_SUCCEEDED);

  v1::JobEvent truncated_next;
  truncated_next.set_tasks_truncated(true);
  v1::JobEvent fresh;
  MergeJobEvents(fresh, truncated_next);
  EXPECT_TRUE(fresh.tasks_truncated());  // a truncated event stays truncated when merged
}

}  // namespace
}  // namespace genfarm::scheduler
