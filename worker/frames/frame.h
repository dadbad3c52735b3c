// A frame read from disk: the pixels as 3-channel float RGB plus what the source file said
// about itself, so the writer and the colour conversion can honour it.
//
//   GENFARM_ASSIGN_OR_RETURN(Frame frame, ReadFrame("/shots/sh010/plate.1042.exr", 1042));
//   if (frame.metadata.dropped_alpha) log("frame 1042: alpha channel dropped");
//   ColorSpace space = FrameColorSpace(frame.metadata);
#ifndef GENFARM_WORKER_FRAMES_FRAME_H_
#define GENFARM_WORKER_FRAMES_FRAME_H_

#include <string>
#include <vector>

#include "worker/frames/colour.h"
#include "worker/frames/image.h"

namespace genfarm::worker {

struct FrameMetadata {
  std::string format_name;  // OIIO plugin name: "openexr", "png", "tiff", "jpeg", "dpx"
  std::string pixel_type;   // source sample type: "half", "float", "uint8", "uint16", ...
  int bits_per_sample = 0;  // "oiio:BitsPerSample" (10 for 10-bit DPX), else the type size
  std::string color_space;  // "oiio:ColorSpace" as the file stated it, may be empty
  std::string compression;  // "compression" attribute, may be empty
  std::vector<std::string> channel_names;  // source channels, e.g. {"R","G","B","A"}
  int source_channels = 0;
  bool was_grey = false;          // single luminance channel, replicated to R, G and B
  bool dropped_alpha = false;     // the source had an alpha channel, not carried through
  bool dropped_channels = false;  // channels beyond RGB(A) were ignored
  // Display window of the source, when it differs from the data window we read.
  int full_x = 0, full_y = 0, full_width = 0, full_height = 0;
  int x = 0, y = 0;  // data window origin
};

struct Frame {
  Image image;  // 3-channel float RGB
  FrameMetadata metadata;
};

// The colour space a frame's pixels are in: the file's "oiio:ColorSpace" when it is one we
// know, else by sample type: half/float data is scene-linear, integer data is sRGB.
ColorSpace FrameColorSpace(const FrameMetadata& metadata);

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_FRAMES_FRAME_H_
