// What the frame pipeline needs to know about a model: a plain subset of the runtime's
// Manifest, so the pipeline builds and tests without LibTorch. The worker fills it from
// the Manifest:
//
//   ModelTraits traits;
//   traits.name = manifest.name;  traits.version = manifest.version;
//   traits.sha256 = manifest.sha256;
//   GENFARM_ASSIGN_OR_RETURN(traits.kind, ParseModelKind(manifest.kind));
//   GENFARM_ASSIGN_OR_RETURN(traits.color.space, ParseColorSpace(manifest.color_space));
//   traits.color.range = {manifest.value_range[0], manifest.value_range[1]};
//   traits.scale = manifest.scale;  traits.batch_size = manifest.batch_size;
#ifndef GENFARM_WORKER_PIPELINE_MODEL_TRAITS_H_
#define GENFARM_WORKER_PIPELINE_MODEL_TRAITS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "worker/frames/colour.h"
#include "worker/runtime/model_kind.h"

namespace genfarm::worker {

struct ModelTraits {
  std::string name;
  std::string version;
  std::string sha256;
  ModelKind kind = ModelKind::kUpscale;
  int scale = 1;          // output size = input size * scale; checked after each batch
  ModelColor color;       // colour space and value range the model expects
  int batch_size = 1;     // frames per Upscale call
  int window_before = 0;  // temporal window, informational for now
  int window_after = 0;
  bool seeded = false;  // generative: outputs depend on RunOptions seeds
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_PIPELINE_MODEL_TRAITS_H_
