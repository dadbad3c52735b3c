// Tests of worker/frames/thumbnail. EncodeThumbnailTest works on in-memory pixels (no
// disk); MakeThumbnailTest writes an EXR into a temporary folder and reads it back, so it
// is labelled as touching the disk (see tests/worker/frames/CMakeLists.txt).
// Moved here from tests/scheduler/http/thumbnailer_test.cc with the code it tests.
#include "worker/frames/thumbnail.h"

#include <OpenImageIO/filesystem.h>
#include <OpenImageIO/imageio.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/lib/frame_test_util.h"

namespace genfarm::worker {
namespace {

using testing_util::ScopedTempDir;

struct Decoded {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<unsigned char> pixels;
};

// Decodes JPEG bytes in memory.
Decoded DecodeJpeg(const std::string& jpeg) {
  std::vector<unsigned char> bytes(jpeg.begin(), jpeg.end());
  OIIO::Filesystem::IOMemReader reader(bytes.data(), bytes.size());
  auto in = OIIO::ImageInput::open("thumbnail.jpg", nullptr, &reader);
  Decoded out;
  if (!in) {
    ADD_FAILURE() << "cannot decode thumbnail: " << OIIO::geterror();
    return out;
  }
  EXPECT_STREQ(in->format_name(), "jpeg");
  out.width = in->spec().width;
  out.height = in->spec().height;
  out.channels = in->spec().nchannels;
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * out.channels);
  EXPECT_TRUE(in->read_image(0, 0, 0, out.channels, OIIO::TypeDesc::UINT8, out.pixels.data()))
      << in->geterror();
  return out;
}

std::vector<float> Flat(int width, int height, int channels, float value) {
  return std::vector<float>(static_cast<size_t>(width) * height * channels, value);
}

std::string Encode(const std::vector<float>& px, int w, int h, int c, bool linear) {
  absl::StatusOr<JpegThumbnail> t = EncodeThumbnail(px.data(), w, h, c, linear);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? t->jpeg : std::string();
}

TEST(EncodeThumbnailTest, ShrinksWideFramesToMaxWidthKeepingAspect) {
  std::vector<float> px = Flat(1280, 720, 4, 0.5f);
  absl::StatusOr<JpegThumbnail> t = EncodeThumbnail(px.data(), 1280, 720, 4, /*linear=*/false);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->jpeg.substr(0, 2), std::string("\xFF\xD8", 2));  // JPEG SOI marker
  EXPECT_EQ(t->width, 320);
  EXPECT_EQ(t->height, 180);
  Decoded d = DecodeJpeg(t->jpeg);
  EXPECT_EQ(d.width, 320);
  EXPECT_EQ(d.height, 180);
  EXPECT_EQ(d.channels, 3);
  EXPECT_LT(t->jpeg.size(), 20000u);
}

TEST(EncodeThumbnailTest, NeverEnlargesSmallFrames) {
  std::vector<float> px = Flat(64, 48, 3, 0.5f);
  Decoded d = DecodeJpeg(Encode(px, 64, 48, 3, false));
  EXPECT_EQ(d.width, 64);
  EXPECT_EQ(d.height, 48);
}

TEST(EncodeThumbnailTest, ConvertsSceneLinearToSrgbAndClipsHighlights) {
  // Linear 0.214 is sRGB ~0.5 (code value ~128); 6.0 (a sun) clips to white.
  std::vector<float> mid = Flat(32, 32, 3, 0.214f);
  Decoded d = DecodeJpeg(Encode(mid, 32, 32, 3, /*linear=*/true));
  ASSERT_FALSE(d.pixels.empty());
  EXPECT_NEAR(d.pixels[0], 128, 3);
  Decoded raw = DecodeJpeg(Encode(mid, 32, 32, 3, /*linear=*/false));
  ASSERT_FALSE(raw.pixels.empty());
  EXPECT_NEAR(raw.pixels[0], 55, 3);  // display-referred input is not converted
  std::vector<float> sun = Flat(32, 32, 3, 6.0f);
  Decoded s = DecodeJpeg(Encode(sun, 32, 32, 3, true));
  ASSERT_FALSE(s.pixels.empty());
  EXPECT_GE(s.pixels[0], 250);
}

TEST(EncodeThumbnailTest, GreyIsReplicatedToRgb) {
  std::vector<float> px = Flat(16, 16, 1, 1.0f);
  Decoded d = DecodeJpeg(Encode(px, 16, 16, 1, false));
  ASSERT_EQ(d.channels, 3);
  EXPECT_GE(d.pixels[1], 250);
  EXPECT_GE(d.pixels[2], 250);
}

TEST(EncodeThumbnailTest, EmptyImageIsAnError) {
  absl::StatusOr<JpegThumbnail> t = EncodeThumbnail(nullptr, 0, 0, 3, false);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
}

// White noise is the worst case for JPEG: the encoder lowers the quality to stay under
// the byte cap, and says so when even the lowest quality does not fit.
TEST(EncodeThumbnailTest, StaysUnderTheByteCapOrFails) {
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> noise(0.0f, 1.0f);
  std::vector<float> px(320 * 320 * 3);
  for (float& v : px) v = noise(gen);
  ThumbnailOptions options;
  absl::StatusOr<JpegThumbnail> best = EncodeThumbnail(px.data(), 320, 320, 3, false, options);
  ASSERT_TRUE(best.ok()) << best.status();
  options.max_bytes = static_cast<int64_t>(best->jpeg.size()) - 1;  // quality 85 no longer fits
  absl::StatusOr<JpegThumbnail> smaller = EncodeThumbnail(px.data(), 320, 320, 3, false, options);
  ASSERT_TRUE(smaller.ok()) << smaller.status();
  EXPECT_LE(static_cast<int64_t>(smaller->jpeg.size()), options.max_bytes);
  EXPECT_EQ(DecodeJpeg(smaller->jpeg).width, 320);
  options.max_bytes = 200;
  EXPECT_EQ(EncodeThumbnail(px.data(), 320, 320, 3, false, options).status().code(),
            absl::StatusCode::kResourceExhausted);
}

// Writes a half-float EXR the way the pipeline writes outputs (scene-linear), with OIIO
// directly so the fixture does not depend on the code under test.
void WriteExr(const std::string& path, int w, int h, float value) {
  auto out = OIIO::ImageOutput::create(path);
  ASSERT_TRUE(out) << OIIO::geterror();
  OIIO::ImageSpec spec(w, h, 3, OIIO::TypeDesc::HALF);
  ASSERT_TRUE(out->open(path, spec)) << out->geterror();
  std::vector<float> px = Flat(w, h, 3, value);
  ASSERT_TRUE(out->write_image(OIIO::TypeDesc::FLOAT, px.data())) << out->geterror();
  ASSERT_TRUE(out->close());
}

TEST(MakeThumbnailTest, MakesA320WideSrgbJpegFromAnExr) {
  ScopedTempDir dir;
  const std::string path = dir.File("up.0012.exr");
  WriteExr(path, 1024, 576, 0.214f);
  absl::StatusOr<JpegThumbnail> t = MakeThumbnail(path);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->width, 320);
  EXPECT_EQ(t->height, 180);
  EXPECT_LE(t->jpeg.size(), 64u << 10);
  Decoded d = DecodeJpeg(t->jpeg);
  EXPECT_EQ(d.width, 320);
  EXPECT_EQ(d.height, 180);
  ASSERT_FALSE(d.pixels.empty());
  EXPECT_NEAR(d.pixels[0], 128, 3);  // EXR is scene-linear: shown as sRGB
}

TEST(MakeThumbnailTest, MissingFileIsNotFound) {
  ScopedTempDir dir;
  EXPECT_EQ(MakeThumbnail(dir.File("nope.0001.exr")).status().code(), absl::StatusCode::kNotFound);
}

TEST(MakeThumbnailTest, UnreadableFileIsDataLoss) {
  ScopedTempDir dir;
  const std::string path = dir.File("broken.0001.exr");
  { std::ofstream(path) << "not an image"; }
  EXPECT_EQ(MakeThumbnail(path).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace genfarm::worker
