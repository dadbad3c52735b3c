// Colour conversion between a frame file's colour space and a model's colour space and
// value range, with a highlight policy that never silently clips scene-linear plates.
//
//   ModelColor model{ColorSpace::kSrgb, {0.f, 255.f}};
//   ModelInput in = ToModel(plate, ColorSpace::kLinear, model);   // clipped, 0..255 sRGB
//   Image out = FromModel(runner_output, model, ColorSpace::kLinear);
//   AddResidual(in.residual, ResidualFilter::kNearest, &out);      // highlights restored
//   if (in.pixels_out_of_range > 0) log(OverRangeMessage(1042, in));
//
// HIGHLIGHT POLICY (HighlightPolicy::kResidual, the default)
// Models are trained on a bounded range: an sRGB model sees display-encoded [0, 1] (scaled
// to its value range), and a "linear" model is still fed [0, 1] scaled to its range.
// Scene-linear plates routinely carry values above 1.0 (speculars, sky, fire) and small
// negatives (grain after a colour grade). Clipping them would flatten highlights for good.
// So ToModel splits every pixel value x (in the file's colour space) in two:
//   model part   m = Clip01(Encode(x))        what the model sees (then range-scaled)
//   residual     r = x - Decode(m)            what clipping removed, in the file's space
// r is zero for every in-range value. After inference the caller converts the model output
// back (FromModel) and adds r back (AddResidual), resampled to the output size: nearest
// neighbour by default (exact for integer scales: every output pixel gets the residual of
// the input pixel it came from), or bilinear. For an identity model the round trip is
// exact; for a real model, the highlight keeps its energy while its in-range shoulder gets
// the model's detail. Interpolated frames get the time-weighted blend of both inputs'
// residuals ((1 - t) * ra + t * rb, see BlendResiduals). The counts of pixels with any
// channel above / below the range are returned so the worker can log them.
// HighlightPolicy::kClip drops the residual (the old, lossy behaviour) for models whose
// output must stay in range.
//
// Transfer functions: sRGB per IEC 61966-2-1 (linear segment below 0.0031308 / 0.04045),
// extended to negative values by odd symmetry and above 1.0 by the same power curve.
#ifndef GENFARM_WORKER_FRAMES_COLOUR_H_
#define GENFARM_WORKER_FRAMES_COLOUR_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/frames/image.h"

namespace genfarm::worker {

enum class ColorSpace {
  kLinear,  // scene-linear (Rec.709 primaries), the EXR default
  kSrgb,    // display-encoded sRGB, the default of 8/16-bit formats
};

// Accepts the manifest spellings ("linear", "scene_linear", "srgb") and OIIO's
// "oiio:ColorSpace" values ("Linear", "lin_srgb", "sRGB", "srgb_texture", ...),
// case-insensitively. Anything else is InvalidArgument (log-encoded plates are not handled).
absl::StatusOr<ColorSpace> ParseColorSpace(absl::string_view name);
// "linear" or "srgb" (the manifest spelling).
absl::string_view ColorSpaceName(ColorSpace space);
// The value OIIO writers understand for "oiio:ColorSpace": "Linear" or "sRGB".
absl::string_view OiioColorSpaceName(ColorSpace space);

float SrgbToLinear(float encoded);
float LinearToSrgb(float linear);

// Converts pixel values between colour spaces, unclipped (highlights survive).
Image ConvertColorSpace(const Image& image, ColorSpace from, ColorSpace to);

struct ValueRange {
  float lo = 0.f;
  float hi = 1.f;
};

// What a model expects: its colour space and the value range [0, 1] maps to.
struct ModelColor {
  ColorSpace space = ColorSpace::kSrgb;
  ValueRange range;
};

enum class HighlightPolicy { kResidual, kClip };
enum class ResidualFilter { kNearest, kBilinear };

// The result of ToModel.
struct ModelInput {
  Image image;     // in the model's space and range, clipped to the range
  Image residual;  // file-space residual (see policy); empty when policy is kClip
  int64_t pixels = 0;
  int64_t pixels_above_range = 0;   // any channel above the range before clipping
  int64_t pixels_below_range = 0;   // any channel below the range before clipping
  int64_t pixels_out_of_range = 0;  // union of the two
  bool has_residual() const { return pixels_out_of_range > 0 && !residual.pixels.empty(); }
};

// File image (in `file_space`) -> model image, applying the highlight policy.
ModelInput ToModel(const Image& file_image, ColorSpace file_space, const ModelColor& model,
                   HighlightPolicy policy = HighlightPolicy::kResidual);

// Model image -> file space: undoes the range scaling and the transfer function. Values the
// model put slightly outside its range are kept, not clipped.
Image FromModel(const Image& model_image, const ModelColor& model, ColorSpace file_space);

// Adds `residual` (any size) to `*image`, resampled to image's size. No-op for an empty
// residual. InvalidArgument on a channel-count mismatch.
absl::Status AddResidual(const Image& residual, ResidualFilter filter, Image* image);

// (1 - t) * a + t * b; either may be empty (treated as zero). Both non-empty must match.
absl::StatusOr<Image> BlendResiduals(const Image& a, const Image& b, float t);

// Value-range scaling alone: [0, 1] <-> [lo, hi].
Image ScaleToRange(const Image& unit, ValueRange range);
Image ScaleFromRange(const Image& scaled, ValueRange range);

// "frame 1042: 3.2% pixels above 1.0, 0.1% below 0.0, highlights preserved by residual".
std::string OverRangeMessage(int64_t frame, const ModelInput& input, HighlightPolicy policy);

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_FRAMES_COLOUR_H_
