// Frame file I/O over OpenImageIO: read any plate format as float RGB, write outputs
// atomically (temporary name + rename) with provenance in the header.
//
//   GENFARM_ASSIGN_OR_RETURN(Frame in, ReadFrame("/shots/sh010/plate.1042.exr", 1042));
//   WriteOptions options;
//   options.provenance = Provenance{.model = "esrgan-slim-x2", .frame = 1042, ...};
//   GENFARM_RETURN_IF_ERROR(WriteFrame("/out/sh010_up.1042.exr", result, options));
//   GENFARM_ASSIGN_OR_RETURN(Provenance p, ReadProvenance("/out/sh010_up.1042.exr"));
//
// Errors name the frame (when known) and the file:
//   NotFound         "frame 1042: input file /x/plate.1042.exr not found"
//   DataLoss         "frame 1042: input file /x/plate.1042.exr is not a readable image: ..."
//   InvalidArgument  unsupported layouts (deep data, unknown output extension)
//   PermissionDenied / Internal / ResourceExhausted for output folders, writes and renames;
//   every output-side failure carries kFailureReasonPayload ("output_write" or "disk_full",
//   common/enum_names.h names), so a full disk is never taken for out-of-memory, nor an
//   OpenImageIO write error for a model error.
// Thread-safety: the functions are safe to call from several threads on different files.
#ifndef GENFARM_WORKER_FRAMES_FRAME_IO_H_
#define GENFARM_WORKER_FRAMES_FRAME_IO_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/frames/colour.h"
#include "worker/frames/frame.h"
#include "worker/frames/image.h"

namespace genfarm::worker {

// Status payload naming the failure reason (a common/enum_names.h name) when the adapter knows
// it better than the status code says; the worker daemon's ReasonForStatus reads it.
inline constexpr char kFailureReasonPayload[] = "genfarm.dev/failure_reason";

// "No frame number" for messages: the "frame N: " prefix is omitted.
inline constexpr int64_t kNoFrame = INT64_MIN;

// Reads subimage 0, MIP level 0, as 3-channel float RGB: grey is replicated, alpha and
// extra channels are dropped (and noted in the metadata).
absl::StatusOr<Frame> ReadFrame(const std::string& path, int64_t frame = kNoFrame);

// Who made an output frame. Written as header attributes genfarm:model, genfarm:model_version,
// genfarm:model_sha256, genfarm:params (JSON), genfarm:seed, genfarm:job, genfarm:task,
// genfarm:attempt (strings) and genfarm:frame (int), plus "Software". Formats without
// arbitrary metadata (TIFF, DPX, JPEG) also get the same record as JSON in "ImageDescription".
struct Provenance {
  std::string model;
  std::string model_version;
  std::string model_sha256;
  std::string params_json = "{}";
  int64_t seed = 0;
  std::string job;
  std::string task;
  std::string attempt;
  int64_t frame = kNoFrame;
  std::string software;  // filled by ReadProvenance; WriteFrame writes "GenFarm <version>"
};

enum class SampleType {
  kAuto,  // EXR: half, PNG/TIFF: uint16, JPEG: uint8, DPX: 10-bit
  kUint8,
  kUint16,
  kHalf,
  kFloat,
};

struct WriteOptions {
  SampleType sample_type = SampleType::kAuto;
  // Tag written as "oiio:ColorSpace". The pixels must already be in it. Default: the
  // extension's natural space (EXR linear, others sRGB), see DefaultColorSpaceForPath.
  std::optional<ColorSpace> color_space;
  std::optional<Provenance> provenance;  // its frame also prefixes error messages
  std::string compression;               // e.g. "zip", "piz", "dwaa"; empty = writer default
  int jpeg_quality = 95;
  // Lease fencing (docs/fencing.md): called before the temporary file is created, and again
  // once it is complete, right before it is renamed over `path`; an error stops the write
  // (removing the temporary) and is returned.
  std::function<absl::Status()> before_rename;
};

// Writes `image` (3-channel float) to `path`, format from the extension. Creates missing
// parent folders, writes ".<name>.tmp-<pid>-<n>" in the same folder and renames it over
// `path` (atomic on POSIX), removing the temporary on any failure.
absl::Status WriteFrame(const std::string& path, const Image& image,
                        const WriteOptions& options = {});

// Reads the provenance back from an output header (genfarm:* attributes, else the JSON
// in ImageDescription). NotFound when the file has none.
absl::StatusOr<Provenance> ReadProvenance(const std::string& path);

// EXR/HDR/float TIFF-less formats -> kLinear; everything else -> kSrgb.
ColorSpace DefaultColorSpaceForPath(const std::string& path);

// "uint8" etc. from FrameMetadata::pixel_type / bits_per_sample; kAuto when unknown.
SampleType SampleTypeFromMetadata(const FrameMetadata& metadata);

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_FRAMES_FRAME_IO_H_
