// Manifest: what a model in the model repository is and how to run it, parsed from the
// manifest.json beside its TorchScript file. Parsing checks every field and names the
// offending one, so a broken model folder is reported instead of crashing a worker.
//
//   GENFARM_ASSIGN_OR_RETURN(Manifest m,
//                            ParseManifest(text, "models/esrgan-slim-x2/manifest.json"));
//   if (m.kind == ModelKind::kUpscale) out_width = in_width * m.scale;
#ifndef GENFARM_WORKER_RUNTIME_MANIFEST_H_
#define GENFARM_WORKER_RUNTIME_MANIFEST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/runtime/model_kind.h"

namespace genfarm::worker {

struct ModelSource {
  std::string package;         // e.g. "@upscalerjs/esrgan-slim@1.0.0"
  std::string tarball_sha256;  // sha256 of the package tarball the weights came from
  std::string license;
  std::vector<std::string> files;
};

struct Manifest {
  std::string name;     // unique within a repository, e.g. "esrgan-slim-x2"
  std::string version;  // e.g. "1.0.0"
  std::string file;     // TorchScript file, relative to the model folder
  std::string sha256;   // lowercase hex sha256 of `file`
  ModelKind kind = ModelKind::kUpscale;
  int scale = 1;          // output/input size ratio (1 for interpolate)
  int inputs = 1;         // frames per forward item: 1 upscale, 2 interpolate
  int window_before = 0;  // temporal context the model needs: frames f-before..f+after
  int window_after = 0;
  std::string color_space = "srgb";  // colour space the model expects its frames in
  float value_min = 0.0f;            // value range of model inputs and outputs
  float value_max = 1.0f;
  int tile_size = 0;         // input tile edge in pixels; 0 = never tile
  int tile_overlap = 0;      // input pixels shared by neighbouring tiles
  int pad_multiple = 1;      // model input height/width must be multiples of this
  int batch_size = 1;        // preferred forward batch (frames or tiles)
  int64_t memory_bytes = 0;  // estimated device memory when loaded and running
  bool half = false;         // may run in float16 on devices that support it
  bool seeded = false;       // output depends on a random seed
  ModelSource source;

  // Set by ModelRepository, empty after ParseManifest: the model's folder and the
  // absolute-or-relative path of `file` inside it.
  std::string folder;
  std::string model_path;
};

// Parses and validates manifest JSON. `origin` names the file in error messages, e.g.
// "models/foo/manifest.json: field 'scale' must be a positive integer". Unknown kinds and
// missing required fields (name, version, file, sha256, kind, memory_bytes) are errors;
// unknown extra fields are ignored so newer manifests load on older workers.
absl::StatusOr<Manifest> ParseManifest(const std::string& json_text, const std::string& origin);

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_RUNTIME_MANIFEST_H_
