#include "scheduler/core/job_builder.h"

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/scheduler/core/fakes.h"

namespace genfarm::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kRetime[] = R"(name: retime
project: show
stages:
  - name: slomo
    model: rife
    input: in/plate.####.exr
    output: out/slomo.####.exr
    frames: "1-4"
)";

v1::JobSpec Spec(const char* yaml) {
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(yaml);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : v1::JobSpec{};
}

v1::ModelInfo Interpolator() {
  v1::ModelInfo rife = testing::Model("rife", testing::kGiB, 1, 2);
  rife.set_kind("interpolate");
  return rife;
}

TEST(PrepareJobTest, AModelNobodyAdvertisedLeavesTheJobWaitingUnplanned) {
  ModelCatalog catalog;
  absl::StatusOr<PreparedJob> prepared = PrepareJob(Spec(kRetime), catalog, 1000, JobId(1));
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  EXPECT_FALSE(prepared->planned());
  EXPECT_THAT(prepared->missing_models, ElementsAre("rife"));
  EXPECT_THAT(prepared->job.tasks, IsEmpty());
  EXPECT_FALSE(prepared->job.rec.planned);
  EXPECT_EQ(prepared->job.rec.state, v1::JOB_STATE_WAITING);
  EXPECT_THAT(prepared->job.rec.message, HasSubstr("waiting for model rife"));
  // Nothing was resolved into the spec: it is planned from the catalog later.
  EXPECT_FALSE(prepared->job.rec.spec.stages(0).params().contains("factor"));
}

TEST(PrepareJobTest, TheCatalogsFactsAreWrittenIntoTheSpec) {
  ModelCatalog catalog;
  catalog.Learn(Interpolator());
  absl::StatusOr<PreparedJob> prepared = PrepareJob(Spec(kRetime), catalog, 1000, JobId(1));
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  ASSERT_TRUE(prepared->planned());
  const v1::StageSpec& stage = prepared->job.rec.spec.stages(0);
  EXPECT_EQ(stage.params().at("factor"), "2");
  EXPECT_EQ(stage.window_before(), 1);
  EXPECT_EQ(stage.window_after(), 2);
  // The facts are in the spec: planning it again needs no catalog and gives the same tasks.
  absl::StatusOr<PreparedJob> again =
      PrepareJob(prepared->job.rec.spec, ModelCatalog{}, 1000, JobId(1));
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(again->planned());
  ASSERT_EQ(again->job.tasks.size(), prepared->job.tasks.size());
  for (size_t i = 0; i < again->job.tasks.size(); ++i) {
    EXPECT_EQ(again->job.tasks[i].rec.frames, prepared->job.tasks[i].rec.frames);
    EXPECT_EQ(again->job.tasks[i].deps, prepared->job.tasks[i].deps);
  }
}

TEST(PrepareJobTest, ASpecThatStatesItsFactsNeedsNoCatalog) {
  v1::JobSpec spec = Spec(kRetime);
  (*spec.mutable_stages(0)->mutable_params())["factor"] = "4";
  spec.mutable_stages(0)->set_window_after(1);
  absl::StatusOr<PreparedJob> prepared = PrepareJob(spec, ModelCatalog{}, 1000, JobId(1));
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  EXPECT_TRUE(prepared->planned());
  EXPECT_EQ(prepared->job.tasks.size(), 4u);
}

TEST(PrepareJobTest, BuildsWaitingTasksWithTheirDependenciesAndStoreRecords) {
  ModelCatalog catalog;
  catalog.Learn(testing::Model("esrgan"));
  absl::StatusOr<PreparedJob> prepared =
      PrepareJob(Spec(testing::kTwoStageYaml), catalog, 1000, JobId(1));
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  const LiveJob& job = prepared->job;
  ASSERT_EQ(job.tasks.size(), 6u);
  ASSERT_EQ(prepared->records.size(), 6u);
  EXPECT_EQ(job.stages[0].Count(v1::TASK_STATE_WAITING), 3);
  EXPECT_EQ(job.stages[1].Count(v1::TASK_STATE_WAITING), 3);
  EXPECT_EQ(job.stages[1].frames_total, 3);
  EXPECT_THAT(job.tasks[4].deps, ElementsAre(1));  // grade 1002 reads upres 1002
  EXPECT_THAT(job.tasks[1].dependents, ElementsAre(4));
  EXPECT_EQ(job.tasks[4].unmet_deps, 1);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(prepared->records[i].id.index, static_cast<int32_t>(i));
    EXPECT_EQ(prepared->records[i].frames, job.tasks[i].rec.frames);
    EXPECT_EQ(prepared->records[i].state, v1::TASK_STATE_WAITING);
  }
}

TEST(PrepareJobTest, MoreTasksThanTheLimitIsRefused) {
  ModelCatalog catalog;
  catalog.Learn(testing::Model("esrgan"));
  absl::StatusOr<PreparedJob> prepared =
      PrepareJob(Spec(testing::kTwoStageYaml), catalog, 5, JobId(1));
  EXPECT_EQ(prepared.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(prepared.status().message(), HasSubstr("more than the limit of 5"));
}

TEST(ModelCatalogTest, LearnSaysWhenThePlanningFactsChanged) {
  ModelCatalog catalog;
  EXPECT_TRUE(catalog.Learn(Interpolator()));
  EXPECT_FALSE(catalog.Learn(Interpolator()));
  v1::ModelInfo loaded = Interpolator();
  loaded.set_loaded(true);  // per-worker facts do not count
  loaded.set_memory_bytes(1);
  EXPECT_FALSE(catalog.Learn(loaded));
  v1::ModelInfo wider = Interpolator();
  wider.set_window_after(3);
  EXPECT_TRUE(catalog.Learn(wider));
  ASSERT_TRUE(catalog.Find("rife").has_value());
  EXPECT_EQ(catalog.Find("rife")->window.after, 3);
  EXPECT_EQ(catalog.Find("rife")->kind, "interpolate");
  EXPECT_FALSE(catalog.Find("esrgan").has_value());
  ASSERT_EQ(catalog.All().size(), 1u);
}

}  // namespace
}  // namespace genfarm::scheduler
