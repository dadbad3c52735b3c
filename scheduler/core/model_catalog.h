// ModelCatalog: the model facts a plan needs (kind, temporal window), by model name, as
// the farm's workers have advertised them. Planning reads it instead of asking which
// workers happen to be connected, and the store keeps it (StateSink::PutModel), so the
// same spec plans the same tasks before and after a worker connects or a restart.
// A stage whose facts the catalog lacks makes its job wait, unplanned, until a worker
// advertises the model (see PrepareJob in job_builder.h).
//
//   ModelCatalog catalog;
//   if (catalog.Learn(info)) sink.PutModel(info);        // new or changed facts
//   std::optional<ModelFacts> facts = catalog.Find("rife-v4");
//
// Thread-safe: the core thread learns, the planner thread reads.
#ifndef GENFARM_SCHEDULER_CORE_MODEL_CATALOG_H_
#define GENFARM_SCHEDULER_CORE_MODEL_CATALOG_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "genfarm/v1/types.pb.h"
#include "scheduler/core/job_plan.h"

namespace genfarm::scheduler {

struct ModelFacts {
  std::string kind;  // "upscale", "interpolate", ...
  TemporalWindow window;
};

class ModelCatalog {
 public:
  // Records what `model` says of itself; true when its name was new or its planning
  // facts (kind, window) changed, i.e. when the store must hear of it.
  bool Learn(const v1::ModelInfo& model);
  std::optional<ModelFacts> Find(const std::string& name) const;
  // Every model, sorted by name.
  std::vector<v1::ModelInfo> All() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, v1::ModelInfo> models_ ABSL_GUARDED_BY(mu_);
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_MODEL_CATALOG_H_
