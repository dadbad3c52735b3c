// Helpers shared by the store tests: a scoped temporary directory, record factories with every
// field set to a non-default value, and field-by-field comparisons that name the differing
// field.
#ifndef GENFARM_TESTS_SCHEDULER_STORE_STORE_TEST_UTIL_H_
#define GENFARM_TESTS_SCHEDULER_STORE_STORE_TEST_UTIL_H_

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "scheduler/store/job_store.h"

namespace genfarm::scheduler::testing {

// A fresh directory under the test temp dir, removed with everything in it on destruction.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string pattern = (std::filesystem::path(::testing::TempDir()) / "genfarm-store-XXXXXX");
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    char* made = mkdtemp(buffer.data());
    EXPECT_NE(made, nullptr) << "mkdtemp " << pattern;
    path_ = made != nullptr ? made : pattern;
  }
  ~ScopedTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline JobRecord MakeJob(int64_t id, std::string idempotency_key = "") {
  JobRecord job;
  job.id = JobId(id);
  job.idempotency_key = std::move(idempotency_key);
  v1::JobSpec& spec = job.spec;
  spec.set_name(absl::StrCat("sh010_upres_", id));
  spec.set_project("feature_x");
  spec.set_shot("sh010");
  spec.set_priority(70);
  spec.set_tier(v1::TIER_DAILIES);
  spec.set_submitter("td@studio");
  (*spec.mutable_labels())["dept"] = "comp";
  spec.add_depends_on_jobs(id - 1);
  v1::StageSpec* stage = spec.add_stages();
  stage->set_name("upres");
  stage->set_kind(v1::STAGE_KIND_MODEL);
  stage->set_model("upscalerjs_default");
  (*stage->mutable_params())["factor"] = "2";
  stage->set_input("/shots/sh010/plate.%04d.exr");
  stage->set_output("/shots/sh010/upres.####.exr");
  stage->set_frames("1001-1240");
  stage->set_chunk(8);
  stage->set_retries(2);
  stage->set_seed(1234);
  stage->add_tags("gpu");
  job.state = v1::JOB_STATE_ACTIVE;
  job.submit_ms = 1'800'000'000'000 + id;
  job.start_ms = 1'800'000'001'000 + id;
  job.end_ms = 1'800'000'002'000 + id;
  job.message = absl::StrCat("job ", id, " message \xE2\x9C\x93");  // UTF-8 survives
  return job;
}

inline TaskRecord MakeTask(int64_t job, int32_t index) {
  TaskRecord task;
  task.id = TaskId{JobId(job), index};
  task.stage = 1;
  for (int64_t f = 1001 + 8 * index; f < 1009 + 8 * index; ++f) task.frames.push_back(f);
  task.state = v1::TASK_STATE_RUNNING;
  task.attempts = 2;
  task.attempt = AttemptId(5000 + index);
  task.worker = absl::StrCat("gpu-node-", index % 7);
  task.start_ms = 1'800'000'003'000 + index;
  task.end_ms = 1'800'000'004'000 + index;
  task.not_before_ms = 1'800'000'005'000 + index;
  task.failure_reason = v1::FAILURE_REASON_OUT_OF_MEMORY;
  task.message = absl::StrCat("CUDA out of memory on task ", index);
  task.frames_done = 3;
  return task;
}

inline LogRecord MakeLog(int64_t job, int32_t index, int64_t attempt, int64_t time_ms,
                         std::string text) {
  return LogRecord{TaskId{JobId(job), index}, AttemptId(attempt), time_ms, std::move(text)};
}

// A catalog entry with every ModelInfo field set, including those the catalog does not keep.
inline ModelRecord MakeModel(const std::string& name, const std::string& version,
                             int64_t updated_ms) {
  ModelRecord rec;
  rec.model.set_name(name);
  rec.model.set_version(version);
  rec.model.set_sha256(absl::StrCat("sha-", name, "-", version));
  rec.model.set_kind("interpolate");
  rec.model.set_scale(4);  // not kept
  rec.model.set_window_before(2);
  rec.model.set_window_after(3);
  rec.model.set_memory_bytes(int64_t{1} << 30);  // not kept
  rec.model.set_loaded(true);                    // not kept
  rec.updated_ms = updated_ms;
  return rec;
}

// Commits two catalog entries, then a newer version of one; the catalog holds one entry per
// name, the newest, ordered by name, with only the catalog's fields.
inline void CommitModelCatalog(JobStore& store) {
  WriteBatch batch;
  batch.models = {MakeModel("rife", "4.6", 100), MakeModel("esrgan", "1", 200)};
  ASSERT_TRUE(store.Commit(batch).ok());
  WriteBatch update;
  update.models = {MakeModel("rife", "4.7", 300)};
  ASSERT_TRUE(store.Commit(update).ok());
}

inline void ExpectModelCatalog(const StoreSnapshot& snapshot) {
  ASSERT_THAT(snapshot.models, ::testing::SizeIs(2));
  const ModelRecord& esrgan = snapshot.models[0];
  const ModelRecord& rife = snapshot.models[1];
  EXPECT_EQ(esrgan.model.name(), "esrgan");
  EXPECT_EQ(esrgan.updated_ms, 200);
  EXPECT_EQ(rife.model.name(), "rife");
  EXPECT_EQ(rife.model.version(), "4.7");
  EXPECT_EQ(rife.model.sha256(), "sha-rife-4.7");
  EXPECT_EQ(rife.model.kind(), "interpolate");
  EXPECT_EQ(rife.model.window_before(), 2);
  EXPECT_EQ(rife.model.window_after(), 3);
  EXPECT_EQ(rife.updated_ms, 300);
  EXPECT_EQ(rife.model.scale(), 0);
  EXPECT_EQ(rife.model.memory_bytes(), 0);
  EXPECT_FALSE(rife.model.loaded());
}

inline void ExpectJobEq(const JobRecord& actual, const JobRecord& expected) {
  SCOPED_TRACE(absl::StrCat("job ", expected.id.value()));
  EXPECT_EQ(actual.id, expected.id);
  EXPECT_EQ(actual.idempotency_key, expected.idempotency_key);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(actual.spec, expected.spec))
      << "spec: " << actual.spec.DebugString() << " vs " << expected.spec.DebugString();
  EXPECT_EQ(actual.state, expected.state);
  EXPECT_EQ(actual.submit_ms, expected.submit_ms);
  EXPECT_EQ(actual.start_ms, expected.start_ms);
  EXPECT_EQ(actual.end_ms, expected.end_ms);
  EXPECT_EQ(actual.message, expected.message);
}

inline void ExpectTaskEq(const TaskRecord& actual, const TaskRecord& expected) {
  SCOPED_TRACE(absl::StrCat("task ", expected.id.ToString()));
  EXPECT_EQ(actual.id, expected.id);
  EXPECT_EQ(actual.stage, expected.stage);
  EXPECT_EQ(actual.frames, expected.frames);
  EXPECT_EQ(actual.state, expected.state);
  EXPECT_EQ(actual.attempts, expected.attempts);
  EXPECT_EQ(actual.attempt, expected.attempt);
  EXPECT_EQ(actual.worker, expected.worker);
  EXPECT_EQ(actual.start_ms, expected.start_ms);
  EXPECT_EQ(actual.end_ms, expected.end_ms);
  EXPECT_EQ(actual.not_before_ms, expected.not_before_ms);
  EXPECT_EQ(actual.failure_reason, expected.failure_reason);
  EXPECT_EQ(actual.message, expected.message);
  EXPECT_EQ(actual.frames_done, expected.frames_done);
}

inline void ExpectLogEq(const LogRecord& actual, const LogRecord& expected) {
  EXPECT_EQ(actual.task, expected.task);
  EXPECT_EQ(actual.attempt, expected.attempt);
  EXPECT_EQ(actual.time_ms, expected.time_ms);
  EXPECT_EQ(actual.text, expected.text);
}

inline std::vector<std::string> LogTexts(const std::vector<LogRecord>& logs) {
  std::vector<std::string> texts;
  for (const LogRecord& log : logs) texts.push_back(log.text);
  return texts;
}

}  // namespace genfarm::scheduler::testing

#endif  // GENFARM_TESTS_SCHEDULER_STORE_STORE_TEST_UTIL_H_
