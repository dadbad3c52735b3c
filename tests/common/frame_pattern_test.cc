#include "common/frame_pattern.h"

#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace genfarm {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;

FramePattern MustParse(const std::string& text) {
  absl::StatusOr<FramePattern> pattern = FramePattern::Parse(text);
  EXPECT_TRUE(pattern.ok()) << text << ": " << pattern.status();
  return pattern.ok() ? *pattern : *FramePattern::Parse("unused.%d");
}

std::string ErrorOf(const std::string& text) {
  absl::StatusOr<FramePattern> pattern = FramePattern::Parse(text);
  EXPECT_FALSE(pattern.ok()) << text;
  if (pattern.ok()) return "";
  EXPECT_EQ(pattern.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(pattern.status().message());
}

TEST(FramePatternTest, PrintfPadded) {
  FramePattern p = MustParse("plates/sh010.%04d.exr");
  EXPECT_EQ(p.Format(1001), "plates/sh010.1001.exr");
  EXPECT_EQ(p.Format(7), "plates/sh010.0007.exr");
  EXPECT_EQ(p.Format(123456), "plates/sh010.123456.exr");
  EXPECT_EQ(p.padding(), 4);
  EXPECT_EQ(p.pattern(), "plates/sh010.%04d.exr");
  EXPECT_EQ(p.prefix(), "plates/sh010.");
  EXPECT_EQ(p.suffix(), ".exr");
}

TEST(FramePatternTest, PrintfUnpadded) {
  FramePattern p = MustParse("f_%d.png");
  EXPECT_EQ(p.Format(7), "f_7.png");
  EXPECT_EQ(p.Format(0), "f_0.png");
  EXPECT_EQ(p.padding(), 0);
}

TEST(FramePatternTest, HashesPadToTheirCount) {
  EXPECT_EQ(MustParse("a.####.exr").Format(42), "a.0042.exr");
  EXPECT_EQ(MustParse("a.#.exr").Format(42), "a.42.exr");
  EXPECT_EQ(MustParse("a.######.exr").Format(42), "a.000042.exr");
}

TEST(FramePatternTest, NegativeFramesPutSignBeforePaddedDigits) {
  EXPECT_EQ(MustParse("a.####.exr").Format(-5), "a.-0005.exr");
  EXPECT_EQ(MustParse("a.%d.exr").Format(-5), "a.-5.exr");
}

TEST(FramePatternTest, TokenAtStartOrEnd) {
  EXPECT_EQ(MustParse("####").Format(3), "0003");
  EXPECT_EQ(MustParse("%03d.jpg").Format(3), "003.jpg");
  EXPECT_EQ(MustParse("shot_%02d").Format(3), "shot_03");
}

TEST(FramePatternTest, LiteralPercent) {
  FramePattern p = MustParse("100%%/f.%04d.exr");
  EXPECT_EQ(p.Format(1), "100%/f.0001.exr");
  EXPECT_EQ(p.Glob(), "100%/f.*.exr");
}

TEST(FramePatternTest, HashAndPrintfFormsAreEqual) {
  EXPECT_EQ(MustParse("a.####.exr"), MustParse("a.%04d.exr"));
  EXPECT_NE(MustParse("a.###.exr"), MustParse("a.%04d.exr"));
  EXPECT_NE(MustParse("a.####.exr"), MustParse("b.####.exr"));
}

TEST(FramePatternTest, NoTokenNamesPattern) {
  std::string error = ErrorOf("plates/sh010.exr");
  EXPECT_THAT(error, HasSubstr("'plates/sh010.exr'"));
  EXPECT_THAT(error, HasSubstr("no frame token"));
  EXPECT_THAT(ErrorOf(""), HasSubstr("empty frame pattern"));
}

TEST(FramePatternTest, TwoTokensNamePattern) {
  std::string error = ErrorOf("sh010_%04d/sh010.####.exr");
  EXPECT_THAT(error, HasSubstr("'sh010_%04d/sh010.####.exr'"));
  EXPECT_THAT(error, HasSubstr("more than one frame token ('%04d' and '####')"));
  EXPECT_THAT(ErrorOf("a.%d.%d"), HasSubstr("more than one frame token"));
}

TEST(FramePatternTest, UnsupportedConversionsAreNamed) {
  EXPECT_THAT(ErrorOf("a.%s.exr"), HasSubstr("unsupported conversion '%s'"));
  EXPECT_THAT(ErrorOf("a.%4d.exr"), HasSubstr("'%4d' pads with spaces; use '%04d'"));
  EXPECT_THAT(ErrorOf("a.%0d.exr"), HasSubstr("'%0d' has no width"));
  EXPECT_THAT(ErrorOf("a.%"), HasSubstr("unsupported conversion '%'"));
  EXPECT_THAT(ErrorOf("a.%099d.exr"), HasSubstr("more than 15 digits"));
  EXPECT_THAT(ErrorOf("a.################.exr"), HasSubstr("more than 15 digits"));
}

TEST(FramePatternTest, Glob) {
  EXPECT_EQ(MustParse("out/sh010.####.exr").Glob(), "out/sh010.*.exr");
  EXPECT_EQ(MustParse("out/sh010.%d.exr").Glob(), "out/sh010.*.exr");
}

TEST(FramePatternTest, MatchReturnsFrame) {
  FramePattern p = MustParse("out/sh010.####.exr");
  EXPECT_THAT(p.Match("out/sh010.1042.exr"), Optional(1042));
  EXPECT_THAT(p.Match("out/sh010.0007.exr"), Optional(7));
  EXPECT_THAT(p.Match("out/sh010.12345.exr"), Optional(12345));
  EXPECT_THAT(p.Match("out/sh010.-0005.exr"), Optional(-5));
}

TEST(FramePatternTest, MatchRejectsOtherSpellingsAndFiles) {
  FramePattern p = MustParse("out/sh010.####.exr");
  EXPECT_EQ(p.Match("out/sh010.42.exr"), std::nullopt);     // not padded
  EXPECT_EQ(p.Match("out/sh010.01042.exr"), std::nullopt);  // extra zero
  EXPECT_EQ(p.Match("out/sh010..exr"), std::nullopt);
  EXPECT_EQ(p.Match("out/sh010.10a2.exr"), std::nullopt);
  EXPECT_EQ(p.Match("out/sh010.1042.png"), std::nullopt);
  EXPECT_EQ(p.Match("out/sh020.1042.exr"), std::nullopt);
  EXPECT_EQ(p.Match("out/sh010.-0000.exr"), std::nullopt);
  EXPECT_EQ(p.Match("out/sh010.99999999999999999999999.exr"), std::nullopt);
  FramePattern unpadded = MustParse("f%d.png");
  EXPECT_THAT(unpadded.Match("f42.png"), Optional(42));
  EXPECT_EQ(unpadded.Match("f042.png"), std::nullopt);
}

TEST(FramePatternTest, MatchInvertsFormat) {
  for (const std::string text : {"a.####.exr", "b_%d", "%06d.tif", "c.#.jpg"}) {
    FramePattern p = MustParse(text);
    for (int64_t frame : {-1001, -1, 0, 1, 9, 10, 999, 1001, 123456789}) {
      EXPECT_THAT(p.Match(p.Format(frame)), Optional(frame)) << text << " " << frame;
    }
  }
}

}  // namespace
}  // namespace genfarm
