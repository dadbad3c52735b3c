// ContactSheet: a grid of frame thumbnails under a title bar, for dailies review.
//
//   ContactSheetLayout layout = ContactSheetLayout::For(/*thumbnails=*/24, 1920, 1080, {});
//   ContactSheet sheet(layout, font, "sh010 - sh010_upres_retime - 24 frames 1001-1024");
//   for (...) GENFARM_RETURN_IF_ERROR(sheet.Add(display_frame, {"sh010", "1001"}));
//   GENFARM_RETURN_IF_ERROR(sheet.Write("/renders/sh010/dailies/sh010_contact.jpg"));
//
// Write is atomic (temporary name in the same folder, then rename). Long sequences are
// sampled: SampleForSheet picks at most max_thumbnails frames spread evenly, first and
// last included. Not thread-safe; one sheet per task.
#ifndef GENFARM_WORKER_DAILIES_CONTACT_SHEET_H_
#define GENFARM_WORKER_DAILIES_CONTACT_SHEET_H_

#include <OpenImageIO/imagebuf.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "worker/dailies/burn_in.h"

namespace genfarm::worker {

struct ContactSheetOptions {
  int columns = 6;
  int thumbnail_width = 256;
  int margin = 8;
  int title_height = 40;
  int max_thumbnails = 120;
  int jpeg_quality = 92;
};

// Where everything goes. Sheet sides are even.
struct ContactSheetLayout {
  int thumbnails = 0;
  int columns = 0;
  int rows = 0;
  int thumb_width = 0;
  int thumb_height = 0;  // keeps the frame's aspect ratio
  int margin = 0;
  int title_height = 0;
  int width = 0;
  int height = 0;
  int jpeg_quality = 92;

  static ContactSheetLayout For(int thumbnails, int frame_width, int frame_height,
                                const ContactSheetOptions& options);
  // Top-left corner of thumbnail `index` (row-major).
  int X(int index) const;
  int Y(int index) const;
};

// The indexes (into a sequence of `count` frames) that go on the sheet.
std::vector<int> SampleForSheet(int count, int max_thumbnails);

class ContactSheet {
 public:
  ContactSheet(const ContactSheetLayout& layout, std::string font, const std::string& title);

  // Resizes `display` (sRGB) to the thumbnail size, burns `label` into it and places it
  // in the next cell.
  absl::Status Add(const OIIO::ImageBuf& display, const BurnInText& label);

  // Writes the sheet, format from the extension (.jpg, .png, ...). `before_rename` as in
  // WriteImageAtomically.
  absl::Status Write(const std::string& path,
                     const std::function<absl::Status()>& before_rename = {}) const;

  const OIIO::ImageBuf& image() const { return sheet_; }

 private:
  ContactSheetLayout layout_;
  std::string font_;
  OIIO::ImageBuf sheet_;
  int next_ = 0;
  absl::Status title_status_;
};

// Writes `image` to `path` as 8-bit via a temporary file in the same folder and a rename,
// creating missing folders. PermissionDenied/Internal errors name the path. `before_rename`
// (may be empty) runs right before the rename; its error removes the temporary and is returned
// (lease fencing, docs/fencing.md).
absl::Status WriteImageAtomically(const OIIO::ImageBuf& image, const std::string& path,
                                  int jpeg_quality = 92,
                                  const std::function<absl::Status()>& before_rename = {});

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_DAILIES_CONTACT_SHEET_H_
