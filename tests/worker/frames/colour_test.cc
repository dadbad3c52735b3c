#include "worker/frames/colour.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/frame_test_util.h"

namespace genfarm::worker {
namespace {

using testing_util::NearestUpscale;

TEST(ColourTest, SrgbTransferMatchesIec61966Points) {
  EXPECT_FLOAT_EQ(LinearToSrgb(0.f), 0.f);
  EXPECT_FLOAT_EQ(LinearToSrgb(1.f), 1.f);
  EXPECT_NEAR(LinearToSrgb(0.18f), 0.4613f, 1e-4);           // mid grey
  EXPECT_NEAR(LinearToSrgb(0.002f), 0.002f * 12.92f, 1e-7);  // linear toe
  EXPECT_NEAR(SrgbToLinear(0.5f), 0.2140f, 1e-4);
  EXPECT_NEAR(SrgbToLinear(0.04f), 0.04f / 12.92f, 1e-7);
}

TEST(ColourTest, LinearSrgbLinearRoundTripIsTight) {
  for (float v = -2.f; v <= 16.f; v += 0.01f) {
    EXPECT_NEAR(SrgbToLinear(LinearToSrgb(v)), v, 1e-5f * std::max(1.f, std::fabs(v))) << v;
  }
  Image img = testing_util::Ramp(8, 4, 0.f, 0.37f);
  Image back = ConvertColorSpace(ConvertColorSpace(img, ColorSpace::kLinear, ColorSpace::kSrgb),
                                 ColorSpace::kSrgb, ColorSpace::kLinear);
  for (size_t i = 0; i < img.pixels.size(); ++i) EXPECT_NEAR(back.pixels[i], img.pixels[i], 1e-5);
}

TEST(ColourTest, ParsesManifestAndOiioNames) {
  EXPECT_EQ(*ParseColorSpace("linear"), ColorSpace::kLinear);
  EXPECT_EQ(*ParseColorSpace("scene_linear"), ColorSpace::kLinear);
  EXPECT_EQ(*ParseColorSpace("Linear"), ColorSpace::kLinear);
  EXPECT_EQ(*ParseColorSpace("srgb"), ColorSpace::kSrgb);
  EXPECT_EQ(*ParseColorSpace("sRGB"), ColorSpace::kSrgb);
  absl::StatusOr<ColorSpace> log = ParseColorSpace("KodakLog");
  EXPECT_EQ(log.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(log.status().message()), testing::HasSubstr("KodakLog"));
}

TEST(ColourTest, RangeScalingRoundTrips) {
  Image unit = testing_util::Ramp(4, 4, 0.f, 0.25f);
  Image scaled = ScaleToRange(unit, {0.f, 255.f});
  EXPECT_FLOAT_EQ(scaled.at(3, 0, 0), 0.75f * 255.f);
  Image back = ScaleFromRange(scaled, {0.f, 255.f});
  for (size_t i = 0; i < unit.pixels.size(); ++i) EXPECT_FLOAT_EQ(back.pixels[i], unit.pixels[i]);
  Image signed_range = ScaleToRange(unit, {-1.f, 1.f});
  EXPECT_FLOAT_EQ(signed_range.at(0, 0, 2), -1.f);
}

TEST(ColourTest, ToModelClipsForTheModelAndCountsOverRange) {
  Image plate(2, 2);
  plate.pixels = {0.18f,  0.18f, 0.18f, 4.0f, 2.0f, 0.5f,   // pixel 1 above
                  -0.05f, 0.1f,  0.1f,  1.0f, 1.0f, 1.0f};  // pixel 2 below, 3 exactly 1
  ModelInput in = ToModel(plate, ColorSpace::kLinear, {ColorSpace::kSrgb, {0.f, 255.f}});
  EXPECT_EQ(in.pixels, 4);
  EXPECT_EQ(in.pixels_above_range, 1);
  EXPECT_EQ(in.pixels_below_range, 1);
  EXPECT_EQ(in.pixels_out_of_range, 2);
  EXPECT_TRUE(in.has_residual());
  for (float v : in.image.pixels) {
    EXPECT_GE(v, 0.f);
    EXPECT_LE(v, 255.f);
  }
  EXPECT_FLOAT_EQ(in.image.at(1, 0, 0), 255.f);
  EXPECT_NEAR(in.image.at(0, 0, 0), 0.4613f * 255.f, 0.05f);
  EXPECT_FLOAT_EQ(in.residual.at(1, 0, 0), 3.0f);  // 4.0 - decode(1.0)
  EXPECT_FLOAT_EQ(in.residual.at(0, 0, 0), 0.f);   // in range: exactly zero
  EXPECT_THAT(OverRangeMessage(1042, in, HighlightPolicy::kResidual),
              testing::StartsWith("frame 1042: 25.0% pixels above 1.0, 25.0% below 0.0, "
                                  "highlights preserved by residual"));
}

TEST(ColourTest, IdentityModelRoundTripKeepsHighlightsExactly) {
  Image plate = testing_util::Ramp(6, 5, -1.f, 0.6f);  // spans -0.6 .. 3.6
  for (ColorSpace model_space : {ColorSpace::kSrgb, ColorSpace::kLinear}) {
    const ModelColor model{model_space, {0.f, 255.f}};
    ModelInput in = ToModel(plate, ColorSpace::kLinear, model);
    Image out = FromModel(in.image, model, ColorSpace::kLinear);
    ASSERT_TRUE(AddResidual(in.residual, ResidualFilter::kNearest, &out).ok());
    for (size_t i = 0; i < plate.pixels.size(); ++i) {
      EXPECT_NEAR(out.pixels[i], plate.pixels[i], 1e-4) << i;
    }
  }
}

TEST(ColourTest, ClipPolicyDropsHighlights) {
  Image plate(1, 1);
  plate.pixels = {5.f, 0.5f, 0.5f};
  const ModelColor model{ColorSpace::kSrgb, {0.f, 1.f}};
  ModelInput in = ToModel(plate, ColorSpace::kLinear, model, HighlightPolicy::kClip);
  EXPECT_EQ(in.pixels_above_range, 1);
  EXPECT_FALSE(in.has_residual());
  Image out = FromModel(in.image, model, ColorSpace::kLinear);
  ASSERT_TRUE(AddResidual(in.residual, ResidualFilter::kNearest, &out).ok());
  EXPECT_FLOAT_EQ(out.pixels[0], 1.f);
}

TEST(ColourTest, HighlightResidualSurvivesTwoTimesNearestUpscale) {
  Image plate = testing_util::Ramp(4, 3, 0.f, 0.5f);
  plate.at(2, 1, 0) = 12.f;  // a specular hit
  const ModelColor model{ColorSpace::kSrgb, {0.f, 255.f}};
  ModelInput in = ToModel(plate, ColorSpace::kLinear, model);
  Image out = FromModel(NearestUpscale(in.image, 2), model, ColorSpace::kLinear);
  ASSERT_TRUE(AddResidual(in.residual, ResidualFilter::kNearest, &out).ok());
  Image expected = NearestUpscale(plate, 2);
  ASSERT_EQ(out.width, 8);
  for (size_t i = 0; i < out.pixels.size(); ++i) {
    EXPECT_NEAR(out.pixels[i], expected.pixels[i], 1e-4 * std::max(1.f, expected.pixels[i]));
  }
  EXPECT_NEAR(out.at(4, 2, 0), 12.f, 1e-3);
  EXPECT_NEAR(out.at(5, 3, 0), 12.f, 1e-3);
}

TEST(ColourTest, BilinearResidualKeepsFlatResidualFlat) {
  Image residual(3, 3);
  for (float& v : residual.pixels) v = 2.f;
  Image out(6, 6);
  ASSERT_TRUE(AddResidual(residual, ResidualFilter::kBilinear, &out).ok());
  for (float v : out.pixels) EXPECT_FLOAT_EQ(v, 2.f);
}

TEST(ColourTest, BlendResidualsWeightsByTime) {
  Image a(1, 1), b(1, 1);
  a.pixels = {4.f, 0.f, 0.f};
  b.pixels = {0.f, 8.f, 0.f};
  absl::StatusOr<Image> mid = BlendResiduals(a, b, 0.25f);
  ASSERT_TRUE(mid.ok());
  EXPECT_THAT(mid->pixels, testing::ElementsAre(3.f, 2.f, 0.f));
  absl::StatusOr<Image> half_empty = BlendResiduals(Image(), b, 0.5f);
  ASSERT_TRUE(half_empty.ok());
  EXPECT_THAT(half_empty->pixels, testing::ElementsAre(0.f, 4.f, 0.f));
  EXPECT_FALSE(BlendResiduals(a, Image(2, 1), 0.5f).ok());
}

}  // namespace
}  // namespace genfarm::worker
