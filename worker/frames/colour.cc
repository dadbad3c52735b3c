#include "worker/frames/colour.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace genfarm::worker {
namespace {

float Encode(float v, ColorSpace from, ColorSpace to) {
  if (from == to) return v;
  return to == ColorSpace::kSrgb ? LinearToSrgb(v) : SrgbToLinear(v);
}

float Scale(float unit, ValueRange r) { return r.lo + unit * (r.hi - r.lo); }
float Unscale(float scaled, ValueRange r) {
  const float span = r.hi - r.lo;
  return span == 0.f ? 0.f : (scaled - r.lo) / span;
}

}  // namespace

absl::StatusOr<ColorSpace> ParseColorSpace(absl::string_view name) {
  const std::string n = absl::AsciiStrToLower(name);
  if (n == "linear" || n == "scene_linear" || n == "scene-linear" || n == "lin_srgb" ||
      n == "lin_rec709" || n == "linear rec.709 (srgb)" || n == "raw") {
    return ColorSpace::kLinear;
  }
  if (n == "srgb" || n == "srgb_texture" || n == "srgb texture" || n == "srgb_display" ||
      n == "srgb - texture") {
    return ColorSpace::kSrgb;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported colour space \"", name, "\" (expected linear or srgb)"));
}

absl::string_view ColorSpaceName(ColorSpace space) {
  return space == ColorSpace::kLinear ? "linear" : "srgb";
}

absl::string_view OiioColorSpaceName(ColorSpace space) {
  return space == ColorSpace::kLinear ? "Linear" : "sRGB";
}

float SrgbToLinear(float e) {
  if (e < 0.f) return -SrgbToLinear(-e);
  if (e <= 0.04045f) return e / 12.92f;
  return std::pow((e + 0.055f) / 1.055f, 2.4f);
}

float LinearToSrgb(float l) {
  if (l < 0.f) return -LinearToSrgb(-l);
  if (l <= 0.0031308f) return l * 12.92f;
  return 1.055f * std::pow(l, 1.f / 2.4f) - 0.055f;
}

Image ConvertColorSpace(const Image& image, ColorSpace from, ColorSpace to) {
  Image out = image;
  if (from == to) return out;
  for (float& v : out.pixels) v = Encode(v, from, to);
  return out;
}

Image ScaleToRange(const Image& unit, ValueRange range) {
  Image out = unit;
  for (float& v : out.pixels) v = Scale(v, range);
  return out;
}

Image ScaleFromRange(const Image& scaled, ValueRange range) {
  Image out = scaled;
  for (float& v : out.pixels) v = Unscale(v, range);
  return out;
}

ModelInput ToModel(const Image& file_image, ColorSpace file_space, const ModelColor& model,
                   HighlightPolicy policy) {
  ModelInput in;
  in.image = Image(file_image.width, file_image.height, file_image.channels);
  const bool keep_residual = policy == HighlightPolicy::kResidual;
  if (keep_residual) in.residual = Image(file_image.width, file_image.height, file_image.channels);
  const int c = file_image.channels;
  const size_t n = size_t(file_image.width) * file_image.height;
  in.pixels = static_cast<int64_t>(n);
  for (size_t p = 0; p < n; ++p) {
    bool above = false;
    bool below = false;
    for (int ch = 0; ch < c; ++ch) {
      const size_t i = p * c + ch;
      const float x = file_image.pixels[i];
      const float e = Encode(x, file_space, model.space);
      float m = e;
      // NaN compares false both ways and is passed through for the model to deal with.
      if (e > 1.f) {
        m = 1.f;
        above = true;
      } else if (e < 0.f) {
        m = 0.f;
        below = true;
      }
      in.image.pixels[i] = Scale(m, model.range);
      // In-range channels get an exact zero residual, so float round-off in the transfer
      // functions never leaks into the output.
      if (keep_residual && m != e) in.residual.pixels[i] = x - Encode(m, model.space, file_space);
    }
    in.pixels_above_range += above;
    in.pixels_below_range += below;
    in.pixels_out_of_range += (above || below);
  }
  if (keep_residual && in.pixels_out_of_range == 0) in.residual = Image();
  return in;
}

Image FromModel(const Image& model_image, const ModelColor& model, ColorSpace file_space) {
  Image out = model_image;
  for (float& v : out.pixels) v = Encode(Unscale(v, model.range), model.space, file_space);
  return out;
}

absl::Status AddResidual(const Image& residual, ResidualFilter filter, Image* image) {
  if (residual.pixels.empty()) return absl::OkStatus();
  if (residual.channels != image->channels) {
    return absl::InvalidArgumentError(
        absl::StrCat("residual has ", residual.channels, " channels, image has ", image->channels));
  }
  const int c = image->channels;
  const double sx = double(residual.width) / image->width;
  const double sy = double(residual.height) / image->height;
  for (int y = 0; y < image->height; ++y) {
    for (int x = 0; x < image->width; ++x) {
      if (filter == ResidualFilter::kNearest) {
        const int rx = std::min(residual.width - 1, int(x * sx));
        const int ry = std::min(residual.height - 1, int(y * sy));
        for (int ch = 0; ch < c; ++ch) image->at(x, y, ch) += residual.at(rx, ry, ch);
        continue;
      }
      // Bilinear with pixel centres aligned (the convention of most resize kernels).
      const double fx = std::clamp((x + 0.5) * sx - 0.5, 0.0, double(residual.width - 1));
      const double fy = std::clamp((y + 0.5) * sy - 0.5, 0.0, double(residual.height - 1));
      const int x0 = int(fx);
      const int y0 = int(fy);
      const int x1 = std::min(x0 + 1, residual.width - 1);
      const int y1 = std::min(y0 + 1, residual.height - 1);
      const float ax = float(fx - x0);
      const float ay = float(fy - y0);
      for (int ch = 0; ch < c; ++ch) {
        const float top = residual.at(x0, y0, ch) * (1 - ax) + residual.at(x1, y0, ch) * ax;
        const float bot = residual.at(x0, y1, ch) * (1 - ax) + residual.at(x1, y1, ch) * ax;
        image->at(x, y, ch) += top * (1 - ay) + bot * ay;
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Image> BlendResiduals(const Image& a, const Image& b, float t) {
  if (a.pixels.empty() && b.pixels.empty()) return Image();
  if (!a.pixels.empty() && !b.pixels.empty() &&
      (a.width != b.width || a.height != b.height || a.channels != b.channels)) {
    return absl::InvalidArgumentError(absl::StrCat("residuals differ in size: ", a.width, "x",
                                                   a.height, " vs ", b.width, "x", b.height));
  }
  const Image& shape = a.pixels.empty() ? b : a;
  Image out(shape.width, shape.height, shape.channels);
  for (size_t i = 0; i < out.pixels.size(); ++i) {
    const float va = a.pixels.empty() ? 0.f : a.pixels[i];
    const float vb = b.pixels.empty() ? 0.f : b.pixels[i];
    out.pixels[i] = (1 - t) * va + t * vb;
  }
  return out;
}

std::string OverRangeMessage(int64_t frame, const ModelInput& input, HighlightPolicy policy) {
  const double total = input.pixels > 0 ? double(input.pixels) : 1.0;
  return absl::StrFormat("frame %d: %.1f%% pixels above 1.0, %.1f%% below 0.0, %s", frame,
                         100.0 * input.pixels_above_range / total,
                         100.0 * input.pixels_below_range / total,
                         policy == HighlightPolicy::kResidual ? "highlights preserved by residual"
                                                              : "clipped for the model");
}

}  // namespace genfarm::worker
