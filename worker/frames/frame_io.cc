#include "worker/frames/frame_io.h"

#include <OpenImageIO/imageio.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#ifndef GENFARM_VERSION
#define GENFARM_VERSION "dev"
#endif

namespace genfarm::worker {
namespace {

namespace fs = std::filesystem;

std::string FramePrefix(int64_t frame) {
  return frame == kNoFrame ? std::string() : absl::StrCat("frame ", frame, ": ");
}

int FindChannel(const OIIO::ImageSpec& spec, absl::string_view name) {
  for (int c = 0; c < spec.nchannels; ++c) {
    if (c < int(spec.channelnames.size()) && absl::EqualsIgnoreCase(spec.channelnames[c], name)) {
      return c;
    }
  }
  return -1;
}

std::string Extension(const std::string& path) {
  return absl::AsciiStrToLower(fs::path(path).extension().string());
}

OIIO::TypeDesc OiioType(SampleType type) {
  switch (type) {
    case SampleType::kUint8:
      return OIIO::TypeDesc::UINT8;
    case SampleType::kUint16:
      return OIIO::TypeDesc::UINT16;
    case SampleType::kHalf:
      return OIIO::TypeDesc::HALF;
    case SampleType::kFloat:
      return OIIO::TypeDesc::FLOAT;
    case SampleType::kAuto:
      break;
  }
  return OIIO::TypeDesc::UNKNOWN;
}

absl::Status FsError(const std::string& what, const std::error_code& ec) {
  const std::string message = absl::StrCat(what, ": ", ec.message());
  if (ec == std::errc::permission_denied || ec == std::errc::read_only_file_system) {
    return absl::PermissionDeniedError(message);
  }
  if (ec == std::errc::no_space_on_device) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

// An output-side failure, told apart as the user needs it: no space (ENOSPC, or the folder's
// file system has less free than the frame needs: OpenImageIO's writers do not keep errno),
// else not writable. Returns `status` with kFailureReasonPayload set, the message kept.
absl::Status OutputFault(absl::Status status, const fs::path& folder, uint64_t frame_bytes) {
  bool full = absl::StrContains(status.message(), "No space left") ||
              absl::StrContains(status.message(), "Disk quota exceeded");
  struct statvfs vfs;
  if (!full && statvfs(folder.empty() ? "." : folder.c_str(), &vfs) == 0) {
    const uint64_t free_bytes = uint64_t(vfs.f_bavail) * vfs.f_frsize;
    full = free_bytes < std::max<uint64_t>(frame_bytes, 64 * 1024);
  }
  if (full) {
    absl::Status out = absl::ResourceExhaustedError(
        absl::StrCat(status.message(), " (no space left on the output's file system)"));
    out.SetPayload(kFailureReasonPayload, absl::Cord("disk_full"));
    return out;
  }
  if (status.code() == absl::StatusCode::kResourceExhausted) {
    status = absl::InternalError(status.message());  // never "out of memory" for a write
  }
  status.SetPayload(kFailureReasonPayload, absl::Cord("output_write"));
  return status;
}

std::string TempPath(const fs::path& final_path) {
  static std::atomic<uint64_t> counter{0};
  const std::string name = absl::StrCat(".", final_path.filename().string(), ".tmp-", getpid(), "-",
                                        counter.fetch_add(1));
  return (final_path.parent_path() / name).string();
}

nlohmann::json ProvenanceJson(const Provenance& p) {
  nlohmann::json j = {{"model", p.model},
                      {"model_version", p.model_version},
                      {"model_sha256", p.model_sha256},
                      {"params", p.params_json},
                      {"seed", std::to_string(p.seed)},
                      {"job", p.job},
                      {"task", p.task},
                      {"attempt", p.attempt}};
  if (p.frame != kNoFrame) j["frame"] = p.frame;
  return nlohmann::json{{"genfarm", j}};
}

}  // namespace

absl::StatusOr<Frame> ReadFrame(const std::string& path, int64_t frame) {
  const std::string prefix = absl::StrCat(FramePrefix(frame), "input file ", path);
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (status.type() == fs::file_type::not_found) {
    return absl::NotFoundError(absl::StrCat(prefix, " not found"));
  }
  if (ec) {
    // Unreadable (permissions, a stale mount): the input's fault, the same on every worker.
    absl::Status unreadable = FsError(prefix, ec);
    unreadable.SetPayload(kFailureReasonPayload, absl::Cord("input_missing"));
    return unreadable;
  }
  if (fs::is_directory(status)) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, " is a directory, not an image"));
  }

  auto in = OIIO::ImageInput::open(path);
  if (!in) {
    return absl::DataLossError(
        absl::StrCat(prefix, " is not a readable image: ", OIIO::geterror()));
  }
  const OIIO::ImageSpec spec = in->spec();
  if (spec.deep) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, " holds deep data, not supported"));
  }
  if (spec.depth > 1 || spec.nchannels < 1 || spec.width < 1 || spec.height < 1) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, " has an unsupported layout (",
                                                   spec.width, "x", spec.height, "x", spec.depth,
                                                   ", ", spec.nchannels, " channels)"));
  }
  const int nch = spec.nchannels;
  std::vector<float> data(size_t(spec.width) * spec.height * nch);
  if (!in->read_image(0, 0, 0, nch, OIIO::TypeDesc::FLOAT, data.data())) {
    return absl::DataLossError(absl::StrCat(prefix, " is not a readable image: ", in->geterror()));
  }
  in->close();

  Frame out;
  FrameMetadata& md = out.metadata;
  md.format_name = in->format_name();
  md.pixel_type = spec.format.c_str();
  md.bits_per_sample = spec.get_int_attribute("oiio:BitsPerSample", int(spec.format.size() * 8));
  // Our own tag first (OIIO's EXR reader always reports "Linear"), then OIIO's, then the
  // DPX transfer characteristic (OIIO does not map it to oiio:ColorSpace).
  md.color_space = std::string(spec.get_string_attribute("genfarm:color_space"));
  if (md.color_space.empty()) {
    md.color_space = std::string(spec.get_string_attribute("oiio:ColorSpace"));
  }
  if (md.color_space.empty() && spec.get_string_attribute("dpx:Transfer") == "Linear") {
    md.color_space = "Linear";
  }
  md.compression = std::string(spec.get_string_attribute("compression"));
  md.channel_names = spec.channelnames;
  md.source_channels = nch;
  md.x = spec.x;
  md.y = spec.y;
  md.full_x = spec.full_x;
  md.full_y = spec.full_y;
  md.full_width = spec.full_width;
  md.full_height = spec.full_height;

  // Pick the source channels feeding R, G and B.
  int alpha = spec.alpha_channel;
  if (alpha < 0) alpha = FindChannel(spec, "A");
  int src[3] = {FindChannel(spec, "R"), FindChannel(spec, "G"), FindChannel(spec, "B")};
  if (src[0] < 0 || src[1] < 0 || src[2] < 0) {
    std::vector<int> colour;
    for (int c = 0; c < nch; ++c) {
      if (c != alpha) colour.push_back(c);
    }
    if (colour.empty()) colour.push_back(0);  // alpha only: treat as grey
    if (colour.size() < 3) {
      md.was_grey = true;
      src[0] = src[1] = src[2] = colour[0];
    } else {
      std::copy_n(colour.begin(), 3, src);
    }
  }
  md.dropped_alpha = alpha >= 0 && alpha != src[0];
  const int used = md.was_grey ? 1 : 3;
  md.dropped_channels = nch > used + (md.dropped_alpha ? 1 : 0);

  out.image = Image(spec.width, spec.height, 3);
  const size_t n = size_t(spec.width) * spec.height;
  for (size_t p = 0; p < n; ++p) {
    for (int c = 0; c < 3; ++c) out.image.pixels[p * 3 + c] = data[p * nch + src[c]];
  }
  return out;
}

ColorSpace DefaultColorSpaceForPath(const std::string& path) {
  const std::string ext = Extension(path);
  return (ext == ".exr" || ext == ".hdr" || ext == ".sxr" || ext == ".mxr") ? ColorSpace::kLinear
                                                                            : ColorSpace::kSrgb;
}

SampleType SampleTypeFromMetadata(const FrameMetadata& md) {
  if (md.pixel_type == "uint8") return SampleType::kUint8;
  if (md.pixel_type == "uint16") return SampleType::kUint16;
  if (md.pixel_type == "half") return SampleType::kHalf;
  if (md.pixel_type == "float") return SampleType::kFloat;
  return SampleType::kAuto;
}

namespace {

absl::Status WriteFrameUnclassified(const std::string& path, const Image& image,
                                    const WriteOptions& options) {
  const std::string prefix = absl::StrCat(
      FramePrefix(options.provenance ? options.provenance->frame : kNoFrame), "output file ", path);
  if (image.channels != 3 || image.width < 1 || image.height < 1 ||
      image.pixels.size() != size_t(image.width) * image.height * 3) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, ": image is ", image.width, "x",
                                                   image.height, "x", image.channels, " with ",
                                                   image.pixels.size(), " values, expected RGB"));
  }
  const fs::path final_path(path);
  std::error_code ec;
  if (final_path.has_parent_path()) {
    fs::create_directories(final_path.parent_path(), ec);
    if (ec) {
      return FsError(
          absl::StrCat(prefix, ": cannot create folder ", final_path.parent_path().string()), ec);
    }
  }

  auto out = OIIO::ImageOutput::create(path);
  if (!out) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, ": no image writer for this extension: ", OIIO::geterror()));
  }
  const std::string format = out->format_name();

  OIIO::TypeDesc type = OiioType(options.sample_type);
  int bits = 0;
  if (type == OIIO::TypeDesc::UNKNOWN) {
    if (format == "openexr") {
      type = OIIO::TypeDesc::HALF;
    } else if (format == "jpeg") {
      type = OIIO::TypeDesc::UINT8;
    } else if (format == "dpx") {
      type = OIIO::TypeDesc::UINT16;
      bits = 10;
    } else {
      type = OIIO::TypeDesc::UINT16;
    }
  }
  OIIO::ImageSpec spec(image.width, image.height, 3, type);
  const ColorSpace space = options.color_space.value_or(DefaultColorSpaceForPath(path));
  spec.attribute("oiio:ColorSpace", std::string(OiioColorSpaceName(space)));
  spec.attribute("genfarm:color_space", std::string(ColorSpaceName(space)));
  if (bits > 0) spec.attribute("oiio:BitsPerSample", bits);
  if (!options.compression.empty()) spec.attribute("compression", options.compression);
  if (format == "jpeg") spec.attribute("CompressionQuality", options.jpeg_quality);
  spec.attribute("Software", "GenFarm " GENFARM_VERSION);
  if (options.provenance) {
    const Provenance& p = *options.provenance;
    spec.attribute("genfarm:model", p.model);
    spec.attribute("genfarm:model_version", p.model_version);
    spec.attribute("genfarm:model_sha256", p.model_sha256);
    spec.attribute("genfarm:params", p.params_json);
    spec.attribute("genfarm:seed", std::to_string(p.seed));
    spec.attribute("genfarm:job", p.job);
    spec.attribute("genfarm:task", p.task);
    spec.attribute("genfarm:attempt", p.attempt);
    if (p.frame != kNoFrame) spec.attribute("genfarm:frame", int(p.frame));
    // Only OpenEXR keeps arbitrary (and typed) attributes; the others get a JSON record:
    // DPX in its user data block (its text fields are too short), the rest in
    // ImageDescription.
    const std::string record = ProvenanceJson(p).dump();
    if (format == "dpx") {
      spec.attribute("dpx:UserData", OIIO::TypeDesc(OIIO::TypeDesc::UINT8, int(record.size())),
                     record.data());
    } else if (format != "openexr") {
      spec.attribute("ImageDescription", record);
    }
  }

  // An attempt that has lost its lease starts no temporary file at all (one it left behind
  // when killed right after would be nobody's to sweep).
  if (options.before_rename) {
    if (absl::Status fenced = options.before_rename(); !fenced.ok()) {
      return absl::Status(fenced.code(), absl::StrCat(prefix, ": ", fenced.message()));
    }
  }
  const std::string temp = TempPath(final_path);
  auto fail = [&](absl::Status status) {
    out.reset();  // closes the file handle before unlinking
    std::error_code ignored;
    fs::remove(temp, ignored);
    return status;
  };
  if (!out->open(temp, spec)) {
    return fail(absl::InternalError(
        absl::StrCat(prefix, ": cannot open ", temp, " for writing: ", out->geterror())));
  }
  if (!out->write_image(OIIO::TypeDesc::FLOAT, image.pixels.data())) {
    return fail(absl::InternalError(absl::StrCat(prefix, ": write failed: ", out->geterror())));
  }
  if (!out->close()) {
    return fail(absl::InternalError(absl::StrCat(prefix, ": close failed: ", out->geterror())));
  }
  out.reset();
  if (options.before_rename) {
    if (absl::Status fenced = options.before_rename(); !fenced.ok()) {
      return fail(absl::Status(fenced.code(), absl::StrCat(prefix, ": ", fenced.message())));
    }
  }
  fs::rename(temp, final_path, ec);
  if (ec) return fail(FsError(absl::StrCat(prefix, ": cannot rename ", temp), ec));
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFrame(const std::string& path, const Image& image, const WriteOptions& options) {
  absl::Status status = WriteFrameUnclassified(path, image, options);
  // Bad arguments are the spec's or the caller's; a refused rename is the lease fence's.
  if (status.ok() || status.code() == absl::StatusCode::kInvalidArgument ||
      status.code() == absl::StatusCode::kAborted) {
    return status;
  }
  const fs::path folder = fs::path(path).parent_path();
  return OutputFault(std::move(status), folder, uint64_t(image.pixels.size()) * 2);
}

absl::StatusOr<Provenance> ReadProvenance(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat("file ", path, " not found"));
  }
  auto in = OIIO::ImageInput::open(path);
  if (!in) {
    return absl::DataLossError(
        absl::StrCat("file ", path, " is not a readable image: ", OIIO::geterror()));
  }
  const OIIO::ImageSpec& spec = in->spec();
  Provenance p;
  p.software = std::string(spec.get_string_attribute("Software"));
  // The JSON record first (non-EXR formats), then typed attributes where they survived.
  std::string record(spec.get_string_attribute("ImageDescription"));
  if (const OIIO::ParamValue* user = spec.find_attribute("dpx:UserData");
      user != nullptr && user->type().basetype == OIIO::TypeDesc::UINT8) {
    const char* bytes = static_cast<const char*>(user->data());
    record.assign(bytes, bytes + user->type().numelements());
  }
  nlohmann::json j = nlohmann::json::parse(record, nullptr, /*allow_exceptions=*/false);
  const bool has_record =
      !j.is_discarded() && j.is_object() && j.contains("genfarm") && j["genfarm"].is_object();
  const bool has_attributes = spec.find_attribute("genfarm:model") != nullptr;
  if (!has_record && !has_attributes) {
    return absl::NotFoundError(absl::StrCat("file ", path, " carries no GenFarm provenance"));
  }
  std::string seed;
  if (has_record) {
    const nlohmann::json& g = j["genfarm"];
    auto str = [&](const char* key) {
      return g.contains(key) && g[key].is_string() ? g[key].get<std::string>() : std::string();
    };
    p.model = str("model");
    p.model_version = str("model_version");
    p.model_sha256 = str("model_sha256");
    p.params_json = str("params");
    p.job = str("job");
    p.task = str("task");
    p.attempt = str("attempt");
    seed = str("seed");
    if (g.contains("frame") && g["frame"].is_number_integer()) p.frame = g["frame"].get<int64_t>();
  }
  auto take = [&](const char* name, std::string* field) {
    if (spec.find_attribute(name) != nullptr) *field = std::string(spec.get_string_attribute(name));
  };
  take("genfarm:model", &p.model);
  take("genfarm:model_version", &p.model_version);
  take("genfarm:model_sha256", &p.model_sha256);
  take("genfarm:params", &p.params_json);
  take("genfarm:job", &p.job);
  take("genfarm:task", &p.task);
  take("genfarm:attempt", &p.attempt);
  take("genfarm:seed", &seed);
  if (const OIIO::ParamValue* frame = spec.find_attribute("genfarm:frame", OIIO::TypeDesc::INT)) {
    p.frame = frame->get_int();
  }
  if (!absl::SimpleAtoi(seed, &p.seed)) {
    return absl::DataLossError(absl::StrCat("file ", path, ": bad genfarm:seed \"", seed, "\""));
  }
  return p;
}

}  // namespace genfarm::worker
