#include "scheduler/http/thumbnail_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace genfarm::scheduler {

struct ThumbnailStore::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : bytes(prometheus::BuildGauge()
                  .Name("genfarm_scheduler_thumbnail_bytes")
                  .Help("JPEG bytes of the dashboard's frame previews held in memory.")
                  .Register(registry)
                  .Add({})),
        stored(prometheus::BuildCounter()
                   .Name("genfarm_scheduler_thumbnails_stored_total")
                   .Help("Frame previews kept from accepted results.")
                   .Register(registry)
                   .Add({})),
        dropped(prometheus::BuildCounter()
                    .Name("genfarm_scheduler_thumbnails_dropped_total")
                    .Help("Frame previews not kept (too_large, empty) or evicted to stay under "
                          "the byte cap (evicted).")
                    .Register(registry)),
        too_large(dropped.Add({{"reason", "too_large"}})),
        empty(dropped.Add({{"reason", "empty"}})),
        evicted(dropped.Add({{"reason", "evicted"}})) {}

  prometheus::Gauge& bytes;
  prometheus::Counter& stored;
  prometheus::Family<prometheus::Counter>& dropped;
  prometheus::Counter& too_large;
  prometheus::Counter& empty;
  prometheus::Counter& evicted;
};

ThumbnailStore::ThumbnailStore(Clock& clock, ThumbnailStoreOptions options,
                               prometheus::Registry* registry)
    : clock_(clock),
      options_(options),
      metrics_(registry != nullptr ? std::make_unique<Metrics>(*registry) : nullptr) {}

ThumbnailStore::~ThumbnailStore() = default;

absl::Status ThumbnailStore::Put(JobId job, const std::string& stage, StoredThumbnail thumbnail) {
  const int64_t size = static_cast<int64_t>(thumbnail.jpeg.size());
  // An entry may not exceed the whole store either, or the cap could not hold after it.
  const int64_t entry_cap = std::min(options_.max_entry_bytes, options_.max_bytes);
  absl::MutexLock lock(&mu_);
  if (size == 0) {
    ++stats_.dropped_empty;
    if (metrics_) metrics_->empty.Increment();
    return absl::InvalidArgumentError(absl::StrCat("thumbnail of job ", job.value(), " stage '",
                                                   stage, "' frame ", thumbnail.frame,
                                                   " has no bytes"));
  }
  if (size > entry_cap) {
    ++stats_.dropped_too_large;
    if (metrics_) metrics_->too_large.Increment();
    return absl::ResourceExhaustedError(
        absl::StrCat("thumbnail of job ", job.value(), " stage '", stage, "' frame ",
                     thumbnail.frame, " is ", size, " bytes, over the ", entry_cap, " byte limit"));
  }
  const Key key(job.value(), stage);
  Group* group = Touch(key);
  if (group == nullptr) {
    lru_.push_front(Group{key, {}});
    index_[key] = lru_.begin();
    group = &lru_.front();
  }
  for (auto it = group->frames.begin(); it != group->frames.end(); ++it) {
    if (it->frame == thumbnail.frame) {  // re-rendered: the new preview replaces the old
      Remove(*group, it);
      break;
    }
  }
  const int64_t now_ms = ToMillis(clock_.Now());
  thumbnail.stored_ms = now_ms;
  // Microseconds of the clock, bumped when two puts share one: unique, and a restarted
  // scheduler does not hand out a version a browser cached from the previous run.
  last_version_ = std::max(last_version_ + 1, absl::ToUnixMicros(clock_.Now()));
  thumbnail.version = last_version_;
  thumbnail.bytes = std::make_shared<const std::string>(std::move(thumbnail.jpeg));
  thumbnail.jpeg.clear();
  group->frames.push_front(std::move(thumbnail));
  stats_.bytes += size;
  ++stats_.entries;
  ++stats_.stored;
  if (metrics_) metrics_->stored.Increment();
  while (static_cast<int>(group->frames.size()) > std::max(1, options_.frames_per_stage)) {
    Remove(*group, std::prev(group->frames.end()));
  }
  EnforceByteCap();
  if (metrics_) metrics_->bytes.Set(static_cast<double>(stats_.bytes));
  return absl::OkStatus();
}

std::vector<StoredThumbnail> ThumbnailStore::Latest(JobId job, const std::string& stage,
                                                    int limit) {
  std::vector<StoredThumbnail> out;
  absl::MutexLock lock(&mu_);
  const Group* group = Touch(Key(job.value(), stage));
  if (group == nullptr) return out;
  for (const StoredThumbnail& t : group->frames) {
    if (static_cast<int>(out.size()) >= limit) break;
    out.push_back(t);
  }
  return out;
}

std::optional<StoredThumbnail> ThumbnailStore::Get(JobId job, const std::string& stage,
                                                   int64_t frame) {
  absl::MutexLock lock(&mu_);
  const Group* group = Touch(Key(job.value(), stage));
  if (group == nullptr) return std::nullopt;
  for (const StoredThumbnail& t : group->frames) {
    if (t.frame == frame) return t;
  }
  return std::nullopt;
}

ThumbnailStoreStats ThumbnailStore::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

ThumbnailStore::Group* ThumbnailStore::Touch(const Key& key) {
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);  // iterators stay valid
  return &*it->second;
}

void ThumbnailStore::Remove(Group& group, std::list<StoredThumbnail>::iterator it) {
  stats_.bytes -= static_cast<int64_t>(it->bytes->size());
  --stats_.entries;
  group.frames.erase(it);
}

void ThumbnailStore::EnforceByteCap() {
  // Oldest frames of the least recently used group first. The newest put is at the front
  // of the front group and fits on its own, so the loop ends before reaching it.
  while (stats_.bytes > options_.max_bytes && !lru_.empty()) {
    Group& victim = lru_.back();
    Remove(victim, std::prev(victim.frames.end()));
    ++stats_.evicted;
    if (metrics_) metrics_->evicted.Increment();
    if (victim.frames.empty()) {
      index_.erase(victim.key);
      lru_.pop_back();
    }
  }
}

}  // namespace genfarm::scheduler
