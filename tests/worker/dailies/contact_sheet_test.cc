#include "worker/dailies/contact_sheet.h"

#include <OpenImageIO/imagebufalgo.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/dailies/burn_in.h"

namespace genfarm::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ContactSheetLayoutTest, GridKeepsAspectAndEvenSides) {
  ContactSheetOptions options;
  options.columns = 6;
  options.thumbnail_width = 256;
  options.margin = 8;
  options.title_height = 40;
  ContactSheetLayout l = ContactSheetLayout::For(24, 320, 192, options);
  EXPECT_EQ(l.columns, 6);
  EXPECT_EQ(l.rows, 4);
  EXPECT_EQ(l.thumb_height, 153);  // 256 * 192 / 320
  EXPECT_EQ(l.width, 6 * 256 + 7 * 8);
  EXPECT_EQ(l.height, 40 + 4 * 153 + 5 * 8);
  EXPECT_EQ(l.X(7), 8 + 1 * (256 + 8));
  EXPECT_EQ(l.Y(7), 40 + 8 + 1 * (153 + 8));
}

TEST(ContactSheetLayoutTest, FewFramesUseFewColumnsAndOddSidesRoundUp) {
  ContactSheetOptions options;
  options.columns = 6;
  options.thumbnail_width = 101;
  options.margin = 0;
  options.title_height = 0;
  ContactSheetLayout l = ContactSheetLayout::For(3, 101, 51, options);
  EXPECT_EQ(l.columns, 3);
  EXPECT_EQ(l.rows, 1);
  EXPECT_EQ(l.width, 304);  // 303 rounded up to even
  EXPECT_EQ(l.height, 52);  // 51 rounded up to even
}

TEST(SampleForSheetTest, KeepsEverythingWhenItFits) {
  EXPECT_THAT(SampleForSheet(4, 120), ElementsAre(0, 1, 2, 3));
  EXPECT_TRUE(SampleForSheet(0, 120).empty());
}

TEST(SampleForSheetTest, SpreadsLongSequencesIncludingFirstAndLast) {
  std::vector<int> picked = SampleForSheet(191, 120);
  ASSERT_EQ(picked.size(), 120u);
  EXPECT_EQ(picked.front(), 0);
  EXPECT_EQ(picked.back(), 190);
  for (size_t i = 1; i < picked.size(); ++i) EXPECT_LT(picked[i - 1], picked[i]);
}

TEST(BurnInTest, DrawsWhiteTextIntoADarkBar) {
  auto font = FindFont(DefaultFontCandidates());
  ASSERT_TRUE(font.ok()) << font.status();
  OIIO::ImageBuf image(OIIO::ImageSpec(200, 100, 3, OIIO::TypeDesc::FLOAT));
  const float grey[3] = {0.5f, 0.5f, 0.5f};
  OIIO::ImageBufAlgo::fill(image, grey);
  ASSERT_TRUE(BurnIn({"sh010", "1042"}, *font, &image).ok());
  // Above the bar nothing changed; in the bar the grey is darkened and text is white.
  auto above = OIIO::ImageBufAlgo::computePixelStats(image, OIIO::ROI(0, 200, 0, 80, 0, 1, 0, 3));
  EXPECT_FLOAT_EQ(above.max[0], 0.5f);
  auto bar = OIIO::ImageBufAlgo::computePixelStats(image, OIIO::ROI(0, 200, 84, 100, 0, 1, 0, 3));
  EXPECT_LT(bar.min[0], 0.2f);
  EXPECT_GT(bar.max[0], 0.9f);
  // Left text near the left edge, the frame number near the right edge.
  auto left = OIIO::ImageBufAlgo::computePixelStats(image, OIIO::ROI(0, 60, 84, 100, 0, 1, 0, 3));
  auto right =
      OIIO::ImageBufAlgo::computePixelStats(image, OIIO::ROI(140, 200, 84, 100, 0, 1, 0, 3));
  EXPECT_GT(left.max[0], 0.9f);
  EXPECT_GT(right.max[0], 0.9f);
}

TEST(FindFontTest, NamesEveryPathAndThePackageWhenNoneExists) {
  auto font = FindFont({"/nonexistent/a.ttf", "/nonexistent/b.ttf"});
  ASSERT_FALSE(font.ok());
  EXPECT_EQ(font.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(font.status().message(), HasSubstr("/nonexistent/a.ttf, /nonexistent/b.ttf"));
  EXPECT_THAT(font.status().message(), HasSubstr("fonts-dejavu-core"));
}

TEST(PadToEvenTest, RoundsOddSidesUp) {
  OIIO::ImageBuf odd(OIIO::ImageSpec(63, 35, 3, OIIO::TypeDesc::FLOAT));
  OIIO::ImageBuf even = PadToEven(odd);
  EXPECT_EQ(even.spec().width, 64);
  EXPECT_EQ(even.spec().height, 36);
  OIIO::ImageBuf already(OIIO::ImageSpec(64, 36, 3, OIIO::TypeDesc::FLOAT));
  EXPECT_EQ(PadToEven(already).spec().width, 64);
}

}  // namespace
}  // namespace genfarm::worker
