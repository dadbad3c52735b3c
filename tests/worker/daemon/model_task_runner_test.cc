// ModelTaskRunner with everything real but the model: a model repository folder with a fake
// TorchScript file, the real cache loading through a fake loader, the real frame pipeline
// over real EXR files in a temporary folder, and a pixel-replicating fake ModelRunner. No
// LibTorch. Touches the disk, hence label `integration`.
#include "worker/daemon/model_task_runner.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/lib/frame_test_util.h"
#include "worker/frames/frame_io.h"
#include "worker/runtime/model_loader.h"
#include "worker/runtime/sha256.h"

namespace genfarm::worker {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::FakeNearestRunner;
using testing_util::Ramp;
using testing_util::ScopedTempDir;

namespace fs = std::filesystem;

// A zip local-file header is all the repository scan checks; the fake loader never reads it.
const std::string kFakeArchive = std::string("PK\x03\x04", 4) + "fake torchscript payload";

// Loads in `load_time` of fake time; fails for models in `broken`.
class FakeLoader : public ModelLoader {
 public:
  explicit FakeLoader(FakeClock& clock) : clock_(clock) {}
  absl::StatusOr<std::unique_ptr<ModelRunner>> Load(const Manifest& m, const DeviceSpec&) override {
    clock_.Advance(load_time);
    absl::MutexLock lock(&mu_);
    ++loads_;
    if (broken.count(m.name)) return absl::InternalError(m.name + ": bad archive");
    return std::make_unique<FakeNearestRunner>(m.scale);
  }
  int loads() {
    absl::MutexLock lock(&mu_);
    return loads_;
  }
  absl::Duration load_time = absl::Seconds(3);
  std::set<std::string> broken;

 private:
  FakeClock& clock_;
  absl::Mutex mu_;
  int loads_ ABSL_GUARDED_BY(mu_) = 0;
};

class ModelTaskRunnerTest : public ::testing::Test {
 protected:
  ModelTaskRunnerTest() {
    AddModel("fake-x2");
    AddModel("broken-x2");
    loader_.broken.insert("broken-x2");
    EXPECT_TRUE(repository_.Scan().ok());
  }

  void AddModel(const std::string& name) {
    const fs::path folder = fs::path(dir_.File("models")) / name;
    fs::create_directories(folder);
    std::ofstream(folder / "model.pt", std::ios::binary) << kFakeArchive;
    nlohmann::json m = {{"name", name},        {"version", "1.0.0"},
                        {"file", "model.pt"},  {"sha256", Sha256Hex(kFakeArchive)},
                        {"kind", "upscale"},   {"scale", 2},
                        {"memory_bytes", 1000}};
    std::ofstream(folder / "manifest.json") << m.dump();
  }

  std::string In(int64_t f) const { return dir_.File(absl::StrFormat("in/plate.%04d.exr", f)); }
  std::string Out(int64_t f) const { return dir_.File(absl::StrFormat("out/up.%04d.exr", f)); }

  void WritePlates(int64_t first, int64_t last) {
    for (int64_t f = first; f <= last; ++f) {
      WriteOptions options;
      options.sample_type = SampleType::kFloat;
      ASSERT_TRUE(WriteFrame(In(f), Ramp(4, 3, float(f), 0.01f), options).ok());
    }
  }

  v1::Assignment Assignment(const std::string& model, std::vector<int64_t> frames) {
    v1::Assignment a;
    a.set_attempt_id(next_attempt_++);
    a.set_job_id(3);
    a.set_task_index(0);
    v1::StageSpec* stage = a.mutable_stage();
    stage->set_name("upres");
    stage->set_model(model);
    stage->set_input(dir_.File("in/plate.####.exr"));
    stage->set_output(dir_.File("out/up.####.exr"));
    for (int64_t f : frames) a.add_frames(f);
    return a;
  }

  // Runs `a` on the calling thread, collecting progress and log lines.
  TaskOutcome Run(const v1::Assignment& a, const CancelToken* cancel = nullptr) {
    CancelToken never;
    TaskContext context;
    context.assignment = &a;
    context.cancel = cancel != nullptr ? cancel : &never;
    context.progress = [this](int64_t done, int64_t last) {
      absl::MutexLock lock(&mu_);
      progress_.push_back(done);
      (void)last;
    };
    context.log = [this](const std::string& line) {
      absl::MutexLock lock(&mu_);
      logs_.push_back(line);
    };
    return runner_.Run(context);
  }
  std::vector<std::string> logs() {
    absl::MutexLock lock(&mu_);
    return logs_;
  }
  std::vector<int64_t> progress() {
    absl::MutexLock lock(&mu_);
    return progress_;
  }

  ScopedTempDir dir_;
  FakeClock clock_;
  FakeLoader loader_{clock_};
  ModelRepository repository_{dir_.File("models")};
  ModelCache cache_{loader_, clock_};
  ModelTaskRunner runner_{repository_, cache_, {CpuDevice(int64_t{64} << 30)}, clock_};
  int64_t next_attempt_ = 1;
  absl::Mutex mu_;
  std::vector<int64_t> progress_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> logs_ ABSL_GUARDED_BY(mu_);
};

TEST_F(ModelTaskRunnerTest, WritesEveryFrameOfTheTaskThroughTheModel) {
  WritePlates(1, 3);
  TaskOutcome outcome = Run(Assignment("fake-x2", {1, 2, 3}));
  ASSERT_TRUE(outcome.status.ok()) << outcome.status;
  EXPECT_THAT(outcome.frames_written, ElementsAre(1, 2, 3));
  for (int64_t f = 1; f <= 3; ++f) {
    absl::StatusOr<Frame> out = ReadFrame(Out(f), f);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->image.width, 8);  // the fake model doubles
    EXPECT_EQ(out->image.height, 6);
  }
  ASSERT_FALSE(progress().empty());
  EXPECT_EQ(progress().back(), 3);
  // Load and run times come from the injected clock: the fake load took 3 s.
  EXPECT_DOUBLE_EQ(outcome.load_seconds, 3.0);
  EXPECT_GE(outcome.run_seconds, 3.0);
}

TEST_F(ModelTaskRunnerTest, TheSecondTaskOfAModelFindsItWarm) {
  WritePlates(1, 2);
  ASSERT_TRUE(Run(Assignment("fake-x2", {1})).status.ok());
  ASSERT_TRUE(Run(Assignment("fake-x2", {2})).status.ok());
  EXPECT_EQ(loader_.loads(), 1);
  std::vector<std::string> lines = logs();
  ASSERT_GE(lines.size(), 2u);
  EXPECT_THAT(lines, Contains(HasSubstr("fake-x2 1.0.0 loaded on cpu:0 in 3.00 s (cache miss)")));
  EXPECT_THAT(lines, Contains(HasSubstr("fake-x2 1.0.0 warm on cpu:0 (cache hit)")));
}

TEST_F(ModelTaskRunnerTest, AModelTheWorkerDoesNotHaveIsModelUnavailable) {
  TaskOutcome outcome = Run(Assignment("esrgan-nope", {1}));
  EXPECT_EQ(outcome.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(outcome.status.message(), HasSubstr("model 'esrgan-nope' is not in this worker"));
  EXPECT_EQ(outcome.reason, v1::FAILURE_REASON_MODEL_UNAVAILABLE);
  EXPECT_EQ(loader_.loads(), 0);
}

TEST_F(ModelTaskRunnerTest, AModelThatFailsToLoadIsAModelError) {
  WritePlates(1, 1);
  TaskOutcome outcome = Run(Assignment("broken-x2", {1}));
  EXPECT_FALSE(outcome.status.ok());
  EXPECT_THAT(outcome.status.message(), HasSubstr("broken-x2: bad archive"));
  EXPECT_EQ(outcome.reason, v1::FAILURE_REASON_MODEL_ERROR);
}

TEST_F(ModelTaskRunnerTest, ABadOutputPatternIsABadSpec) {
  v1::Assignment a = Assignment("fake-x2", {1});
  a.mutable_stage()->set_output("");
  TaskOutcome outcome = Run(a);
  EXPECT_EQ(outcome.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(outcome.reason, v1::FAILURE_REASON_BAD_SPEC);
}

TEST_F(ModelTaskRunnerTest, AMissingInputFrameFailsNamingTheFile) {
  WritePlates(1, 1);  // frame 2 is missing
  TaskOutcome outcome = Run(Assignment("fake-x2", {1, 2}));
  EXPECT_EQ(outcome.status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(outcome.status.message(), HasSubstr("plate.0002.exr"));
  EXPECT_EQ(ReasonForStatus(outcome.status), v1::FAILURE_REASON_INPUT_MISSING);
}

TEST_F(ModelTaskRunnerTest, ACancelledTaskStopsWithoutWritingItsFrames) {
  WritePlates(1, 3);
  CancelToken cancel;
  cancel.Cancel();  // cancelled before the first frame
  TaskOutcome outcome = Run(Assignment("fake-x2", {1, 2, 3}), &cancel);
  EXPECT_EQ(outcome.status.code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(outcome.frames_written.empty());
  EXPECT_FALSE(fs::exists(Out(3)));
}

}  // namespace
}  // namespace genfarm::worker
