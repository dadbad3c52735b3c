// ModelKind: how a model turns frames into frames. Shared by the runtime's Manifest and
// the frame pipeline's ModelTraits, so both speak of the same kinds (torch-free).
//
//   GENFARM_ASSIGN_OR_RETURN(ModelKind kind, ParseModelKind("upscale"));
//   ModelKindName(kind);  // "upscale"
#ifndef GENFARM_WORKER_RUNTIME_MODEL_KIND_H_
#define GENFARM_WORKER_RUNTIME_MODEL_KIND_H_

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace genfarm::worker {

enum class ModelKind {
  kUpscale,      // forward(x): [N,3,H,W] -> [N,3,H*scale,W*scale]; one output per input
  kInterpolate,  // forward(img0, img1, timestep[N,1,1,1]) -> [N,3,H,W]; in-between frames
};

// "upscale" / "interpolate". Inline so torch-free users need not link the runtime.
inline const char* ModelKindName(ModelKind kind) {
  switch (kind) {
    case ModelKind::kUpscale:
      return "upscale";
    case ModelKind::kInterpolate:
      return "interpolate";
  }
  return "unknown";
}

inline absl::StatusOr<ModelKind> ParseModelKind(absl::string_view kind) {
  if (kind == "upscale") return ModelKind::kUpscale;
  if (kind == "interpolate") return ModelKind::kInterpolate;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown model kind \"", kind, "\" (expected upscale or interpolate)"));
}

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_RUNTIME_MODEL_KIND_H_
