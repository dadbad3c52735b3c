#include "worker/frames/frame.h"

namespace genfarm::worker {

ColorSpace FrameColorSpace(const FrameMetadata& metadata) {
  if (!metadata.color_space.empty()) {
    absl::StatusOr<ColorSpace> parsed = ParseColorSpace(metadata.color_space);
    if (parsed.ok()) return *parsed;
  }
  const bool is_float = metadata.pixel_type == "half" || metadata.pixel_type == "float" ||
                        metadata.pixel_type == "double";
  return is_float ? ColorSpace::kLinear : ColorSpace::kSrgb;
}

}  // namespace genfarm::worker
