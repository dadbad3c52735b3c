// The bounded views of CoreViews through the core facade: ListTasks paging, filters and
// token checks, ListJobs summaries and checks, GetJob's task bound. What a client of a
// 1,000,000-task job relies on, at sizes a unit test can afford.
#include "scheduler/core/core_views.h"

#include <memory>
#include <set>
#include <string>
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
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::RecordingSink;
using ::testing::SizeIs;
using ::testing::StartsWith;

// Stage `upres` over `frames` with `chunk` frames per task, then optional extra stages.
std::string JobYaml(const std::string& frames, int chunk = 1, const std::string& extra = "",
                    const std::string& job_extra = "") {
  return absl::StrCat("name: job\nproject: show\n", job_extra,
                      "stages:\n  - name: upres\n    model: esrgan\n"
                      "    input: in/plate.####.exr\n    output: out/upres.####.exr\n"
                      "    frames: \"",
                      frames, "\"\n    chunk: ", chunk, "\n", extra);
}

// A second, independent stage `late` of `frames` (its tasks come after upres' in index order).
std::string LateStage(const std::string& frames) {
  return absl::StrCat(
      "  - name: late\n    model: esrgan\n    input: in/other.####.exr\n"
      "    output: out/late.####.exr\n    frames: \"",
      frames, "\"\n");
}

std::string Msg(const absl::Status& status) { return std::string(status.message()); }

class CoreViewsTest : public ::testing::Test {
 protected:
  CoreViewsTest() { core_.LearnModels({testing::Model("esrgan")}); }

  JobId Submit(const std::string& yaml) {
    absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(yaml);
    EXPECT_TRUE(spec.ok()) << spec.status();
    absl::StatusOr<SubmitResult> result = core_.SubmitJob(*spec, "");
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->id : JobId(0);
  }

  static v1::ListTasksRequest Tasks(JobId job, int32_t page_size = 0,
                                    const std::string& token = "") {
    v1::ListTasksRequest request;
    request.set_job_id(job.value());
    request.set_page_size(page_size);
    request.set_page_token(token);
    return request;
  }

  // Pages `request` to the end; the indexes seen and the number of calls made.
  std::pair<std::vector<int32_t>, int> PageAll(v1::ListTasksRequest request) {
    std::vector<int32_t> seen;
    int calls = 0;
    while (true) {
      absl::StatusOr<v1::ListTasksResponse> page = core_.ListTasks(request);
      ++calls;
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok() || calls > 1000) break;
      for (const v1::Task& t : page->tasks()) seen.push_back(t.index());
      if (page->next_page_token().empty()) break;
      request.set_page_token(page->next_page_token());
    }
    return {seen, calls};
  }

  FakeClock clock_;
  RecordingSink sink_;
  FakePlacementPolicy policy_;
  SchedulerCore core_{clock_, sink_, policy_, CoreOptions{}};
};

TEST_F(CoreViewsTest, ListTasksPagesEveryTaskOnceInIndexOrderWithTheDefaultPageSize) {
  const JobId job = Submit(JobYaml("1-2500"));
  absl::StatusOr<v1::ListTasksResponse> first = core_.ListTasks(Tasks(job));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(first->tasks(), SizeIs(kListTasksDefaultPageSize));
  EXPECT_EQ(first->tasks(0).index(), 0);
  EXPECT_EQ(first->tasks(0).job_id(), job.value());
  EXPECT_FALSE(first->next_page_token().empty());

  auto [seen, calls] = PageAll(Tasks(job));
  EXPECT_EQ(calls, 3);
  ASSERT_THAT(seen, SizeIs(2500));
  for (int32_t i = 0; i < 2500; ++i) ASSERT_EQ(seen[i], i);
}

TEST_F(CoreViewsTest, PageSizeIsCappedAtItsMaximumAndANegativeOneIsRefused) {
  const JobId job = Submit(JobYaml("1-12000"));
  absl::StatusOr<v1::ListTasksResponse> page = core_.ListTasks(Tasks(job, 50'000));
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(page->tasks(), SizeIs(kListTasksMaxPageSize));
  absl::StatusOr<v1::ListTasksResponse> small = core_.ListTasks(Tasks(job, 7));
  ASSERT_TRUE(small.ok());
  EXPECT_THAT(small->tasks(), SizeIs(7));

  absl::StatusOr<v1::ListTasksResponse> negative = core_.ListTasks(Tasks(job, -1));
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(negative.status()), StartsWith("page_size"));
}

TEST_F(CoreViewsTest, TokensNotIssuedForThisJobAreRefusedNamingPageToken) {
  const JobId job = Submit(JobYaml("1-30"));
  const JobId other = Submit(JobYaml("1-30"));
  absl::StatusOr<v1::ListTasksResponse> page = core_.ListTasks(Tasks(job, 10));
  ASSERT_TRUE(page.ok());
  const std::string good = page->next_page_token();
  ASSERT_FALSE(good.empty());
  EXPECT_TRUE(core_.ListTasks(Tasks(job, 10, good)).ok());

  const std::string j = absl::StrCat(job.value());
  for (const std::string& bad : std::vector<std::string>{
           std::string("abc"), std::string("10"), j + ":", ":10", j + ":010", j + ":+10",
           j + ": 10", j + ":10 ", j + ":10:1", j + ":-1", j + ":0", j + ":30", j + ":999999",
           j + ":99999999999999999999", absl::StrCat(other.value(), ":10"), "0" + j + ":10",
           std::string("\x01\xff:\n"), std::string(10'000, '9')}) {
    absl::StatusOr<v1::ListTasksResponse> refused = core_.ListTasks(Tasks(job, 10, bad));
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(Msg(refused.status()), StartsWith("page_token: ")) << bad;
    EXPECT_LT(Msg(refused.status()).size(), 400u) << "the message quotes a bounded part";
  }
}

TEST_F(CoreViewsTest, StatesOutsideTheEnumAndUnknownStagesAreRefusedNamingTheField) {
  const JobId job = Submit(JobYaml("1-3"));
  v1::ListTasksRequest request = Tasks(job);
  request.set_state(static_cast<v1::TaskState>(99));
  absl::StatusOr<v1::ListTasksResponse> state = core_.ListTasks(request);
  EXPECT_EQ(state.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(state.status()), StartsWith("state: "));

  request = Tasks(job);
  request.set_stage("grade");
  absl::StatusOr<v1::ListTasksResponse> stage = core_.ListTasks(request);
  EXPECT_EQ(stage.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(stage.status()), StartsWith("stage: "));
  EXPECT_THAT(Msg(stage.status()), HasSubstr("'grade'"));

  EXPECT_EQ(core_.ListTasks(Tasks(JobId(404))).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CoreViewsTest, FiltersByStateAndStage) {
  // upres (1-20) then grade reading its output: grade's tasks are blocked.
  const JobId job = Submit(JobYaml("1-20", 1,
                                   "  - name: grade\n    model: esrgan\n    after: [upres]\n"
                                   "    input: out/upres.####.exr\n"
                                   "    output: out/grade.####.exr\n    frames: \"1-20\"\n"));
  v1::ListTasksRequest request = Tasks(job, 7);
  request.set_state(v1::TASK_STATE_BLOCKED);
  auto [blocked, unused] = PageAll(request);
  ASSERT_THAT(blocked, SizeIs(20));
  EXPECT_EQ(blocked.front(), 20);

  request = Tasks(job);
  request.set_stage("upres");
  auto [upres, unused2] = PageAll(request);
  EXPECT_THAT(upres, SizeIs(20));
  EXPECT_EQ(upres.back(), 19);

  request.set_state(v1::TASK_STATE_BLOCKED);  // upres has none: no page at all
  absl::StatusOr<v1::ListTasksResponse> none = core_.ListTasks(request);
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(none->tasks(), IsEmpty());
  EXPECT_TRUE(none->next_page_token().empty());
}

TEST_F(CoreViewsTest, AFilteredCallLooksAtABoundedNumberOfTasksAndHandsBackAToken) {
  const int64_t upres = kMaxTasksScannedPerCall * 2 + 10;
  const JobId job = Submit(JobYaml(absl::StrCat("1-", upres), 1, LateStage("1-3")));
  v1::ListTasksRequest request = Tasks(job);
  request.set_stage("late");
  absl::StatusOr<v1::ListTasksResponse> first = core_.ListTasks(request);
  ASSERT_TRUE(first.ok());
  EXPECT_THAT(first->tasks(), IsEmpty());  // nothing in the first tasks looked at
  EXPECT_FALSE(first->next_page_token().empty());

  auto [late, calls] = PageAll(request);
  ASSERT_THAT(late, SizeIs(3));
  EXPECT_EQ(late.front(), upres);
  EXPECT_EQ(calls, 3);  // 2 x kMaxTasksScannedPerCall, then the rest
}

TEST_F(CoreViewsTest, APageStopsAtItsByteBudgetWhateverThePageSize) {
  // 10,000 frames per task: 100 tasks are well over kMaxPageBytes.
  const JobId job = Submit(JobYaml("1000001-2000000", 10'000));
  absl::StatusOr<v1::ListTasksResponse> page = core_.ListTasks(Tasks(job, 100));
  ASSERT_TRUE(page.ok());
  EXPECT_GT(page->tasks_size(), 0);
  EXPECT_LT(page->tasks_size(), 100);
  EXPECT_LE(page->ByteSizeLong(), kMaxPageBytes + 64 * 1024);
  auto [seen, calls] = PageAll(Tasks(job, 100));
  EXPECT_THAT(seen, SizeIs(100));
  EXPECT_GT(calls, 1);
}

TEST_F(CoreViewsTest, GetJobListsTasksOnlyForJobsWithinItsBound) {
  const JobId small = Submit(JobYaml(absl::StrCat("1-", kGetJobMaxTasks)));
  const JobId big = Submit(JobYaml(absl::StrCat("1-", kGetJobMaxTasks + 1)));
  v1::GetJobRequest request;
  request.set_job_id(small.value());
  request.set_include_tasks(true);
  absl::StatusOr<v1::GetJobResponse> ok = core_.GetJob(request);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_THAT(ok->tasks(), SizeIs(kGetJobMaxTasks));
  EXPECT_EQ(ok->job().spec().stages_size(), 1);  // the full view

  request.set_job_id(big.value());
  absl::StatusOr<v1::GetJobResponse> refused = core_.GetJob(request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(refused.status()), StartsWith("include_tasks: "));
  EXPECT_THAT(Msg(refused.status()), HasSubstr("ListTasks"));

  request.set_include_tasks(false);
  absl::StatusOr<v1::GetJobResponse> job_only = core_.GetJob(request);
  ASSERT_TRUE(job_only.ok());
  EXPECT_THAT(job_only->tasks(), IsEmpty());
  EXPECT_EQ(job_only->job().stages(0).tasks_total(), kGetJobMaxTasks + 1);
}

TEST_F(CoreViewsTest, ListJobsCarriesSummariesUnlessAskedForTheFullSpec) {
  const JobId job = Submit(
      JobYaml("1-4", 1, LateStage("1-2"), "shot: sh010\nlabels:\n  dept: comp\n  take: \"3\"\n"));
  v1::ListJobsRequest request;
  absl::StatusOr<v1::ListJobsResponse> list = core_.CheckedListJobs(request);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_THAT(list->jobs(), SizeIs(1));
  const v1::Job& summary = list->jobs(0);
  EXPECT_EQ(summary.id(), job.value());
  EXPECT_EQ(summary.spec().name(), "job");
  EXPECT_EQ(summary.spec().shot(), "sh010");
  EXPECT_THAT(summary.spec().labels(), IsEmpty());
  EXPECT_THAT(summary.spec().stages(), IsEmpty());
  ASSERT_THAT(summary.stages(), SizeIs(2));  // the counters stay
  EXPECT_EQ(summary.stages(0).name(), "upres");
  EXPECT_EQ(summary.stages(0).tasks_total(), 4);
  EXPECT_EQ(summary.stages(1).tasks_total(), 2);

  request.set_view(v1::JOB_VIEW_FULL);
  list = core_.CheckedListJobs(request);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->jobs(0).spec().labels().at("dept"), "comp");
  EXPECT_THAT(list->jobs(0).spec().stages(), SizeIs(2));
}

TEST_F(CoreViewsTest, ListJobsRefusesMalformedTokensStatesViewsAndPageSizes) {
  Submit(JobYaml("1"));
  Submit(JobYaml("1"));
  v1::ListJobsRequest request;
  request.set_page_size(1);
  absl::StatusOr<v1::ListJobsResponse> page = core_.CheckedListJobs(request);
  ASSERT_TRUE(page.ok());
  request.set_page_token(page->next_page_token());
  EXPECT_TRUE(core_.CheckedListJobs(request).ok());

  for (const std::string bad : {"x", "0", "02", "-1", "+2", "2 ", "1.5", "99999999999999999999"}) {
    request.set_page_token(bad);
    absl::StatusOr<v1::ListJobsResponse> refused = core_.CheckedListJobs(request);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(Msg(refused.status()), StartsWith("page_token: ")) << bad;
  }
  request = v1::ListJobsRequest{};
  request.set_state(static_cast<v1::JobState>(42));
  EXPECT_THAT(Msg(core_.CheckedListJobs(request).status()), StartsWith("state: "));
  request = v1::ListJobsRequest{};
  request.set_view(static_cast<v1::JobView>(9));
  EXPECT_THAT(Msg(core_.CheckedListJobs(request).status()), StartsWith("view: "));
  request = v1::ListJobsRequest{};
  request.set_page_size(-5);
  EXPECT_THAT(Msg(core_.CheckedListJobs(request).status()), StartsWith("page_size: "));
  // The unchecked form answers an empty page.
  EXPECT_THAT(core_.ListJobs(request).jobs(), IsEmpty());
}

}  // namespace
}  // namespace genfarm::scheduler
