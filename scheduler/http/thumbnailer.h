// Thumbnailer: small JPEG previews of output frames for the web dashboard, never the
// full frame. Reads any format OpenImageIO reads (EXR, PNG, TIFF, ...), shrinks it to
// at most `max_width` pixels wide, converts scene-linear float images to sRGB for
// display (8-bit integer images are taken as already display-referred) and encodes a
// JPEG in memory. Results are cached in memory, bounded by total bytes, keyed by the
// file's path, size and modification time, so a re-rendered frame gets a new preview.
//
//   Thumbnailer thumbs({.max_width = 320, .cache_bytes = 32 << 20});
//   absl::StatusOr<std::string> jpeg = thumbs.Get("/shows/sh010/up.1001.exr");
//
// Thread-safe: Get() may be called from many HTTP threads at once. Two threads asking
// for the same uncached frame may both decode it; the cache keeps one.
#ifndef GENFARM_SCHEDULER_HTTP_THUMBNAILER_H_
#define GENFARM_SCHEDULER_HTTP_THUMBNAILER_H_

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace genfarm::scheduler {

struct ThumbnailerOptions {
  int max_width = 320;
  int max_height = 320;
  int quality = 85;                // JPEG quality 1-100
  int64_t cache_bytes = 32 << 20;  // total JPEG bytes kept in memory
  int max_concurrent_decodes = 2;  // full frames are large: bound the memory in flight
};

class Thumbnailer {
 public:
  explicit Thumbnailer(ThumbnailerOptions options = {});

  // JPEG bytes of a preview of the image at `path`. NotFound if the file does not
  // exist, DataLoss if it cannot be read or decoded.
  absl::StatusOr<std::string> Get(const std::string& path);

  // Decodes and encodes without the cache; what Get() does on a miss.
  absl::StatusOr<std::string> Make(const std::string& path) const;

  int64_t cached_bytes() const;

 private:
  struct Entry {
    std::string key;
    std::string jpeg;
  };

  ThumbnailerOptions options_;
  mutable absl::Mutex mu_;
  std::list<Entry> lru_ ABSL_GUARDED_BY(mu_);  // most recent first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_ ABSL_GUARDED_BY(mu_);
  int64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Mutex decode_mu_;
  int decoding_ ABSL_GUARDED_BY(decode_mu_) = 0;
};

// Encodes a preview of an image given as interleaved float pixels (what the decoder
// produces, and what unit tests feed in): shrinks to fit max_width x max_height
// (never enlarges), converts linear to sRGB when `linear`, keeps RGB (grey is
// replicated, alpha dropped) and returns JPEG bytes.
absl::StatusOr<std::string> EncodeThumbnail(const float* pixels, int width, int height,
                                            int channels, bool linear,
                                            const ThumbnailerOptions& options);

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_HTTP_THUMBNAILER_H_
