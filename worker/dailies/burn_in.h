// Display conversion and burn-in for dailies: scene-linear frames become sRGB display
// images (OIIO ImageBufs) with the shot and frame number burned into a bar at the bottom.
//
//   GENFARM_ASSIGN_OR_RETURN(std::string font, FindFont(DefaultFontCandidates()));
//   OIIO::ImageBuf display = ToDisplay(frame);               // sRGB, clamped to [0, 1]
//   GENFARM_RETURN_IF_ERROR(BurnIn({"sh010", "1042"}, font, &display));
//
// Thread-safety: free functions, safe on different images from several threads.
#ifndef GENFARM_WORKER_DAILIES_BURN_IN_H_
#define GENFARM_WORKER_DAILIES_BURN_IN_H_

#include <OpenImageIO/imagebuf.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/frames/frame.h"

namespace genfarm::worker {

// The DejaVu fonts of Debian's fonts-dejavu-core, most preferred first.
std::vector<std::string> DefaultFontCandidates();

// The first candidate that is a readable file. FailedPrecondition naming every path
// tried (and the package to install) when there is none.
absl::StatusOr<std::string> FindFont(const std::vector<std::string>& candidates);

// The frame as an sRGB display image: scene-linear data (FrameColorSpace) is encoded with
// the sRGB transfer function, then everything is clamped to [0, 1]. 3-channel float.
OIIO::ImageBuf ToDisplay(const Frame& frame);

struct BurnInText {
  std::string left;   // e.g. the shot
  std::string right;  // e.g. the frame number
};

// Darkens a bar across the bottom of `image` (height ~1/10 of the image, at least 16 px)
// and writes `text` into it in white. Internal when OIIO cannot render the text.
absl::Status BurnIn(const BurnInText& text, const std::string& font, OIIO::ImageBuf* image);

// `image` pasted at the top left of a black canvas whose sides are rounded up to even
// numbers (H.264 in yuv420p needs even dimensions). Returns the image itself when even.
OIIO::ImageBuf PadToEven(const OIIO::ImageBuf& image);

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_DAILIES_BURN_IN_H_
