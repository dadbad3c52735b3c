// Thumbnail: a small JPEG preview of an output frame, made in memory by the worker that
// wrote the frame, for the scheduler's dashboard (which never reads frame files). Reads
// any format OpenImageIO reads (EXR, PNG, TIFF, ...), shrinks it to fit max_width x
// max_height (never enlarges), converts scene-linear float images to sRGB for display
// (8-bit integer images are taken as already display-referred), keeps RGB (grey is
// replicated, alpha dropped) and encodes a JPEG no bigger than `max_bytes`, lowering the
// quality when a busy frame would not fit.
//
//   ThumbnailOptions options;   // 320x320, quality 85, 64 KiB
//   GENFARM_ASSIGN_OR_RETURN(JpegThumbnail t, MakeThumbnail("/out/sh010_up.1042.exr", options));
//   send(t.jpeg, t.width, t.height);
//
// Errors: NotFound (no such file), DataLoss (unreadable or undecodable), InvalidArgument
// (empty image), ResourceExhausted (no JPEG under max_bytes even at the lowest quality).
// Thread-safety: the functions may be called from several threads at once.
#ifndef GENFARM_WORKER_FRAMES_THUMBNAIL_H_
#define GENFARM_WORKER_FRAMES_THUMBNAIL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace genfarm::worker {

struct ThumbnailOptions {
  int max_width = 320;
  int max_height = 320;
  int quality = 85;              // JPEG quality 1-100 tried first
  int64_t max_bytes = 64 << 10;  // the wire limit (v1::THUMBNAIL_MAX_BYTES)
};

struct JpegThumbnail {
  int width = 0;
  int height = 0;
  std::string jpeg;
};

// A preview of the image file at `path`. Reads the whole frame once (full resolution):
// call it for one frame per task, not per frame.
absl::StatusOr<JpegThumbnail> MakeThumbnail(const std::string& path,
                                            const ThumbnailOptions& options = {});

// A preview of interleaved float pixels (what MakeThumbnail decodes, and what unit tests
// feed in); converts linear to sRGB when `linear`.
absl::StatusOr<JpegThumbnail> EncodeThumbnail(const float* pixels, int width, int height,
                                              int channels, bool linear,
                                              const ThumbnailOptions& options = {});

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_FRAMES_THUMBNAIL_H_
