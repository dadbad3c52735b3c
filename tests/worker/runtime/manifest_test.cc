#include "worker/runtime/manifest.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace genfarm::worker {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kOrigin[] = "models/esrgan-slim-x2/manifest.json";

json GoodManifest() {
  return json::parse(R"({
    "name": "esrgan-slim-x2", "version": "1.0.0", "file": "model.pt",
    "sha256": "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
    "kind": "upscale", "scale": 2, "inputs": 1, "window": {"before": 0, "after": 0},
    "color_space": "srgb", "value_range": [0.0, 255.0], "tile": {"size": 128, "overlap": 16},
    "pad_multiple": 1, "batch_size": 4, "memory_bytes": 268435456, "half": true,
    "seeded": false,
    "source": {"package": "@upscalerjs/esrgan-slim@1.0.0", "tarball_sha256": "ab",
               "license": "MIT", "files": ["models/x2/model.json"]}
  })");
}

absl::Status ParseError(const json& j) { return ParseManifest(j.dump(), kOrigin).status(); }

TEST(ManifestTest, ParsesEveryField) {
  absl::StatusOr<Manifest> m = ParseManifest(GoodManifest().dump(), kOrigin);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->name, "esrgan-slim-x2");
  EXPECT_EQ(m->version, "1.0.0");
  EXPECT_EQ(m->file, "model.pt");
  EXPECT_EQ(m->sha256, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  EXPECT_EQ(m->kind, ModelKind::kUpscale);
  EXPECT_EQ(m->scale, 2);
  EXPECT_EQ(m->inputs, 1);
  EXPECT_EQ(m->color_space, "srgb");
  EXPECT_FLOAT_EQ(m->value_min, 0.0f);
  EXPECT_FLOAT_EQ(m->value_max, 255.0f);
  EXPECT_EQ(m->tile_size, 128);
  EXPECT_EQ(m->tile_overlap, 16);
  EXPECT_EQ(m->pad_multiple, 1);
  EXPECT_EQ(m->batch_size, 4);
  EXPECT_EQ(m->memory_bytes, 268435456);
  EXPECT_TRUE(m->half);
  EXPECT_FALSE(m->seeded);
  EXPECT_EQ(m->source.license, "MIT");
  EXPECT_THAT(m->source.files, ::testing::ElementsAre("models/x2/model.json"));
  EXPECT_TRUE(m->folder.empty());
}

TEST(ManifestTest, ParsesInterpolateWithDefaults) {
  json j = GoodManifest();
  j["kind"] = "interpolate";
  j.erase("scale");
  j.erase("inputs");
  j["window"] = {{"before", 0}, {"after", 1}};
  j["tile"] = {{"size", 0}, {"overlap", 0}};
  j["pad_multiple"] = 32;
  absl::StatusOr<Manifest> m = ParseManifest(j.dump(), kOrigin);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->kind, ModelKind::kInterpolate);
  EXPECT_EQ(m->scale, 1);
  EXPECT_EQ(m->inputs, 2);
  EXPECT_EQ(m->window_after, 1);
  EXPECT_EQ(m->tile_size, 0);
}

TEST(ManifestTest, RejectsInvalidJson) {
  absl::Status s = ParseManifest("{\"name\": ", kOrigin).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr(kOrigin));
  EXPECT_THAT(s.message(), HasSubstr("not valid JSON"));
}

TEST(ManifestTest, RejectsUnknownKind) {
  json j = GoodManifest();
  j["kind"] = "denoise";
  absl::Status s = ParseError(j);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("models/esrgan-slim-x2/manifest.json: field 'kind'"));
  EXPECT_THAT(s.message(), HasSubstr("denoise"));
}

// Each broken field yields an error that starts with the file and names that field.
struct BadField {
  std::string field;   // JSON pointer of the field to replace
  json value;          // replacement; null = remove the field
  std::string expect;  // substring of the error, after "<origin>: "
};

class ManifestFieldTest : public ::testing::TestWithParam<BadField> {};

TEST_P(ManifestFieldTest, ErrorNamesTheFieldAndFile) {
  const BadField& bad = GetParam();
  json j = GoodManifest();
  json::json_pointer ptr(bad.field);
  if (bad.value.is_null()) {
    j[ptr.parent_pointer()].erase(ptr.back());
  } else {
    j[ptr] = bad.value;
  }
  absl::Status s = ParseError(j);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(kOrigin) + ": " + bad.expect));
}

INSTANTIATE_TEST_SUITE_P(
    Fields, ManifestFieldTest,
    ::testing::Values(
        BadField{"/name", nullptr, "field 'name' is required"},
        BadField{"/name", "bad name!", "field 'name' may contain only"},
        BadField{"/version", 3, "field 'version' must be a non-empty string"},
        BadField{"/file", nullptr, "field 'file' is required"},
        BadField{"/file", "../../etc/passwd", "field 'file' must be a path relative"},
        BadField{"/sha256", "abc", "field 'sha256' must be 64 hexadecimal digits"},
        BadField{"/kind", nullptr, "field 'kind' is required"},
        BadField{"/scale", 0, "field 'scale' must be a positive integer"},
        BadField{"/scale", 2.5, "field 'scale' must be a positive integer"},
        BadField{"/scale", "2", "field 'scale' must be a positive integer"},
        BadField{"/scale", nullptr, "field 'scale' is required"},
        BadField{"/inputs", 2, "field 'inputs' must be 1 for kind \"upscale\""},
        BadField{"/window", 3, "field 'window' must be an object"},
        BadField{"/window/after", -1, "field 'window.after' must be a non-negative integer"},
        BadField{"/color_space", "", "field 'color_space' must be a non-empty string"},
        BadField{"/value_range", json::array({1.0}), "field 'value_range' must be an array"},
        BadField{"/value_range", json::array({1.0, 0.0}),
                 "field 'value_range' must have min < max"},
        BadField{"/tile/size", -4, "field 'tile.size' must be a non-negative integer"},
        BadField{"/tile/overlap", 64, "field 'tile.overlap' must be less than half"},
        BadField{"/pad_multiple", 0, "field 'pad_multiple' must be a positive integer"},
        BadField{"/pad_multiple", 3, "field 'tile.size' must be a multiple of pad_multiple"},
        BadField{"/batch_size", 0, "field 'batch_size' must be a positive integer"},
        BadField{"/memory_bytes", nullptr, "field 'memory_bytes' is required"},
        BadField{"/memory_bytes", -1, "field 'memory_bytes' must be a positive integer"},
        // Out of int64's range: once undefined behaviour in the cast (found by tests/fuzz).
        BadField{"/memory_bytes", 2.68435e61, "field 'memory_bytes' must be a positive integer"},
        BadField{"/memory_bytes", -1e300, "field 'memory_bytes' must be a positive integer"},
        BadField{"/memory_bytes", uint64_t{18446744073709551615u},
                 "field 'memory_bytes' must be a positive integer"},
        BadField{"/scale", 1e19, "field 'scale' must be a positive integer"},
        BadField{"/half", "yes", "field 'half' must be true or false"},
        BadField{"/seeded", 1, "field 'seeded' must be true or false"},
        BadField{"/source", "npm", "field 'source' must be an object"},
        BadField{"/source/files", "x", "field 'source.files' must be an array"}));

TEST(ManifestTest, InterpolateRejectsScale) {
  json j = GoodManifest();
  j["kind"] = "interpolate";
  j["inputs"] = 2;
  absl::Status s = ParseError(j);
  EXPECT_THAT(s.message(), HasSubstr("field 'scale' must be 1 for kind \"interpolate\""));
}

TEST(ManifestTest, WholeFloatsAreIntegers) {
  json j = GoodManifest();
  j["memory_bytes"] = 2.5e8;
  j["scale"] = 2.0;
  absl::StatusOr<Manifest> m = ParseManifest(j.dump(), kOrigin);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->memory_bytes, 250000000);
  EXPECT_EQ(m->scale, 2);
}

TEST(ManifestTest, IgnoresUnknownFields) {
  json j = GoodManifest();
  j["future_field"] = {1, 2, 3};
  EXPECT_TRUE(ParseManifest(j.dump(), kOrigin).ok());
}

}  // namespace
}  // namespace genfarm::worker
