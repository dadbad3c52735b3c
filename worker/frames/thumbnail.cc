#include "worker/frames/thumbnail.h"

#include <OpenImageIO/filesystem.h>
#include <OpenImageIO/imagebuf.h>
#include <OpenImageIO/imagebufalgo.h>
#include <OpenImageIO/imageio.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"

namespace genfarm::worker {
namespace {

absl::Status OiioError(const std::string& what, const std::string& detail) {
  return absl::DataLossError(
      absl::StrCat(what, ": ", detail.empty() ? "unknown OpenImageIO error" : detail));
}

bool IsFloat(OIIO::TypeDesc type) {
  return type.basetype == OIIO::TypeDesc::FLOAT || type.basetype == OIIO::TypeDesc::HALF ||
         type.basetype == OIIO::TypeDesc::DOUBLE;
}

// JPEG bytes of `image` (3-channel float, display-referred) at `quality`. Encoded in
// memory: OIIO's IOVecOutput proxy takes the writer's bytes, so no temporary file lands
// beside the outputs.
absl::StatusOr<std::string> EncodeJpeg(OIIO::ImageBuf& image, int quality) {
  image.specmod().attribute("CompressionQuality", quality);
  std::vector<unsigned char> bytes;
  OIIO::Filesystem::IOVecOutput out(bytes);
  image.set_write_ioproxy(&out);
  const bool ok = image.write("thumbnail.jpg", OIIO::TypeDesc::UINT8, "jpeg");
  image.set_write_ioproxy(nullptr);
  if (!ok) return OiioError("thumbnail JPEG encode", image.geterror());
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

absl::StatusOr<JpegThumbnail> EncodeThumbnail(const float* pixels, int width, int height,
                                              int channels, bool linear,
                                              const ThumbnailOptions& options) {
  if (pixels == nullptr || width <= 0 || height <= 0 || channels <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("thumbnail of an empty image (", width, "x", height, "x", channels, ")"));
  }
  OIIO::ImageSpec spec(width, height, channels, OIIO::TypeDesc::FLOAT);
  OIIO::ImageBuf src(spec, const_cast<float*>(pixels));  // wraps, does not copy or write

  // Display RGB: grey replicated, alpha and extra channels dropped.
  const int order[3] = {0, channels >= 3 ? 1 : 0, channels >= 3 ? 2 : 0};
  OIIO::ImageBuf rgb = OIIO::ImageBufAlgo::channels(src, 3, order);
  if (rgb.has_error()) return OiioError("thumbnail channels", rgb.geterror());
  // NaN/Inf from a broken render would poison the filter: show them black.
  OIIO::ImageBufAlgo::fixNonFinite(rgb, rgb, OIIO::ImageBufAlgo::NONFINITE_BLACK);

  const double scale = std::min({1.0, static_cast<double>(options.max_width) / width,
                                 static_cast<double>(options.max_height) / height});
  OIIO::ImageBuf small;
  if (scale < 1.0) {
    const int w = std::max(1, static_cast<int>(std::lround(width * scale)));
    const int h = std::max(1, static_cast<int>(std::lround(height * scale)));
    small = OIIO::ImageBufAlgo::resize(rgb, "", 0.0f, OIIO::ROI(0, w, 0, h, 0, 1, 0, 3));
    if (small.has_error()) return OiioError("thumbnail resize", small.geterror());
  } else {
    small = std::move(rgb);
  }
  // Filter in linear light, then encode for display.
  if (linear) {
    small = OIIO::ImageBufAlgo::colorconvert(small, "linear", "sRGB");
    if (small.has_error()) return OiioError("thumbnail colour conversion", small.geterror());
  }
  small.specmod().attribute("oiio:ColorSpace", "sRGB");

  JpegThumbnail out;
  out.width = small.spec().width;
  out.height = small.spec().height;
  // Noisy frames compress badly: step the quality down rather than send nothing.
  std::vector<int> qualities = {options.quality};
  for (int q : {60, 40, 20}) {
    if (q < options.quality) qualities.push_back(q);
  }
  for (int quality : qualities) {
    absl::StatusOr<std::string> jpeg = EncodeJpeg(small, quality);
    if (!jpeg.ok()) return jpeg.status();
    if (static_cast<int64_t>(jpeg->size()) <= options.max_bytes) {
      out.jpeg = *std::move(jpeg);
      return out;
    }
  }
  return absl::ResourceExhaustedError(absl::StrCat("thumbnail of ", width, "x", height,
                                                   " frame is over ", options.max_bytes,
                                                   " bytes even at JPEG quality 20"));
}

absl::StatusOr<JpegThumbnail> MakeThumbnail(const std::string& path,
                                            const ThumbnailOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat("frame file ", path, " does not exist"));
  }
  auto in = OIIO::ImageInput::open(path);
  if (!in) return OiioError(absl::StrCat("cannot open ", path), OIIO::geterror());
  const OIIO::ImageSpec& spec = in->spec();
  const int channels = std::min(spec.nchannels, 3);
  // Float images (EXR) are scene-linear; 8/16-bit images are display-referred already,
  // unless the file says otherwise.
  const std::string colour = spec.get_string_attribute("oiio:ColorSpace");
  const bool linear = colour.empty() ? IsFloat(spec.format)
                                     : OIIO::Strutil::iequals(colour, "linear") ||
                                           OIIO::Strutil::iequals(colour, "scene_linear");
  std::vector<float> pixels(static_cast<size_t>(spec.width) * spec.height * channels);
  if (!in->read_image(0, 0, 0, channels, OIIO::TypeDesc::FLOAT, pixels.data())) {
    return OiioError(absl::StrCat("cannot read ", path), in->geterror());
  }
  const int width = spec.width;
  const int height = spec.height;
  in->close();
  return EncodeThumbnail(pixels.data(), width, height, channels, linear, options);
}

}  // namespace genfarm::worker
