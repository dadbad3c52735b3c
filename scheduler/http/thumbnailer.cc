#include "scheduler/http/thumbnailer.h"

#include <OpenImageIO/filesystem.h>
#include <OpenImageIO/imagebuf.h>
#include <OpenImageIO/imagebufalgo.h>
#include <OpenImageIO/imageio.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"

namespace genfarm::scheduler {
namespace {

absl::Status OiioError(const std::string& what, const std::string& detail) {
  return absl::DataLossError(
      absl::StrCat(what, ": ", detail.empty() ? "unknown OpenImageIO error" : detail));
}

bool IsFloat(OIIO::TypeDesc type) {
  return type.basetype == OIIO::TypeDesc::FLOAT || type.basetype == OIIO::TypeDesc::HALF ||
         type.basetype == OIIO::TypeDesc::DOUBLE;
}

}  // namespace

absl::StatusOr<std::string> EncodeThumbnail(const float* pixels, int width, int height,
                                            int channels, bool linear,
                                            const ThumbnailerOptions& options) {
  if (width <= 0 || height <= 0 || channels <= 0) {
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
  small.specmod().attribute("CompressionQuality", options.quality);
  small.specmod().attribute("oiio:ColorSpace", "sRGB");

  std::vector<unsigned char> bytes;
  OIIO::Filesystem::IOVecOutput out(bytes);
  small.set_write_ioproxy(&out);
  if (!small.write("thumbnail.jpg", OIIO::TypeDesc::UINT8, "jpeg")) {
    return OiioError("thumbnail JPEG encode", small.geterror());
  }
  return std::string(bytes.begin(), bytes.end());
}

Thumbnailer::Thumbnailer(ThumbnailerOptions options) : options_(options) {}

absl::StatusOr<std::string> Thumbnailer::Make(const std::string& path) const {
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
  in->close();
  return EncodeThumbnail(pixels.data(), spec.width, spec.height, channels, linear, options_);
}

absl::StatusOr<std::string> Thumbnailer::Get(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return absl::NotFoundError(absl::StrCat("frame file ", path, " does not exist"));
  const auto mtime = std::filesystem::last_write_time(path, ec);
  if (ec) return absl::NotFoundError(absl::StrCat("frame file ", path, " does not exist"));
  const std::string key = absl::StrCat(path, "|", size, "|", mtime.time_since_epoch().count());
  {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(key);
    if (it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->jpeg;
    }
  }

  absl::StatusOr<std::string> jpeg;
  {
    decode_mu_.LockWhen(absl::Condition(
        +[](Thumbnailer* t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t->decode_mu_) {
          return t->decoding_ < std::max(1, t->options_.max_concurrent_decodes);
        },
        this));
    ++decoding_;
    decode_mu_.Unlock();
    jpeg = Make(path);
    absl::MutexLock lock(&decode_mu_);
    --decoding_;
  }
  if (!jpeg.ok()) return jpeg.status();

  absl::MutexLock lock(&mu_);
  if (index_.find(key) == index_.end()) {
    lru_.push_front(Entry{key, *jpeg});
    index_[key] = lru_.begin();
    bytes_ += static_cast<int64_t>(jpeg->size());
    while (bytes_ > options_.cache_bytes && lru_.size() > 1) {
      bytes_ -= static_cast<int64_t>(lru_.back().jpeg.size());
      index_.erase(lru_.back().key);
      lru_.pop_back();
    }
  }
  return jpeg;
}

int64_t Thumbnailer::cached_bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

}  // namespace genfarm::scheduler
