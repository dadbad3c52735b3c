#include "scheduler/core/model_catalog.h"

#include <algorithm>

namespace genfarm::scheduler {

bool ModelCatalog::Learn(const v1::ModelInfo& model) {
  // Only what planning reads is kept: the per-worker fields (loaded, memory) vary by host.
  v1::ModelInfo facts;
  facts.set_name(model.name());
  facts.set_version(model.version());
  facts.set_sha256(model.sha256());
  facts.set_kind(model.kind());
  facts.set_scale(model.scale());
  facts.set_window_before(model.window_before());
  facts.set_window_after(model.window_after());
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = models_.try_emplace(model.name(), facts);
  if (inserted) return true;
  const v1::ModelInfo& old = it->second;
  const bool changed = old.kind() != facts.kind() || old.window_before() != facts.window_before() ||
                       old.window_after() != facts.window_after() ||
                       old.version() != facts.version() || old.sha256() != facts.sha256();
  if (changed) it->second = facts;
  return changed;
}

std::optional<ModelFacts> ModelCatalog::Find(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return std::nullopt;
  return ModelFacts{it->second.kind(),
                    TemporalWindow{it->second.window_before(), it->second.window_after()}};
}

std::vector<v1::ModelInfo> ModelCatalog::All() const {
  std::vector<v1::ModelInfo> out;
  {
    absl::MutexLock lock(&mu_);
    out.reserve(models_.size());
    for (const auto& [name, info] : models_) out.push_back(info);
  }
  std::sort(out.begin(), out.end(),
            [](const v1::ModelInfo& a, const v1::ModelInfo& b) { return a.name() < b.name(); });
  return out;
}

}  // namespace genfarm::scheduler
