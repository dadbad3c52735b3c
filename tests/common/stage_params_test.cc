#include "common/stage_params.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

ParamMap Params(std::initializer_list<std::pair<const std::string, std::string>> entries) {
  ParamMap map;
  for (const auto& [key, value] : entries) map[key] = value;
  return map;
}

std::string ModelError(const ParamMap& params) {
  absl::StatusOr<ModelParams> parsed = ParseModelParams(params, "stages[1].params");
  EXPECT_FALSE(parsed.ok());
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

std::string DailiesError(const ParamMap& params) {
  absl::StatusOr<DailiesParams> parsed = ParseDailiesParams(params, "stages[2].params");
  EXPECT_FALSE(parsed.ok());
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

TEST(ModelParamsTest, NoParamsMeansNoFactor) {
  absl::StatusOr<ModelParams> parsed = ParseModelParams({}, "params");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->factor, std::nullopt);
  EXPECT_EQ(parsed->RetimeFactorOr1(), 1);
  EXPECT_EQ(ModelParamsJson(*parsed), "{}");
}

TEST(ModelParamsTest, FactorAtBothEndsOfItsRange) {
  for (int factor : {kMinRetimeFactor, 4, kMaxRetimeFactor}) {
    absl::StatusOr<ModelParams> parsed =
        ParseModelParams(Params({{"factor", std::to_string(factor)}}), "params");
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->factor, factor);
    EXPECT_EQ(parsed->RetimeFactorOr1(), factor);
  }
  EXPECT_EQ(ModelParamsJson(*ParseModelParams(Params({{"factor", "3"}}), "p")), R"({"factor":3})");
}

TEST(ModelParamsTest, FactorOutOfRangeIsRefusedWithTheValue) {
  EXPECT_EQ(ModelError(Params({{"factor", "2147483647"}})),
            "stages[1].params.factor: must be an integer in [2, 16], got 2147483647");
  EXPECT_EQ(ModelError(Params({{"factor", "20000000"}})),
            "stages[1].params.factor: must be an integer in [2, 16], got 20000000");
  EXPECT_EQ(ModelError(Params({{"factor", "17"}})),
            "stages[1].params.factor: must be an integer in [2, 16], got 17");
  EXPECT_EQ(ModelError(Params({{"factor", "1"}})),
            "stages[1].params.factor: must be an integer in [2, 16], got 1");
  EXPECT_EQ(ModelError(Params({{"factor", "0"}})),
            "stages[1].params.factor: must be an integer in [2, 16], got 0");
  EXPECT_EQ(ModelError(Params({{"factor", "-3"}})),
            "stages[1].params.factor: must be an integer in [2, 16], got -3");
  // Beyond int64: not a number we can hold, so a type error rather than a wrapped value.
  EXPECT_EQ(ModelError(Params({{"factor", "99999999999999999999"}})),
            "stages[1].params.factor: must be an integer in [2, 16], got "
            "'99999999999999999999'");
}

TEST(ModelParamsTest, FactorOfTheWrongTypeIsRefused) {
  for (const char* bad : {"two", "2.0", "2x", "", "0x2", "true"}) {
    EXPECT_EQ(
        ModelError(Params({{"factor", bad}})),
        std::string("stages[1].params.factor: must be an integer in [2, 16], got '") + bad + "'")
        << bad;
  }
  // A long value is refused by its size; a binary one is made printable in the message.
  const std::string junk = std::string(1000, 'x') + "\n";
  EXPECT_EQ(ModelError(Params({{"factor", junk}})),
            "stages[1].params.factor: must be at most 64 characters, got 1001");
  EXPECT_EQ(ModelError(Params({{"factor", "2\x1b[2J"}})),
            "stages[1].params.factor: must be an integer in [2, 16], got '2?[2J'");
}

TEST(ModelParamsTest, TheMapIsBoundedBeforeAnyKeyIsRead) {
  ParamMap params;
  for (int i = 0; i < 20000; ++i) params["k" + std::to_string(i)] = "1";
  EXPECT_EQ(ModelError(params), "stages[1].params: at most 16 entries, got 20000");
}

TEST(ModelParamsTest, OddKeysAreQuotedAndMadePrintable) {
  EXPECT_EQ(ModelError(Params({{"", "2"}})),
            "stages[1].params.'': unknown parameter for a model stage (it takes: factor)");
  EXPECT_EQ(ModelError(Params({{"fac\ntor", "2"}})),
            "stages[1].params.'fac?tor': unknown parameter for a model stage (it takes: factor)");
  EXPECT_THAT(ModelError(Params({{std::string(500, 'k'), "2"}})),
              StartsWith("stages[1].params.'kkkk"));
  EXPECT_LT(ModelError(Params({{std::string(500, 'k'), "2"}})).size(), 200u);
}

TEST(ModelParamsTest, UnknownKeysAreRefusedNamingThem) {
  EXPECT_EQ(ModelError(Params({{"strength", "0.5"}})),
            "stages[1].params.strength: unknown parameter for a model stage (it takes: factor)");
  // A known key next to an unknown one: the unknown one is still named.
  EXPECT_THAT(ModelError(Params({{"factor", "2"}, {"mode", "fast"}})),
              StartsWith("stages[1].params.mode: unknown parameter"));
  EXPECT_THAT(ModelError(Params({{"fps", "24"}})),
              StartsWith("stages[1].params.fps: unknown parameter for a model stage"));
}

TEST(ModelParamsTest, FirstErrorIsTheSameWhateverTheMapOrder) {
  const std::string error = ModelError(Params({{"zeta", "1"}, {"alpha", "1"}, {"factor", "x"}}));
  EXPECT_THAT(error, StartsWith("stages[1].params.alpha: unknown parameter"));
}

TEST(DailiesParamsTest, GoodValuesAndDefaults) {
  absl::StatusOr<DailiesParams> none = ParseDailiesParams({}, "params");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, DailiesParams{});
  absl::StatusOr<DailiesParams> both =
      ParseDailiesParams(Params({{"fps", "240"}, {"columns", "1"}}), "params");
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ(both->fps, 240);
  EXPECT_EQ(both->columns, 1);
}

TEST(DailiesParamsTest, EachBadValueClassIsRefused) {
  EXPECT_EQ(DailiesError(Params({{"fps", "fast"}})),
            "stages[2].params.fps: must be an integer in [1, 240], got 'fast'");
  EXPECT_EQ(DailiesError(Params({{"fps", "0"}})),
            "stages[2].params.fps: must be an integer in [1, 240], got 0");
  EXPECT_EQ(DailiesError(Params({{"columns", "65"}})),
            "stages[2].params.columns: must be an integer in [1, 64], got 65");
  EXPECT_EQ(DailiesError(Params({{"factor", "2"}})),
            "stages[2].params.factor: unknown parameter for a dailies stage (it takes: columns, "
            "fps)");
}

TEST(ValidateStageParamsTest, UsesTheParserOfTheStageKind) {
  v1::StageSpec stage;
  (*stage.mutable_params())["fps"] = "24";
  EXPECT_THAT(std::string(ValidateStageParams(stage, "stages[0]").message()),
              StartsWith("stages[0].params.fps: unknown parameter for a model stage"));
  stage.set_kind(v1::STAGE_KIND_DAILIES);
  EXPECT_TRUE(ValidateStageParams(stage, "stages[0]").ok());
  stage.set_kind(v1::STAGE_KIND_MODEL);
  stage.clear_params();
  (*stage.mutable_params())["factor"] = "2147483647";
  EXPECT_EQ(ValidateStageParams(stage, "stages[0]").message(),
            "stages[0].params.factor: must be an integer in [2, 16], got 2147483647");
}

}  // namespace
}  // namespace genfarm
