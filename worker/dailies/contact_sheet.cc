#include "worker/dailies/contact_sheet.h"

#include <OpenImageIO/imagebufalgo.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace genfarm::worker {
namespace {

int RoundUpToEven(int v) { return v + v % 2; }

}  // namespace

ContactSheetLayout ContactSheetLayout::For(int thumbnails, int frame_width, int frame_height,
                                           const ContactSheetOptions& options) {
  ContactSheetLayout l;
  l.thumbnails = std::max(0, thumbnails);
  l.columns = std::max(1, std::min(options.columns, std::max(1, l.thumbnails)));
  l.rows = std::max(1, (l.thumbnails + l.columns - 1) / l.columns);
  l.thumb_width = std::max(16, options.thumbnail_width);
  l.thumb_height =
      std::max(16, static_cast<int>(static_cast<int64_t>(l.thumb_width) *
                                    std::max(1, frame_height) / std::max(1, frame_width)));
  l.margin = std::max(0, options.margin);
  l.title_height = std::max(0, options.title_height);
  l.width = RoundUpToEven(l.columns * l.thumb_width + (l.columns + 1) * l.margin);
  l.height = RoundUpToEven(l.title_height + l.rows * l.thumb_height + (l.rows + 1) * l.margin);
  l.jpeg_quality = options.jpeg_quality;
  return l;
}

int ContactSheetLayout::X(int index) const {
  return margin + (index % columns) * (thumb_width + margin);
}
int ContactSheetLayout::Y(int index) const {
  return title_height + margin + (index / columns) * (thumb_height + margin);
}

std::vector<int> SampleForSheet(int count, int max_thumbnails) {
  std::vector<int> picked;
  if (count <= 0) return picked;
  const int k = std::max(1, std::min(count, max_thumbnails));
  if (k == 1) return {0};
  for (int i = 0; i < k; ++i) {
    picked.push_back(static_cast<int>(static_cast<int64_t>(i) * (count - 1) / (k - 1)));
  }
  return picked;
}

ContactSheet::ContactSheet(const ContactSheetLayout& layout, std::string font,
                           const std::string& title)
    : layout_(layout), font_(std::move(font)) {
  sheet_.reset(OIIO::ImageSpec(layout_.width, layout_.height, 3, OIIO::TypeDesc::FLOAT));
  const float background[3] = {0.08f, 0.08f, 0.08f};
  OIIO::ImageBufAlgo::fill(sheet_, background);
  if (layout_.title_height > 0 && !title.empty()) {
    const float white[3] = {0.9f, 0.9f, 0.9f};
    const int size = std::max(10, layout_.title_height / 2);
    if (!OIIO::ImageBufAlgo::render_text(sheet_, layout_.margin,
                                         layout_.title_height / 2 + layout_.margin / 2, title, size,
                                         font_, white, OIIO::ImageBufAlgo::TextAlignX::Left,
                                         OIIO::ImageBufAlgo::TextAlignY::Center)) {
      title_status_ = absl::InternalError(
          absl::StrCat("contact sheet title with font ", font_, ": ", sheet_.geterror()));
    }
  }
}

absl::Status ContactSheet::Add(const OIIO::ImageBuf& display, const BurnInText& label) {
  if (!title_status_.ok()) return title_status_;
  if (next_ >= layout_.thumbnails) {
    return absl::OutOfRangeError(
        absl::StrCat("contact sheet holds ", layout_.thumbnails, " thumbnails"));
  }
  OIIO::ImageBuf thumb;
  OIIO::ROI size(0, layout_.thumb_width, 0, layout_.thumb_height, 0, 1, 0, display.nchannels());
  if (!OIIO::ImageBufAlgo::resize(thumb, display, "", 0, size)) {
    return absl::InternalError(absl::StrCat("contact sheet thumbnail: ", thumb.geterror()));
  }
  if (absl::Status s = BurnIn(label, font_, &thumb); !s.ok()) return s;
  if (!OIIO::ImageBufAlgo::paste(sheet_, layout_.X(next_), layout_.Y(next_), 0, 0, thumb)) {
    return absl::InternalError(absl::StrCat("contact sheet paste: ", sheet_.geterror()));
  }
  ++next_;
  return absl::OkStatus();
}

absl::Status ContactSheet::Write(const std::string& path,
                                 const std::function<absl::Status()>& before_rename) const {
  return WriteImageAtomically(sheet_, path, layout_.jpeg_quality, before_rename);
}

absl::Status WriteImageAtomically(const OIIO::ImageBuf& image, const std::string& path,
                                  int jpeg_quality,
                                  const std::function<absl::Status()>& before_rename) {
  static std::atomic<int> counter{0};
  const std::filesystem::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) {
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) {
      return absl::PermissionDeniedError(absl::StrCat(
          "cannot create output folder ", target.parent_path().string(), ": ", ec.message()));
    }
  }
  // The temporary keeps the real extension so OIIO picks the same writer.
  const std::string temp =
      (target.parent_path() / absl::StrCat(".", target.stem().string(), ".tmp-", getpid(), "-",
                                           counter++, target.extension().string()))
          .string();
  OIIO::ImageBuf out(image.spec());
  out.copy_pixels(image);
  out.specmod().attribute("Compression", absl::StrCat("jpeg:", jpeg_quality));
  out.specmod().attribute("Software", "GenFarm dailies");
  if (!out.write(temp, OIIO::TypeDesc::UINT8)) {
    std::remove(temp.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", out.geterror()));
  }
  if (before_rename) {
    if (absl::Status fenced = before_rename(); !fenced.ok()) {
      std::remove(temp.c_str());
      return fenced;
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(temp.c_str());
    return absl::InternalError(
        absl::StrCat("cannot rename ", temp, " to ", path, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace genfarm::worker
