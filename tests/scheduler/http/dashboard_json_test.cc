#include "scheduler/http/dashboard_json.h"

#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;

v1::Job MakeJob() {
  v1::Job job;
  job.set_id(7);
  job.set_state(v1::JOB_STATE_ACTIVE);
  job.set_submit_time_ms(1000);
  job.set_start_time_ms(2000);
  v1::JobSpec* spec = job.mutable_spec();
  spec->set_name("sh010_upres");
  spec->set_project("feature_x");
  spec->set_shot("sh010");
  spec->set_priority(60);
  (*spec->mutable_labels())["dept"] = "comp";
  v1::StageSpec* upres = spec->add_stages();
  upres->set_name("upres");
  upres->set_model("esrgan-slim-x2");
  upres->set_output("/out/up.####.exr");
  upres->set_frames("1-12");
  upres->set_chunk(2);
  v1::StageSpec* dailies = spec->add_stages();
  dailies->set_name("dailies");
  dailies->set_kind(v1::STAGE_KIND_DAILIES);
  dailies->set_output("/out/dailies/sh010");
  v1::StageStatus* s0 = job.add_stages();
  s0->set_name("upres");
  s0->set_frames_total(12);
  s0->set_frames_done(5);
  s0->set_tasks_total(6);
  (*s0->mutable_tasks_by_state())["succeeded"] = 2;
  (*s0->mutable_tasks_by_state())["running"] = 1;
  (*s0->mutable_tasks_by_state())["queued"] = 3;
  v1::StageStatus* s1 = job.add_stages();
  s1->set_name("dailies");
  s1->set_frames_total(1);
  s1->set_tasks_total(1);
  return job;
}

v1::Task MakeTask(int index, std::vector<int64_t> frames, v1::TaskState state, int64_t end_ms = 0,
                  int64_t frames_done = 0) {
  v1::Task t;
  t.set_job_id(7);
  t.set_index(index);
  t.set_stage("upres");
  for (int64_t f : frames) t.add_frames(f);
  t.set_state(state);
  t.set_end_time_ms(end_ms);
  t.set_frames_done(frames_done);
  return t;
}

// Frame lists and enum names come from FrameSet::Format and common/enum_names.h (their
// tests: frame_set_test, enum_names_test, where the former CompactFrames and name cases
// moved); the dashboard's own convention is "" for an unset failure reason.
TEST(TaskJsonTest, FramesStateAndReasonInTheSharedSpelling) {
  v1::Task task;
  for (int64_t f : {1, 2, 3, 5, 7, 9}) task.add_frames(f);
  task.set_state(v1::TASK_STATE_RUNNING);
  nlohmann::json json = TaskJson(task);
  EXPECT_EQ(json["frames"], "1-3,5-9x2");
  EXPECT_EQ(json["state"], "running");
  EXPECT_EQ(json["failure_reason"], "");
  task.set_state(v1::TASK_STATE_FAILED);
  task.set_failure_reason(v1::FAILURE_REASON_INPUT_MISSING);
  json = TaskJson(task);
  EXPECT_EQ(json["state"], "failed");
  EXPECT_EQ(json["failure_reason"], "input_missing");
}

TEST(JobJsonTest, CarriesPerStageProgressAndTotals) {
  v1::ListJobsResponse list;
  *list.add_jobs() = MakeJob();
  nlohmann::json doc = JobListJson(list, 5000);
  EXPECT_EQ(doc["server_time_ms"], 5000);
  ASSERT_EQ(doc["jobs"].size(), 1u);
  const nlohmann::json& job = doc["jobs"][0];
  EXPECT_EQ(job["id"], 7);
  EXPECT_EQ(job["name"], "sh010_upres");
  EXPECT_EQ(job["project"], "feature_x");
  EXPECT_EQ(job["shot"], "sh010");
  EXPECT_EQ(job["tier"], "batch");
  EXPECT_EQ(job["priority"], 60);
  EXPECT_EQ(job["state"], "active");
  EXPECT_EQ(job["start_time_ms"], 2000);
  EXPECT_EQ(job["frames_done"], 5);
  EXPECT_EQ(job["frames_total"], 13);
  ASSERT_EQ(job["stages"].size(), 2u);
  EXPECT_EQ(job["stages"][0]["name"], "upres");
  EXPECT_EQ(job["stages"][0]["model"], "esrgan-slim-x2");
  EXPECT_EQ(job["stages"][0]["kind"], "model");
  EXPECT_EQ(job["stages"][0]["frames_done"], 5);
  EXPECT_EQ(job["stages"][0]["frames_total"], 12);
  EXPECT_EQ(job["stages"][0]["tasks_by_state"]["running"], 1);
  EXPECT_EQ(job["stages"][0]["tasks_by_state"]["queued"], 3);
  EXPECT_EQ(job["stages"][1]["kind"], "dailies");
}

TEST(JobDetailJsonTest, ListsOnePageOfTasksWithCountsAndTheNextToken) {
  v1::Task failed = MakeTask(1, {3, 4}, v1::TASK_STATE_FAILED);
  failed.set_attempts(3);
  failed.set_worker("w1");
  failed.set_failure_reason(v1::FAILURE_REASON_INPUT_MISSING);
  failed.set_message("frame 3: input file /in/p.0003.exr not found");
  std::vector<v1::Task> page = {MakeTask(0, {1, 2}, v1::TASK_STATE_SUCCEEDED, 3000), failed};
  nlohmann::json doc = JobDetailJson(MakeJob(), page, "7:2", v1::ListTasksRequest{}, 9000);
  EXPECT_EQ(doc["job"]["labels"]["dept"], "comp");
  EXPECT_EQ(doc["job"]["stages"][0]["output"], "/out/up.####.exr");
  EXPECT_EQ(doc["job"]["stages"][0]["chunk"], 2);
  EXPECT_EQ(doc["tasks_total"], 7);     // every stage's tasks, from the counters
  EXPECT_EQ(doc["tasks_matching"], 7);  // no filter
  EXPECT_EQ(doc["next_page_token"], "7:2");
  EXPECT_EQ(doc["tasks_truncated"], true);
  ASSERT_EQ(doc["tasks"].size(), 2u);
  const nlohmann::json& t = doc["tasks"][1];
  EXPECT_EQ(t["index"], 1);
  EXPECT_EQ(t["frames"], "3-4");
  EXPECT_EQ(t["state"], "failed");
  EXPECT_EQ(t["attempts"], 3);
  EXPECT_EQ(t["worker"], "w1");
  EXPECT_EQ(t["failure_reason"], "input_missing");
  EXPECT_EQ(t["message"], "frame 3: input file /in/p.0003.exr not found");
}

TEST(JobDetailJsonTest, CountsWhatTheFilterMatchesAndSaysWhenThePagesEnd) {
  v1::ListTasksRequest filter;
  filter.set_state(v1::TASK_STATE_QUEUED);
  filter.set_stage("upres");
  nlohmann::json doc =
      JobDetailJson(MakeJob(), {MakeTask(2, {5, 6}, v1::TASK_STATE_QUEUED)}, "", filter, 9000);
  EXPECT_EQ(doc["tasks_total"], 7);
  EXPECT_EQ(doc["tasks_matching"], 3);
  EXPECT_EQ(doc["task_filter"]["state"], "queued");
  EXPECT_EQ(doc["task_filter"]["stage"], "upres");
  EXPECT_EQ(doc["next_page_token"], "");
  EXPECT_EQ(doc["tasks_truncated"], false);
  filter.set_stage("dailies");
  EXPECT_EQ(JobDetailJson(MakeJob(), {}, "", filter, 9000)["tasks_matching"], 0);
}

TEST(WorkersJsonTest, ShowsDevicesSlotsLoadedModelsAndDrain) {
  v1::Worker w;
  w.set_id("w1");
  w.set_hostname("gpu01");
  w.set_state(v1::WORKER_STATE_DRAINING);
  w.set_slots(2);
  w.set_busy_slots(1);
  w.add_running("7/3");
  w.set_last_seen_ms(4000);
  v1::Device* d = w.add_devices();
  d->set_name("cpu");
  d->set_kind("cpu");
  d->set_memory_total_bytes(8LL << 30);
  d->set_memory_used_bytes(1LL << 30);
  v1::ModelInfo* warm = w.add_models();
  warm->set_name("esrgan-slim-x2");
  warm->set_loaded(true);
  w.add_models()->set_name("rife-v4.6");
  nlohmann::json doc = WorkersJson({w}, 5000);
  const nlohmann::json& j = doc["workers"][0];
  EXPECT_EQ(j["state"], "draining");
  EXPECT_EQ(j["draining"], true);
  EXPECT_EQ(j["busy_slots"], 1);
  EXPECT_EQ(j["slots"], 2);
  EXPECT_EQ(j["running"], nlohmann::json::array({"7/3"}));
  EXPECT_EQ(j["devices"][0]["memory_total_bytes"], 8LL << 30);
  EXPECT_EQ(j["loaded_models"], nlohmann::json::array({"esrgan-slim-x2"}));
  EXPECT_EQ(j["models"].size(), 2u);
  EXPECT_EQ(j["last_seen_ms"], 4000);
}

TEST(FarmJsonTest, CopiesStats) {
  v1::FarmStats stats;
  stats.set_workers_online(3);
  stats.set_slots_total(6);
  stats.set_slots_busy(4);
  (*stats.mutable_jobs_by_state())["active"] = 2;
  stats.set_frames_done_total(120);
  nlohmann::json doc = FarmJson(stats, 1);
  EXPECT_EQ(doc["workers_online"], 3);
  EXPECT_EQ(doc["slots_busy"], 4);
  EXPECT_EQ(doc["jobs_by_state"]["active"], 2);
  EXPECT_EQ(doc["frames_done_total"], 120);
}

TEST(ThumbnailsJsonTest, GroupsByModelStageWithThumbnailUrls) {
  FinishedFrame f;
  f.stage = "upres";
  f.frame = 4;
  f.task = 1;
  f.end_time_ms = 4000;
  f.version = 5000;
  nlohmann::json doc = ThumbnailsJson(MakeJob(), {f});
  EXPECT_EQ(doc["job_id"], 7);
  ASSERT_EQ(doc["stages"].size(), 1u);  // the dailies stage writes no frames
  EXPECT_EQ(doc["stages"][0]["name"], "upres");
  EXPECT_EQ(doc["stages"][0]["frames"][0]["frame"], 4);
  EXPECT_EQ(doc["stages"][0]["frames"][0]["end_time_ms"], 4000);
  EXPECT_EQ(doc["stages"][0]["frames"][0]["url"],
            "/api/thumbnail?job=7&stage=upres&frame=4&v=5000");
}

TEST(ErrorJsonTest, HasErrorField) {
  EXPECT_EQ(ErrorJson("job 9 not found").dump(), R"({"error":"job 9 not found"})");
}

}  // namespace
}  // namespace genfarm::scheduler
