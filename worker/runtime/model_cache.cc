#include "worker/runtime/model_cache.h"

#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"

namespace genfarm::worker {
namespace {

std::string CacheKey(const std::string& model, const std::string& device) {
  return absl::StrCat(model, "@", device);
}

}  // namespace

ModelCache::ModelCache(ModelLoader& loader, const Clock& clock)
    : ModelCache(loader, clock, Options()) {}

ModelCache::ModelCache(ModelLoader& loader, const Clock& clock, Options options)
    : loader_(loader), clock_(clock), options_(options) {}

void ModelCache::SetBudget(const DeviceSpec& device, int64_t bytes) {
  absl::MutexLock lock(&mu_);
  budgets_[device.Key()] = bytes;
}

void ModelCache::SetObserver(CacheObserver observer) {
  absl::MutexLock lock(&mu_);
  observer_ = std::move(observer);
}

int64_t ModelCache::BudgetLocked(const DeviceSpec& device) const {
  auto it = budgets_.find(device.Key());
  if (it != budgets_.end()) return it->second;
  if (device.memory_total_bytes <= 0) return std::numeric_limits<int64_t>::max();
  return static_cast<int64_t>(static_cast<double>(device.memory_total_bytes) *
                              options_.default_memory_fraction);
}

int64_t ModelCache::UsedLocked(const std::string& device) const {
  int64_t used = 0;
  for (const Entry& e : lru_) {
    if (e.device == device) used += e.memory_bytes;  // loading entries hold their share too
  }
  return used;
}

int64_t ModelCache::used_bytes(const DeviceSpec& device) const {
  absl::MutexLock lock(&mu_);
  return UsedLocked(device.Key());
}

void ModelCache::EraseLocked(Lru::iterator it) {
  index_.erase(CacheKey(it->model, it->device));
  lru_.erase(it);
}

absl::Status ModelCache::MakeRoomLocked(const Manifest& manifest, const DeviceSpec& device,
                                        std::vector<CacheEvent>* events) {
  const std::string dev = device.Key();
  const int64_t budget = BudgetLocked(device);
  if (manifest.memory_bytes > budget) {
    return absl::ResourceExhaustedError(
        absl::StrCat("model ", manifest.name, " needs ", manifest.memory_bytes,
                     " bytes but the budget of ", dev, " is ", budget, " bytes"));
  }
  int64_t used = UsedLocked(dev);
  // Walk from least to most recently used, evicting what nobody holds.
  for (auto it = lru_.end(); it != lru_.begin() && used + manifest.memory_bytes > budget;) {
    --it;
    if (it->device != dev || it->loading || it->runner.use_count() > 1) continue;
    used -= it->memory_bytes;
    ++stats_.evictions;
    events->push_back(
        CacheEvent{CacheEvent::Type::kEviction, it->model, dev, 0.0, it->memory_bytes});
    spdlog::info("model cache: evicting {} from {} to make room for {}", it->model, dev,
                 manifest.name);
    auto victim = it++;  // `it` now points past the victim; the loop's --it revisits order
    EraseLocked(victim);
  }
  if (used + manifest.memory_bytes > budget) {
    std::vector<std::string> busy;
    for (const Entry& e : lru_) {
      if (e.device == dev) busy.push_back(absl::StrCat(e.model, " (", e.memory_bytes, " bytes)"));
    }
    return absl::ResourceExhaustedError(absl::StrCat(
        "model ", manifest.name, " needs ", manifest.memory_bytes, " bytes on ", dev, " but only ",
        budget - used, " of ", budget,
        " bytes are free and the resident models are in use: ", absl::StrJoin(busy, ", ")));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<ModelRunner>> ModelCache::Get(const Manifest& manifest,
                                                             const DeviceSpec& device) {
  const std::string dev = device.Key();
  const std::string key = CacheKey(manifest.name, dev);
  std::vector<CacheEvent> events;
  std::shared_ptr<ModelRunner> hit;
  absl::Status room;
  {
    absl::MutexLock lock(&mu_);
    while (true) {
      auto found = index_.find(key);
      if (found == index_.end()) break;
      Entry& entry = *found->second;
      if (entry.loading) {
        // Someone else is loading it: wait for their result instead of loading twice.
        // If their load fails the entry is gone and this caller tries itself.
        loaded_cv_.Wait(&mu_);
        continue;
      }
      if (entry.sha256 != manifest.sha256) {
        // The repository now has different weights under this name. Current holders keep
        // the old runner alive through their shared_ptr; new callers get the new one.
        ++stats_.evictions;
        events.push_back(
            CacheEvent{CacheEvent::Type::kEviction, entry.model, dev, 0.0, entry.memory_bytes});
        EraseLocked(found->second);
        break;
      }
      lru_.splice(lru_.begin(), lru_, found->second);
      ++stats_.hits;
      events.push_back(
          CacheEvent{CacheEvent::Type::kHit, manifest.name, dev, 0.0, manifest.memory_bytes});
      hit = entry.runner;
      break;
    }
    if (hit == nullptr) {
      room = MakeRoomLocked(manifest, device, &events);
      if (room.ok()) {
        Entry entry;
        entry.model = manifest.name;
        entry.version = manifest.version;
        entry.sha256 = manifest.sha256;
        entry.device = dev;
        entry.memory_bytes = manifest.memory_bytes;
        lru_.push_front(std::move(entry));
        index_[key] = lru_.begin();
      }
    }
  }
  if (hit != nullptr || !room.ok()) {
    Notify(events);
    if (hit != nullptr) return hit;
    return room;
  }

  const absl::Time start = clock_.Now();
  absl::StatusOr<std::unique_ptr<ModelRunner>> loaded = loader_.Load(manifest, device);
  const double seconds = absl::ToDoubleSeconds(clock_.Now() - start);

  absl::StatusOr<std::shared_ptr<ModelRunner>> result;
  {
    absl::MutexLock lock(&mu_);
    // Loading entries are never evicted or replaced, so ours is still indexed.
    auto it = index_.at(key);
    if (loaded.ok() && *loaded == nullptr) {
      loaded = absl::InternalError(absl::StrCat("model ", manifest.name, ": loader returned null"));
    }
    if (!loaded.ok()) {
      ++stats_.load_failures;
      EraseLocked(it);
      events.push_back(CacheEvent{CacheEvent::Type::kLoadFailure, manifest.name, dev, seconds,
                                  manifest.memory_bytes});
      result = loaded.status();
    } else {
      it->runner = std::shared_ptr<ModelRunner>(std::move(*loaded));
      it->loading = false;
      ++stats_.loads;
      stats_.load_seconds[manifest.name] += seconds;
      events.push_back(
          CacheEvent{CacheEvent::Type::kLoad, manifest.name, dev, seconds, manifest.memory_bytes});
      result = it->runner;
    }
    loaded_cv_.SignalAll();
  }
  if (result.ok()) {
    spdlog::info("model cache: loaded {} {} on {} in {:.3f} s", manifest.name, manifest.version,
                 dev, seconds);
  } else {
    spdlog::error("model cache: loading {} on {} failed: {}", manifest.name, dev,
                  result.status().ToString());
  }
  Notify(events);
  return result;
}

void ModelCache::EvictUnused() {
  std::vector<CacheEvent> events;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = lru_.begin(); it != lru_.end();) {
      auto next = std::next(it);
      if (!it->loading && it->runner.use_count() == 1) {
        ++stats_.evictions;
        events.push_back(
            CacheEvent{CacheEvent::Type::kEviction, it->model, it->device, 0.0, it->memory_bytes});
        EraseLocked(it);
      }
      it = next;
    }
  }
  Notify(events);
}

void ModelCache::Notify(const std::vector<CacheEvent>& events) {
  if (events.empty()) return;
  CacheObserver observer;
  {
    absl::MutexLock lock(&mu_);
    observer = observer_;
  }
  if (!observer) return;
  for (const CacheEvent& e : events) observer(e);
}

CacheStats ModelCache::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

std::vector<LoadedModel> ModelCache::loaded() const {
  absl::MutexLock lock(&mu_);
  std::vector<LoadedModel> out;
  for (const Entry& e : lru_) {
    if (e.loading) continue;
    out.push_back(
        LoadedModel{e.model, e.version, e.device, e.memory_bytes, e.runner.use_count() > 1});
  }
  return out;
}

}  // namespace genfarm::worker
