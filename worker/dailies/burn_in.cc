#include "worker/dailies/burn_in.h"

#include <OpenImageIO/imagebufalgo.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/frames/colour.h"

namespace genfarm::worker {

std::vector<std::string> DefaultFontCandidates() {
  return {
      "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
      "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
      "/usr/share/fonts/TTF/DejaVuSans.ttf",
      "/usr/share/fonts/dejavu/DejaVuSans.ttf",
  };
}

absl::StatusOr<std::string> FindFont(const std::vector<std::string>& candidates) {
  for (const std::string& path : candidates) {
    if (access(path.c_str(), R_OK) == 0) return path;
  }
  return absl::FailedPreconditionError(
      absl::StrCat("no font for the dailies burn-in: none of ", absl::StrJoin(candidates, ", "),
                   " is readable (install the Debian package fonts-dejavu-core)"));
}

OIIO::ImageBuf ToDisplay(const Frame& frame) {
  Image display = FrameColorSpace(frame.metadata) == ColorSpace::kLinear
                      ? ConvertColorSpace(frame.image, ColorSpace::kLinear, ColorSpace::kSrgb)
                      : frame.image;
  for (float& v : display.pixels) v = std::clamp(v, 0.f, 1.f);
  OIIO::ImageSpec spec(display.width, display.height, display.channels, OIIO::TypeDesc::FLOAT);
  OIIO::ImageBuf buf(spec);
  buf.set_pixels(buf.roi(), OIIO::TypeDesc::FLOAT, display.pixels.data());
  return buf;
}

absl::Status BurnIn(const BurnInText& text, const std::string& font, OIIO::ImageBuf* image) {
  const OIIO::ROI all = image->roi();
  const int width = all.width();
  const int height = all.height();
  const int bar = std::min(height, std::max(16, height / 10));
  const int font_size = std::max(9, bar * 3 / 4);
  const int pad = std::max(3, bar / 4);
  OIIO::ROI band(all.xbegin, all.xend, all.yend - bar, all.yend, 0, 1, 0, image->nchannels());
  if (!OIIO::ImageBufAlgo::mul(*image, *image, 0.3f, band)) {
    return absl::InternalError(absl::StrCat("burn-in bar: ", image->geterror()));
  }
  const float white[4] = {1.f, 1.f, 1.f, 1.f};
  OIIO::cspan<float> colour(white, static_cast<size_t>(std::min(4, image->nchannels())));
  const int baseline = all.yend - bar / 2;
  if (!text.left.empty() &&
      !OIIO::ImageBufAlgo::render_text(*image, all.xbegin + pad, baseline, text.left, font_size,
                                       font, colour, OIIO::ImageBufAlgo::TextAlignX::Left,
                                       OIIO::ImageBufAlgo::TextAlignY::Center, /*shadow=*/1)) {
    return absl::InternalError(
        absl::StrCat("burn-in text with font ", font, ": ", image->geterror()));
  }
  if (!text.right.empty() && width > 2 * pad &&
      !OIIO::ImageBufAlgo::render_text(*image, all.xend - pad, baseline, text.right, font_size,
                                       font, colour, OIIO::ImageBufAlgo::TextAlignX::Right,
                                       OIIO::ImageBufAlgo::TextAlignY::Center, /*shadow=*/1)) {
    return absl::InternalError(
        absl::StrCat("burn-in text with font ", font, ": ", image->geterror()));
  }
  return absl::OkStatus();
}

OIIO::ImageBuf PadToEven(const OIIO::ImageBuf& image) {
  const OIIO::ROI roi = image.roi();
  const int width = roi.width() + roi.width() % 2;
  const int height = roi.height() + roi.height() % 2;
  if (width == roi.width() && height == roi.height()) return image;
  OIIO::ImageSpec spec(width, height, image.nchannels(), OIIO::TypeDesc::FLOAT);
  OIIO::ImageBuf canvas(spec);
  OIIO::ImageBufAlgo::zero(canvas);
  OIIO::ImageBufAlgo::paste(canvas, 0, 0, 0, 0, image);
  return canvas;
}

}  // namespace genfarm::worker
