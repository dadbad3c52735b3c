#include "common/job_spec.h"

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/stage_params.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm {
namespace {

using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

// A valid two-stage job; tests break one thing at a time.
constexpr char kValid[] = R"(name: sh010_upres
project: feature_x
stages:
  - name: upres
    model: esrgan-slim-x2
    input: plates/sh010.####.exr
    output: out/upres/sh010.####.exr
    frames: 1001-1096
    chunk: 8
  - name: retime
    model: rife-v4.6
    input: out/upres/sh010.%04d.exr
    output: out/retime/sh010.####.exr
    frames: 1001-1096
)";

v1::JobSpec MustParse(const std::string& yaml, const JobSpecOptions& options = {}) {
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(yaml, options);
  EXPECT_TRUE(spec.ok()) << spec.status() << "\n" << yaml;
  return spec.ok() ? *spec : v1::JobSpec();
}

std::string ErrorOf(const std::string& yaml) {
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(yaml);
  EXPECT_FALSE(spec.ok()) << "parsed:\n" << yaml;
  if (spec.ok()) return "";
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << spec.status();
  return std::string(spec.status().message());
}

// kValid with `from` replaced by `to` (which must occur).
std::string Edit(const std::string& from, const std::string& to) {
  std::string yaml = kValid;
  EXPECT_THAT(yaml, HasSubstr(from));
  return absl::StrReplaceAll(yaml, {{from, to}});
}

TEST(JobSpecTest, ValidSpecWithDefaults) {
  v1::JobSpec spec = MustParse(kValid);
  EXPECT_EQ(spec.name(), "sh010_upres");
  EXPECT_EQ(spec.project(), "feature_x");
  EXPECT_EQ(spec.priority(), 50);
  EXPECT_EQ(spec.tier(), v1::TIER_BATCH);
  ASSERT_EQ(spec.stages_size(), 2);
  const v1::StageSpec& upres = spec.stages(0);
  EXPECT_EQ(upres.kind(), v1::STAGE_KIND_MODEL);
  EXPECT_EQ(upres.chunk(), 8);
  EXPECT_EQ(upres.retries(), 2);
  EXPECT_EQ(upres.timeout_seconds(), 0);
  EXPECT_EQ(upres.gpus(), 0);
  EXPECT_EQ(upres.frames(), "1001-1096");
  EXPECT_EQ(spec.stages(1).chunk(), 1);
}

TEST(JobSpecTest, AllFields) {
  v1::JobSpec spec = MustParse(R"(
name: all.fields-1
project: p
shot: sh010
priority: 90
tier: interactive
submitter: jdoe
labels: {dept: comp, pass: beauty}
depends_on_jobs: [12, 13]
stages:
  - name: a
    kind: model
    model: m
    input: /abs/in.####.exr
    output: /abs/out.%04d.exr
    frames: 1-10x2
    chunk: 3
    retries: 0
    timeout: 1h
    gpus: 1
    vram: 4GiB
    tags: [gpu, a100]
    seed: -7
    params: {factor: 2}
    window: {before: 2, after: 1}
  - name: b
    kind: dailies
    input: /abs/out.####.exr
    output: /abs/dailies/sh010
    frames: 1-10x2
    after: [a]
    vram: 512MiB
    timeout: 90
    params: {fps: 12, columns: 4}
)");
  EXPECT_EQ(spec.shot(), "sh010");
  EXPECT_EQ(spec.priority(), 90);
  EXPECT_EQ(spec.tier(), v1::TIER_INTERACTIVE);
  EXPECT_EQ(spec.submitter(), "jdoe");
  EXPECT_THAT(spec.labels(), UnorderedElementsAre(Pair("dept", "comp"), Pair("pass", "beauty")));
  EXPECT_THAT(spec.depends_on_jobs(), ElementsAre(12, 13));
  const v1::StageSpec& a = spec.stages(0);
  EXPECT_EQ(a.retries(), 0);
  EXPECT_EQ(a.timeout_seconds(), 3600);
  EXPECT_EQ(a.gpus(), 1);
  EXPECT_EQ(a.vram_bytes(), int64_t{4} << 30);
  EXPECT_THAT(a.tags(), ElementsAre("gpu", "a100"));
  EXPECT_EQ(a.seed(), -7);
  EXPECT_THAT(a.params(), UnorderedElementsAre(Pair("factor", "2")));  // kept as written
  EXPECT_EQ(a.window_before(), 2);
  EXPECT_EQ(a.window_after(), 1);
  const v1::StageSpec& b = spec.stages(1);
  EXPECT_EQ(b.kind(), v1::STAGE_KIND_DAILIES);
  EXPECT_THAT(b.after(), ElementsAre("a"));  // explicit and implicit: listed once
  EXPECT_EQ(b.vram_bytes(), 512 << 20);
  EXPECT_EQ(b.timeout_seconds(), 90);
  EXPECT_THAT(b.params(), UnorderedElementsAre(Pair("fps", "12"), Pair("columns", "4")));
}

TEST(JobSpecTest, VramSizes) {
  auto vram = [](const std::string& text) {
    return MustParse(Edit("    chunk: 8\n", "    chunk: 8\n    vram: " + text + "\n"))
        .stages(0)
        .vram_bytes();
  };
  EXPECT_EQ(vram("1048576"), 1048576);
  EXPECT_EQ(vram("1KiB"), 1024);
  EXPECT_EQ(vram("1.5GiB"), int64_t{3} << 29);
  EXPECT_EQ(vram("2 GB"), 2'000'000'000);
  EXPECT_EQ(vram("300MB"), 300'000'000);
  EXPECT_THAT(ErrorOf(Edit("    chunk: 8\n", "    chunk: 8\n    vram: 4 gigs\n")),
              HasSubstr("stages[0].vram: '4 gigs' is not a size"));
}

TEST(JobSpecTest, ImplicitDependencyFromInputMatchingEarlierOutput) {
  // retime reads upres's output (%04d vs ####: the same files) and so waits for it.
  v1::JobSpec spec = MustParse(kValid);
  EXPECT_THAT(spec.stages(0).after(), IsEmpty());
  EXPECT_THAT(spec.stages(1).after(), ElementsAre("upres"));
}

TEST(JobSpecTest, RelativePathsResolveAgainstBaseDir) {
  JobSpecOptions options;
  options.base_dir = "/shows/fx/sh010";
  v1::JobSpec spec = MustParse(Edit("input: plates/", "input: ../plates/"), options);
  EXPECT_EQ(spec.stages(0).input(), "/shows/fx/plates/sh010.####.exr");
  EXPECT_EQ(spec.stages(0).output(), "/shows/fx/sh010/out/upres/sh010.####.exr");
  EXPECT_THAT(spec.stages(1).after(), ElementsAre("upres"));
  // Absolute paths stay as written.
  spec = MustParse(Edit("input: plates/", "input: /mnt/plates/"), options);
  EXPECT_EQ(spec.stages(0).input(), "/mnt/plates/sh010.####.exr");
}

TEST(JobSpecTest, MalformedYamlNamesLineAndColumn) {
  std::string error = ErrorOf("name: a\nproject: [unclosed\nstages: []\n");
  EXPECT_THAT(error, StartsWith("line "));
  EXPECT_THAT(error, HasSubstr(", column "));
  EXPECT_THAT(ErrorOf("name: a\n  bad: indent\n"), StartsWith("line 2, column"));
}

TEST(JobSpecTest, EmptyDocumentAndWrongTopLevelShape) {
  EXPECT_EQ(ErrorOf(""), "empty job spec");
  EXPECT_THAT(ErrorOf("- a\n- b\n"), HasSubstr("top level: must be a mapping"));
}

TEST(JobSpecTest, UnknownTopLevelFieldIsNamedWithHint) {
  std::string error = ErrorOf(Edit("name: sh010_upres", "nmae: sh010_upres"));
  EXPECT_THAT(error, HasSubstr("unknown field 'nmae' at top level (did you mean 'name'?)"));
  EXPECT_THAT(error, HasSubstr("(line 1)"));
}

TEST(JobSpecTest, UnknownStageFieldIsNamedWithPath) {
  std::string error = ErrorOf(Edit("    chunk: 8", "    chunck: 8"));
  EXPECT_THAT(error, HasSubstr("stages[0]: unknown field 'chunck' (did you mean 'chunk'?)"));
  EXPECT_THAT(error, HasSubstr("(line 9)"));
  EXPECT_THAT(ErrorOf(Edit("    chunk: 8", "    window: {afer: 1}")),
              HasSubstr("stages[0].window: unknown field 'afer'"));
}

TEST(JobSpecTest, DuplicateFieldIsAnError) {
  EXPECT_THAT(ErrorOf(Edit("    chunk: 8", "    chunk: 8\n    chunk: 4")),
              HasSubstr("stages[0]: field 'chunk' given twice"));
}

TEST(JobSpecTest, MissingRequiredFields) {
  EXPECT_THAT(ErrorOf(Edit("name: sh010_upres\n", "")), StartsWith("name: required"));
  EXPECT_THAT(ErrorOf(Edit("project: feature_x\n", "")), StartsWith("project: required"));
  EXPECT_THAT(ErrorOf(Edit("  - name: upres\n    model", "  - model")),
              StartsWith("stages[0].name: required"));
  EXPECT_THAT(ErrorOf(Edit("    model: rife-v4.6\n", "")),
              StartsWith("stages[1].model: required for a model stage"));
  EXPECT_THAT(ErrorOf(Edit("    input: plates/sh010.####.exr\n", "")),
              StartsWith("stages[0].input: required"));
  EXPECT_THAT(ErrorOf(Edit("    output: out/retime/sh010.####.exr\n", "")),
              StartsWith("stages[1].output: required"));
  EXPECT_THAT(ErrorOf(Edit("    frames: 1001-1096\n    chunk: 8\n", "    chunk: 8\n")),
              StartsWith("stages[0].frames: required"));
}

TEST(JobSpecTest, JobWithoutStages) {
  EXPECT_THAT(ErrorOf("name: a\nproject: b\n"), StartsWith("stages: a job needs at least one"));
  EXPECT_THAT(ErrorOf("name: a\nproject: b\nstages: []\n"),
              StartsWith("stages: a job needs at least one"));
}

TEST(JobSpecTest, BadNames) {
  EXPECT_THAT(ErrorOf(Edit("name: sh010_upres", "name: sh010 upres")),
              StartsWith("name: 'sh010 upres' may only contain"));
  EXPECT_THAT(ErrorOf(Edit("name: sh010_upres", "name: " + std::string(129, 'a'))),
              StartsWith("name: must be at most 128 characters, got 129"));
  EXPECT_THAT(ErrorOf(Edit("  - name: retime", "  - name: re/time")),
              StartsWith("stages[1].name: 're/time' may only contain"));
}

TEST(JobSpecTest, IntegerRangesNameTheField) {
  EXPECT_THAT(ErrorOf(Edit("    chunk: 8", "    chunk: 0")),
              StartsWith("stages[0].chunk: must be between 1 and 10000, got 0"));
  EXPECT_THAT(ErrorOf(Edit("    chunk: 8", "    chunk: 99999999999")),
              StartsWith("stages[0].chunk: must be between 1 and 10000, got 99999999999"));
  EXPECT_THAT(ErrorOf(Edit("    chunk: 8", "    retries: 101")),
              StartsWith("stages[0].retries: must be between 0 and 100, got 101"));
  EXPECT_THAT(ErrorOf(Edit("project: feature_x", "project: feature_x\npriority: 101")),
              StartsWith("priority: must be between 0 and 100, got 101"));
  EXPECT_THAT(ErrorOf(Edit("    chunk: 8", "    gpus: -1")),
              StartsWith("stages[0].gpus: must be between 0 and 64, got -1"));
  EXPECT_THAT(ErrorOf(Edit("    chunk: 8", "    window: {before: 100}")),
              StartsWith("stages[0].window.before: must be between 0 and 64, got 100"));
  EXPECT_THAT(ErrorOf(Edit("    chunk: 8", "    timeout: 30d")),
              StartsWith("stages[0].timeout: must be seconds or a duration"));
}

TEST(JobSpecTest, WrongYamlTypesNameTheField) {
  EXPECT_THAT(ErrorOf(Edit("    chunk: 8", "    chunk: eight")),
              StartsWith("stages[0].chunk: must be an integer, got 'eight'"));
  EXPECT_THAT(ErrorOf(Edit("    chunk: 8", "    chunk: [8]")),
              StartsWith("stages[0].chunk: must be an integer, got a list"));
  EXPECT_THAT(ErrorOf(Edit("name: sh010_upres", "name: {a: b}")),
              StartsWith("name: must be a string, got a mapping"));
  EXPECT_THAT(ErrorOf(Edit("    chunk: 8", "    tags: gpu")),
              StartsWith("stages[0].tags: must be a list of strings"));
  EXPECT_THAT(ErrorOf(Edit("    chunk: 8", "    params: {factor: [2]}")),
              StartsWith("stages[0].params.factor: must be a single value, got a list"));
  EXPECT_THAT(ErrorOf(Edit("    chunk: 8", "    seed: 1.5")),
              StartsWith("stages[0].seed: must be an integer"));
  EXPECT_THAT(ErrorOf("name: a\nproject: b\nstages: {upres: {}}\n"),
              StartsWith("stages: must be a list of stages, got a mapping"));
  EXPECT_THAT(ErrorOf("name: a\nproject: b\nstages: [upres]\n"),
              StartsWith("stages[0]: must be a mapping of fields, got 'upres'"));
  EXPECT_THAT(ErrorOf("name: a\nproject: b\ndepends_on_jobs: [x]\nstages: []\n"),
              StartsWith("depends_on_jobs[0]: must be an integer, got 'x'"));
}

TEST(JobSpecTest, EnumsListTheChoices) {
  EXPECT_THAT(ErrorOf(Edit("project: feature_x", "project: feature_x\ntier: urgent")),
              StartsWith("tier: must be one of batch, dailies, interactive; got 'urgent'"));
  EXPECT_THAT(ErrorOf(Edit("    chunk: 8", "    kind: daily")),
              StartsWith("stages[0].kind: must be one of model, dailies; got 'daily'"));
}

// Params are typed by stage kind and checked before anything is planned from them
// (stage_params_test has every class for each type; these pin the validator's wiring).
TEST(JobSpecTest, RetimeFactorIsBoundedBeforePlanning) {
  // The issue's two requests: one aborted the scheduler, one held its core for 8 s.
  for (const char* factor : {"2147483647", "20000000", "17", "1", "0", "-2"}) {
    std::string yaml = std::string(kValid) + "    params: {factor: " + factor + "}\n";
    EXPECT_THAT(ErrorOf(yaml),
                StartsWith(absl::StrCat("stages[1].params.factor: must be an integer in [2, 16], "
                                        "got ",
                                        factor)));
  }
  EXPECT_THAT(ErrorOf(std::string(kValid) + "    params: {factor: two}\n"),
              StartsWith("stages[1].params.factor: must be an integer in [2, 16], got 'two'"));
  EXPECT_THAT(ErrorOf(std::string(kValid) + "    params: {factor: 2.5}\n"),
              StartsWith("stages[1].params.factor: must be an integer in [2, 16], got '2.5'"));
  const v1::JobSpec spec = MustParse(std::string(kValid) + "    params: {factor: 16}\n");
  EXPECT_EQ(spec.stages(1).params().at("factor"), "16");
}

TEST(JobSpecTest, UnknownParamsAreRefusedNamingTheKey) {
  EXPECT_THAT(ErrorOf(std::string(kValid) + "    params: {factr: 2}\n"),
              StartsWith("stages[1].params.factr: unknown parameter for a model stage (it takes: "
                         "factor)"));
  EXPECT_THAT(ErrorOf(std::string(kValid) + "    params: {factr: 2}\n"), EndsWith("(line 15)"));
  const std::string dailies = R"(  - name: dailies
    kind: dailies
    input: out/retime/sh010.####.exr
    output: out/dailies/sh010
    frames: 1001-1096
)";
  EXPECT_THAT(ErrorOf(std::string(kValid) + dailies + "    params: {factor: 2}\n"),
              StartsWith("stages[2].params.factor: unknown parameter for a dailies stage (it "
                         "takes: columns, fps)"));
  EXPECT_THAT(ErrorOf(std::string(kValid) + dailies + "    params: {fps: 1000}\n"),
              StartsWith("stages[2].params.fps: must be an integer in [1, 240], got 1000"));
  MustParse(std::string(kValid) + dailies + "    params: {fps: 24, columns: 8}\n");
}

TEST(JobSpecTest, RetimeOutputFramesAreBoundedLikeFrameSets) {
  // Two input frames far apart: a retime fills the gap, 2 * 999999999 + 1 outputs.
  std::string yaml = Edit("    frames: 1001-1096", "    frames: 1,1000000000");
  EXPECT_THAT(ErrorOf(yaml + "    params: {factor: 2}\n"),
              StartsWith("stages[1].params.factor: a retime by 2 of frames 1..1000000000 writes "
                         "1999999999 frames, more than the limit of 1000000 per stage"));
  // Without a factor in the spec the validator cannot know it retimes (the planner checks).
  MustParse(yaml);
  // At the cap: 1..500000 by 2 writes 999999 frames.
  MustParse(Edit("    frames: 1001-1096", "    frames: 1-500000") + "    params: {factor: 2}\n");
}

TEST(JobSpecTest, EveryExampleSpecValidates) {
  const std::string examples = std::string(GENFARM_SOURCE_DIR) + "/examples";
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(examples)) {
    if (entry.path().extension() != ".yaml") continue;
    if (entry.path().filename() == "roles.yaml") continue;  // a roles file (docs/security.md)
    ++seen;
    absl::StatusOr<v1::JobSpec> spec = ParseJobSpecFile(entry.path().string());
    EXPECT_TRUE(spec.ok()) << entry.path() << ": " << spec.status();
  }
  EXPECT_GE(seen, 2);
}

TEST(JobSpecTest, EnumsParseAnyCase) {
  EXPECT_EQ(MustParse(Edit("project: feature_x", "project: feature_x\ntier: Interactive")).tier(),
            v1::TIER_INTERACTIVE);
  EXPECT_THAT(ErrorOf(Edit("project: feature_x", "project: feature_x\ntier: unspecified")),
              StartsWith("tier: must be one of batch, dailies, interactive; got 'unspecified'"));
}

TEST(JobSpecTest, BadFrameSetNamesStageAndToken) {
  std::string error =
      ErrorOf(Edit("    frames: 1001-1096\n    chunk", "    frames: 1001-x\n    chunk"));
  EXPECT_THAT(error, StartsWith("stages[0].frames: "));
  EXPECT_THAT(error, HasSubstr("token '1001-x'"));
  EXPECT_THAT(error, EndsWith("(line 8)"));
}

TEST(JobSpecTest, TenMillionFramesRefused) {
  // Counting before materializing is FrameSetTest's to check (without timing anything).
  std::string error =
      ErrorOf(Edit("    frames: 1001-1096\n    chunk", "    frames: 1-10000000\n    chunk"));
  EXPECT_THAT(error, StartsWith("stages[0].frames: "));
  EXPECT_THAT(error, HasSubstr("has 10000000 frames, more than the limit of 1000000"));
}

TEST(JobSpecTest, TotalFramesPerJobAreLimited) {
  std::string yaml = "name: big\nproject: p\nstages:\n";
  for (int i = 0; i < 11; ++i) {
    absl::StrAppend(&yaml, "  - name: s", i, "\n    model: m\n    input: in", i,
                    ".####.exr\n    output: out", i, ".####.exr\n    frames: 1-1000000\n");
  }
  std::string error = ErrorOf(yaml);
  EXPECT_THAT(error, StartsWith("stages: the job has more than 10000000 frames"));
  EXPECT_THAT(error, HasSubstr("stages[10]"));
}

TEST(JobSpecTest, BadPatternsNameTheField) {
  EXPECT_THAT(ErrorOf(Edit("output: out/upres/sh010.####.exr", "output: out/upres/sh010.exr")),
              StartsWith("stages[0].output: frame pattern 'out/upres/sh010.exr': no frame token"));
  EXPECT_THAT(ErrorOf(Edit("input: plates/sh010.####.exr", "input: plates/%04d/sh010.####.exr")),
              StartsWith("stages[0].input: frame pattern"));
  EXPECT_THAT(
      ErrorOf(Edit("output: out/upres/sh010.####.exr", "output: plates/sh010.%04d.exr")),
      StartsWith("stages[0].output: 'plates/sh010.%04d.exr' names the same files as input"));
  EXPECT_THAT(
      ErrorOf(Edit("output: out/retime/sh010.####.exr", "output: out/upres/sh010.####.exr")),
      HasSubstr("stages[1].output"));
}

TEST(JobSpecTest, TwoStagesMayNotWriteTheSameFiles) {
  std::string yaml = R"(name: a
project: b
stages:
  - {name: one, model: m, input: a.####.exr, output: out.####.exr, frames: 1-10}
  - {name: two, model: m, input: b.####.exr, output: out.%04d.exr, frames: 1-10}
)";
  EXPECT_THAT(ErrorOf(yaml),
              StartsWith("stages[1].output: 'out.%04d.exr' names the same files as stages[0]"));
}

TEST(JobSpecTest, DuplicateStageNames) {
  EXPECT_THAT(ErrorOf(Edit("  - name: retime", "  - name: upres")),
              StartsWith("stages[1].name: duplicate stage name 'upres' (also stages[0])"));
}

TEST(JobSpecTest, UnknownAfterStage) {
  std::string error = ErrorOf(Edit("    chunk: 8", "    after: [foo]"));
  EXPECT_THAT(error, StartsWith("stages[0].after[0]: unknown stage 'foo'"));
  EXPECT_THAT(error, EndsWith("(line 9)"));
  EXPECT_THAT(ErrorOf(Edit("    chunk: 8", "    after: [upres]")),
              StartsWith("stages[0].after[0]: a stage cannot depend on itself"));
}

TEST(JobSpecTest, DependencyCycle) {
  // upres waits for retime explicitly; retime waits for upres through its input.
  std::string error = ErrorOf(Edit("    chunk: 8", "    after: [retime]"));
  EXPECT_THAT(error, HasSubstr("dependency cycle: "));
  EXPECT_THAT(error, HasSubstr("upres -> retime -> upres"));
  EXPECT_THAT(error, StartsWith("stages[0].after"));
}

TEST(JobSpecTest, DailiesStageRules) {
  const std::string base = R"(name: a
project: b
stages:
  - {name: up, model: m, input: a.####.exr, output: b.####.exr, frames: 1-10}
  - name: dailies
    kind: dailies
    input: b.####.exr
    frames: 1-10
)";
  EXPECT_THAT(MustParse(base + "    output: dailies/sh010\n").stages(1).after(), ElementsAre("up"));
  EXPECT_THAT(ErrorOf(base + "    output: dailies/sh010.####.jpg\n"),
              StartsWith("stages[1].output: a dailies stage writes a contact sheet"));
  EXPECT_THAT(ErrorOf(base + "    output: d/sh010\n    model: m\n"),
              StartsWith("stages[1].model: a dailies stage runs no model"));
}

TEST(JobSpecTest, ValidateJobSpecChecksProtosFromOtherClients) {
  v1::JobSpec spec = MustParse(kValid);
  EXPECT_TRUE(ValidateJobSpec(spec).ok());

  v1::JobSpec bad = spec;
  bad.mutable_stages(1)->set_chunk(0);  // a Python client that forgot the chunk
  absl::Status status = ValidateJobSpec(bad);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "stages[1].chunk: must be between 1 and 10000, got 0");

  bad = spec;
  bad.mutable_stages(0)->add_after("nope");
  EXPECT_EQ(ValidateJobSpec(bad).message(), "stages[0].after[0]: unknown stage 'nope'");

  bad = spec;
  bad.mutable_stages(0)->set_frames("20-10");
  EXPECT_THAT(std::string(ValidateJobSpec(bad).message()),
              HasSubstr("stages[0].frames: frame set '20-10': token '20-10': range 20-10 is "
                        "reversed"));

  bad = spec;
  bad.set_tier(static_cast<v1::Tier>(42));
  EXPECT_EQ(ValidateJobSpec(bad).message(), "tier: unknown tier 42");

  bad = spec;
  bad.add_depends_on_jobs(0);
  EXPECT_EQ(ValidateJobSpec(bad).message(), "depends_on_jobs[0]: must be >= 1, got 0");
}

TEST(JobSpecTest, ApplyJobSpecDefaultsFillsEnumsAndImplicitAfter) {
  v1::JobSpec spec;
  spec.set_name("j");
  spec.set_project("p");
  v1::StageSpec* a = spec.add_stages();
  a->set_name("a");
  a->set_model("m");
  a->set_input("in.####.exr");
  a->set_output("mid.####.exr");
  a->set_frames("1-4");
  a->set_chunk(1);
  v1::StageSpec* b = spec.add_stages();
  *b = *a;
  b->set_name("b");
  b->set_input("mid.%04d.exr");
  b->set_output("out.####.exr");
  ApplyJobSpecDefaults(&spec);
  ApplyJobSpecDefaults(&spec);  // idempotent
  EXPECT_EQ(spec.tier(), v1::TIER_BATCH);
  EXPECT_EQ(spec.stages(0).kind(), v1::STAGE_KIND_MODEL);
  EXPECT_THAT(spec.stages(0).after(), IsEmpty());
  EXPECT_THAT(spec.stages(1).after(), ElementsAre("a"));
  EXPECT_TRUE(ValidateJobSpec(spec).ok()) << ValidateJobSpec(spec);
}

TEST(JobSpecTest, ExampleFileParses) {
  const std::string path = std::string(GENFARM_SOURCE_DIR) + "/examples/sh010_upres_retime.yaml";
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecFile(path);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->shot(), "sh010");
  ASSERT_EQ(spec->stages_size(), 3);
  const std::string examples = std::string(GENFARM_SOURCE_DIR) + "/examples/";
  const v1::StageSpec& upres = spec->stages(0);
  EXPECT_EQ(upres.model(), "esrgan-slim-x2");
  EXPECT_EQ(upres.input(), examples + "plates/sh010_plate.####.exr");
  EXPECT_EQ(upres.output(), examples + "renders/sh010/upres/sh010_upres.####.exr");
  EXPECT_EQ(upres.frames(), "1001-1096");
  EXPECT_EQ(upres.chunk(), 8);
  const v1::StageSpec& retime = spec->stages(1);
  EXPECT_EQ(retime.model(), "rife-v4.6");
  EXPECT_EQ(retime.input(), upres.output());
  EXPECT_THAT(retime.after(), ElementsAre("upres"));
  EXPECT_EQ(retime.params().at("factor"), "2");
  EXPECT_EQ(retime.window_after(), 1);
  EXPECT_EQ(retime.chunk(), 8);
  const v1::StageSpec& dailies = spec->stages(2);
  EXPECT_EQ(dailies.kind(), v1::STAGE_KIND_DAILIES);
  EXPECT_EQ(dailies.input(), retime.output());
  EXPECT_THAT(dailies.after(), ElementsAre("retime"));
  EXPECT_EQ(dailies.output(), examples + "renders/sh010/dailies/sh010");
}

TEST(JobSpecTest, FileErrorsNameTheFile) {
  absl::StatusOr<v1::JobSpec> missing = ParseJobSpecFile("/nonexistent/shot.yaml");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/shot.yaml"));

  const std::string path = ::testing::TempDir() + "/genfarm_bad_spec.yaml";
  {
    std::ofstream out(path);
    out << Edit("    chunk: 8", "    chunk: 0");
  }
  absl::StatusOr<v1::JobSpec> bad = ParseJobSpecFile(path);
  std::filesystem::remove(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            path + ": stages[0].chunk: must be between 1 and 10000, got 0 (line 9)");
}

// Found by tests/fuzz (job_spec_yaml): a spec with non-UTF-8 bytes validated, then could
// not cross the wire (protobuf refuses to parse invalid UTF-8 in `string` fields).
TEST(JobSpecTest, TextMustBeUtf8) {
  EXPECT_EQ(ErrorOf(Edit("project: feature_x", "project: feature_x\nlabels: {dept: caf\xe9}")),
            "labels.dept: must be UTF-8 text (is the file saved in another encoding?) (line 3)");
  EXPECT_THAT(ErrorOf(Edit("    chunk: 8", "    chunk: 8\n    params: {factor: \"\xc3\x28\"}")),
              StartsWith("stages[0].params.factor: must be an integer"));  // refused, escaped
  EXPECT_THAT(ErrorOf(Edit("plates/sh010.####.exr", "plates/\xed\xa0\x80.####.exr")),
              StartsWith("stages[0].input: must be UTF-8 text"));  // a UTF-16 surrogate
  EXPECT_THAT(ErrorOf(Edit("model: rife-v4.6", "model: rife-\xc0\xafv4.6")),
              StartsWith("stages[1].model: must be UTF-8 text"));  // an overlong '/'
  const v1::JobSpec ok = MustParse(Edit(
      "project: feature_x", "project: feature_x\nlabels: {dept: caf\xc3\xa9 \xf0\x9f\x8e\xac}"));
  EXPECT_EQ(ok.labels().at("dept"), "caf\xc3\xa9 \xf0\x9f\x8e\xac");
}

// --- Bounds before work (issue 10) ---

std::string ProtoError(const v1::JobSpec& spec) {
  absl::Status status = ValidateJobSpec(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

TEST(JobSpecLimitsTest, TenThousandStagesAreRefusedBeforeAnyPairwiseCheck) {
  v1::JobSpec spec = MustParse(kValid);
  const v1::StageSpec stage = spec.stages(0);
  spec.clear_stages();
  for (int i = 0; i < 10000; ++i) {
    v1::StageSpec* s = spec.add_stages();
    *s = stage;
    s->set_name(absl::StrCat("s", i));
    s->set_input(absl::StrCat("in/", i, ".####.exr"));
    s->set_output(absl::StrCat("out/", i, ".####.exr"));
  }
  ApplyJobSpecDefaults(&spec);  // what Submit runs first: must not go quadratic either
  EXPECT_EQ(ProtoError(spec), "stages: a job may have at most 64 stages, got 10000");
  std::string yaml = "name: a\nproject: b\nstages:\n";
  for (int i = 0; i < 10000; ++i) {
    absl::StrAppend(&yaml, "  - {name: s", i, ", model: m, input: in", i, ".####.exr, output: o", i,
                    ".####.exr, frames: 1}\n");
  }
  EXPECT_THAT(ErrorOf(yaml), StartsWith("stages: a job may have at most 64 stages, got 10000"));
}

TEST(JobSpecLimitsTest, TheWholeSpecIsBoundedFirst) {
  v1::JobSpec spec = MustParse(kValid);
  spec.mutable_stages(0)->set_frames(std::string(kMaxJobSpecBytes, '1'));
  spec.set_name("");  // would be the first error without the size check
  EXPECT_THAT(ProtoError(spec), StartsWith("spec: a job spec may be at most 1048576 bytes"));
  const std::string yaml = std::string(kValid) + "#" + std::string(kMaxJobSpecBytes, 'x') + "\n";
  EXPECT_THAT(ErrorOf(yaml), StartsWith("spec: a job spec may be at most 1048576 bytes of YAML"));
}

TEST(JobSpecLimitsTest, LabelsAreBoundedInCountKeyAndValue) {
  v1::JobSpec spec = MustParse(kValid);
  for (int i = 0; i <= kMaxLabelsPerJob; ++i) (*spec.mutable_labels())[absl::StrCat("k", i)] = "v";
  EXPECT_EQ(ProtoError(spec), "labels: at most 64 entries, got 65");

  spec = MustParse(kValid);
  (*spec.mutable_labels())[std::string(64, 'k')] = "v";
  EXPECT_THAT(ProtoError(spec), StartsWith("labels: label name 'kkkk"));
  spec = MustParse(kValid);
  (*spec.mutable_labels())["dept\ncomp"] = "v";
  EXPECT_EQ(ProtoError(spec),
            "labels: label name 'dept?comp' must be 1 to 63 letters, digits, '_', '.' or '-'");
  spec = MustParse(kValid);
  (*spec.mutable_labels())["dept"] = std::string(257, 'v');
  EXPECT_EQ(ProtoError(spec), "labels.dept: must be at most 256 characters, got 257");
  spec = MustParse(kValid);
  (*spec.mutable_labels())["dept"] = "comp\x1b[31m";
  EXPECT_THAT(ProtoError(spec), StartsWith("labels.dept: must not contain control characters"));
  (*spec.mutable_labels())["dept"] = std::string(256, 'v');
  (*spec.mutable_labels())[std::string(63, 'k')] = "v";
  EXPECT_TRUE(ValidateJobSpec(spec).ok());
}

TEST(JobSpecLimitsTest, PerStageCountsAreBounded) {
  v1::JobSpec spec = MustParse(kValid);
  for (int i = 0; i <= kMaxTagsPerStage; ++i)
    spec.mutable_stages(1)->add_tags(absl::StrCat("t", i));
  EXPECT_EQ(ProtoError(spec), "stages[1].tags: at most 32 entries, got 33");
  spec = MustParse(kValid);
  spec.mutable_stages(1)->add_tags(std::string(129, 't'));
  EXPECT_EQ(ProtoError(spec), "stages[1].tags[0]: must be at most 128 characters, got 129");
  spec = MustParse(kValid);
  for (int i = 0; i <= kMaxAfterPerStage; ++i) spec.mutable_stages(1)->add_after("upres");
  EXPECT_EQ(ProtoError(spec), "stages[1].after: at most 64 entries, got 66");
  spec = MustParse(kValid);
  for (int i = 0; i <= kMaxParamsPerStage; ++i)
    (*spec.mutable_stages(1)->mutable_params())[absl::StrCat("p", i)] = "2";
  EXPECT_EQ(ProtoError(spec), "stages[1].params: at most 16 entries, got 17");
  spec = MustParse(kValid);
  for (int i = 0; i <= kMaxJobDependencies; ++i) spec.add_depends_on_jobs(i + 1);
  EXPECT_EQ(ProtoError(spec), "depends_on_jobs: at most 256 entries, got 257");
  spec = MustParse(kValid);
  spec.mutable_stages(0)->set_frames(std::string(kMaxFrameSetLength + 1, '1'));
  EXPECT_EQ(ProtoError(spec), "stages[0].frames: must be at most 65536 characters, got 65537");
  spec = MustParse(kValid);
  spec.mutable_stages(0)->set_input(std::string(kMaxPathLength, 'a') + ".####.exr");
  EXPECT_EQ(ProtoError(spec), "stages[0].input: must be at most 4096 characters, got 4105");
}

TEST(JobSpecLimitsTest, ParamsAreTypedAndRangedForTheirKind) {
  v1::JobSpec spec = MustParse(kValid);
  (*spec.mutable_stages(1)->mutable_params())["factor"] = "2147483647";
  EXPECT_EQ(ProtoError(spec),
            "stages[1].params.factor: must be an integer in [2, 16], got 2147483647");
  (*spec.mutable_stages(1)->mutable_params())["factor"] = "2.5";
  EXPECT_EQ(ProtoError(spec), "stages[1].params.factor: must be an integer in [2, 16], got '2.5'");
  spec.mutable_stages(1)->mutable_params()->clear();
  (*spec.mutable_stages(1)->mutable_params())["strength"] = "1";
  EXPECT_EQ(ProtoError(spec),
            "stages[1].params.strength: unknown parameter for a model stage (it takes: factor)");
}

TEST(JobSpecLimitsTest, ControlCharactersAreRefusedInEveryNameAndPath) {
  struct Case {
    std::function<void(v1::JobSpec&)> edit;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](v1::JobSpec& s) { s.set_name("sh010\n"); }, "name"},
      {[](v1::JobSpec& s) { s.set_project("p\t"); }, "project"},
      {[](v1::JobSpec& s) { s.set_shot("sh\x01"); }, "shot"},
      {[](v1::JobSpec& s) { s.set_submitter("jdoe\r"); }, "submitter"},
      {[](v1::JobSpec& s) { s.mutable_stages(0)->set_name("up\x7f"); }, "stages[0].name"},
      {[](v1::JobSpec& s) { s.mutable_stages(0)->set_model("esrgan\n"); }, "stages[0].model"},
      {[](v1::JobSpec& s) { s.mutable_stages(0)->set_input("plates/\n.####.exr"); },
       "stages[0].input"},
      {[](v1::JobSpec& s) { s.mutable_stages(1)->set_output("out/\x1b.####.exr"); },
       "stages[1].output"},
      {[](v1::JobSpec& s) { s.mutable_stages(1)->add_tags("gpu\n"); }, "stages[1].tags[0]"},
      {[](v1::JobSpec& s) { s.mutable_stages(1)->add_after("up\nres"); }, "stages[1].after[1]"},
      {[](v1::JobSpec& s) { s.mutable_stages(0)->set_frames("1-\n10"); }, "stages[0].frames"},
  };
  for (const Case& c : cases) {
    v1::JobSpec spec = MustParse(kValid);
    c.edit(spec);
    const std::string error = ProtoError(spec);
    EXPECT_THAT(error, StartsWith(c.field + ": ")) << c.field;
    for (char ch : error)
      EXPECT_FALSE(absl::ascii_iscntrl(static_cast<unsigned char>(ch))) << error;
  }
}

TEST(JobSpecLimitsTest, AStageMayNotReadALaterStagesOutput) {
  // Stage 0 reads what stage 1 writes: a cycle through files.
  const std::string yaml = R"(name: a
project: b
stages:
  - {name: grade, model: m, input: up/sh.####.exr, output: grade/sh.####.exr, frames: 1-10}
  - {name: up, model: m, input: plate/sh.####.exr, output: up/sh.%04d.exr, frames: 1-10}
)";
  EXPECT_THAT(ErrorOf(yaml),
              StartsWith("stages[0].input: 'up/sh.####.exr' names the files stages[1] 'up' "
                         "writes, a later stage"));
  // In the order of the data flow it is fine.
  const std::string ordered = R"(name: a
project: b
stages:
  - {name: up, model: m, input: plate/sh.####.exr, output: up/sh.%04d.exr, frames: 1-10}
  - {name: grade, model: m, input: up/sh.####.exr, output: grade/sh.####.exr, frames: 1-10}
)";
  EXPECT_THAT(MustParse(ordered).stages(1).after(), ElementsAre("up"));
  // A dailies stage reading a later stage's frames is refused the same way.
  const std::string dailies_first = R"(name: a
project: b
stages:
  - {name: d, kind: dailies, input: up/sh.####.exr, output: d/sh, frames: 1-10}
  - {name: up, model: m, input: plate/sh.####.exr, output: up/sh.####.exr, frames: 1-10}
)";
  EXPECT_THAT(ErrorOf(dailies_first), StartsWith("stages[0].input: "));
}

}  // namespace
}  // namespace genfarm
