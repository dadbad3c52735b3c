#include "scheduler/http/thumbnailer.h"

#include <OpenImageIO/filesystem.h>
#include <OpenImageIO/imageio.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace genfarm::scheduler {
namespace {

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
  out.width = in->spec().width;
  out.height = in->spec().height;
  out.channels = in->spec().nchannels;
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * out.channels);
  in->read_image(0, 0, 0, out.channels, OIIO::TypeDesc::UINT8, out.pixels.data());
  return out;
}

std::vector<float> Flat(int width, int height, int channels, float value) {
  return std::vector<float>(static_cast<size_t>(width) * height * channels, value);
}

TEST(EncodeThumbnailTest, ShrinksWideFramesToMaxWidthKeepingAspect) {
  std::vector<float> px = Flat(1280, 720, 4, 0.5f);
  absl::StatusOr<std::string> jpeg = EncodeThumbnail(px.data(), 1280, 720, 4, /*linear=*/false, {});
  ASSERT_TRUE(jpeg.ok()) << jpeg.status();
  EXPECT_EQ(jpeg->substr(0, 2), std::string("\xFF\xD8", 2));  // JPEG SOI marker
  Decoded d = DecodeJpeg(*jpeg);
  EXPECT_EQ(d.width, 320);
  EXPECT_EQ(d.height, 180);
  EXPECT_EQ(d.channels, 3);
  EXPECT_LT(jpeg->size(), 20000u);
}

TEST(EncodeThumbnailTest, NeverEnlargesSmallFrames) {
  std::vector<float> px = Flat(64, 48, 3, 0.5f);
  absl::StatusOr<std::string> jpeg = EncodeThumbnail(px.data(), 64, 48, 3, false, {});
  ASSERT_TRUE(jpeg.ok()) << jpeg.status();
  Decoded d = DecodeJpeg(*jpeg);
  EXPECT_EQ(d.width, 64);
  EXPECT_EQ(d.height, 48);
}

TEST(EncodeThumbnailTest, ConvertsSceneLinearToSrgbAndClipsHighlights) {
  // Linear 0.214 is sRGB ~0.5 (code value ~128); 6.0 (a sun) clips to white.
  std::vector<float> mid = Flat(32, 32, 3, 0.214f);
  Decoded d = DecodeJpeg(*EncodeThumbnail(mid.data(), 32, 32, 3, /*linear=*/true, {}));
  ASSERT_FALSE(d.pixels.empty());
  EXPECT_NEAR(d.pixels[0], 128, 3);
  Decoded raw = DecodeJpeg(*EncodeThumbnail(mid.data(), 32, 32, 3, /*linear=*/false, {}));
  EXPECT_NEAR(raw.pixels[0], 55, 3);  // display-referred input is not converted
  std::vector<float> sun = Flat(32, 32, 3, 6.0f);
  Decoded s = DecodeJpeg(*EncodeThumbnail(sun.data(), 32, 32, 3, true, {}));
  EXPECT_GE(s.pixels[0], 250);
}

TEST(EncodeThumbnailTest, GreyIsReplicatedToRgb) {
  std::vector<float> px = Flat(16, 16, 1, 1.0f);
  Decoded d = DecodeJpeg(*EncodeThumbnail(px.data(), 16, 16, 1, false, {}));
  ASSERT_EQ(d.channels, 3);
  EXPECT_GE(d.pixels[1], 250);
  EXPECT_GE(d.pixels[2], 250);
}

TEST(EncodeThumbnailTest, EmptyImageIsAnError) {
  absl::StatusOr<std::string> jpeg = EncodeThumbnail(nullptr, 0, 0, 3, false, {});
  EXPECT_EQ(jpeg.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ThumbnailerTest, MissingFileIsNotFound) {
  Thumbnailer thumbs;
  EXPECT_EQ(thumbs.Get("/nonexistent/genfarm/frame.0001.exr").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(thumbs.cached_bytes(), 0);
}

}  // namespace
}  // namespace genfarm::scheduler
