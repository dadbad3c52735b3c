// ThumbnailStore: the dashboard's previews of output frames, kept in the scheduler's
// memory. Workers make the JPEGs from the frames they write and send them with their
// results (v1::Result.thumbnail); the worker service puts each one here once the core has
// accepted the result, and the dashboard routes serve them. The scheduler never opens a
// frame file, on disk or on behalf of an HTTP request.
//
// Bounded three ways: an entry bigger than `max_entry_bytes` (the wire cap,
// v1::THUMBNAIL_MAX_BYTES) is dropped and counted; each (job, stage) keeps only its
// latest `frames_per_stage` frames (a re-rendered frame replaces its old preview, and the
// latest put always wins); and the total JPEG bytes stay under `max_bytes` by evicting
// the oldest frames of the least recently used (job, stage) first (a put or a read marks
// a (job, stage) used). Nothing is persisted: after a restart previews reappear as tasks
// finish.
//
//   ThumbnailStore thumbnails(RealClock::Get(), ThumbnailStoreOptions{}, &registry);
//   StoredThumbnail t;
//   t.frame = 1012;
//   t.jpeg = std::move(bytes);
//   thumbnails.Put(JobId(7), "upres", std::move(t));
//   for (const StoredThumbnail& t : thumbnails.Latest(JobId(7), "upres", 6)) ...;
//   std::optional<StoredThumbnail> one = thumbnails.Get(JobId(7), "upres", 1012);
//
// Thread-safe: one mutex; puts come from the core's executor, reads from HTTP threads.
// Returned entries share their JPEG bytes (immutable) with the store, so a read copies
// no image under the lock and an eviction never invalidates a response being sent.
#ifndef GENFARM_SCHEDULER_HTTP_THUMBNAIL_STORE_H_
#define GENFARM_SCHEDULER_HTTP_THUMBNAIL_STORE_H_

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/ids.h"
#include "genfarm/v1/worker_service.pb.h"

namespace prometheus {
class Counter;
class Gauge;
class Registry;
}  // namespace prometheus

namespace genfarm::scheduler {

struct ThumbnailStoreOptions {
  int64_t max_bytes = 32 << 20;                       // total JPEG bytes kept
  int64_t max_entry_bytes = v1::THUMBNAIL_MAX_BYTES;  // bigger previews are dropped
  int frames_per_stage = 6;                           // latest frames kept per (job, stage)
};

struct StoredThumbnail {
  int64_t frame = 0;
  int32_t task = -1;
  int32_t width = 0;
  int32_t height = 0;
  std::string jpeg;  // Put() input only; read results carry `bytes`
  // Filled by the store:
  int64_t stored_ms = 0;  // when it was put (the clock's time)
  int64_t version = 0;    // unique and increasing, also across restarts: a cache key
  std::shared_ptr<const std::string> bytes;
};

struct ThumbnailStoreStats {
  int64_t bytes = 0;
  int64_t entries = 0;
  int64_t stored = 0;             // puts accepted
  int64_t dropped_too_large = 0;  // puts over max_entry_bytes
  int64_t dropped_empty = 0;      // puts without bytes
  int64_t evicted = 0;            // entries pushed out by the byte cap
};

class ThumbnailStore {
 public:
  // `registry` (optional) gets genfarm_scheduler_thumbnail_bytes (gauge),
  // genfarm_scheduler_thumbnails_stored_total and
  // genfarm_scheduler_thumbnails_dropped_total{reason="too_large|empty|evicted"}.
  explicit ThumbnailStore(Clock& clock, ThumbnailStoreOptions options = {},
                          prometheus::Registry* registry = nullptr);
  ~ThumbnailStore();
  ThumbnailStore(const ThumbnailStore&) = delete;
  ThumbnailStore& operator=(const ThumbnailStore&) = delete;

  // Keeps `thumbnail` as the newest preview of (job, stage). InvalidArgument when it has
  // no bytes, ResourceExhausted when it is over max_entry_bytes (both counted, nothing
  // stored).
  absl::Status Put(JobId job, const std::string& stage, StoredThumbnail thumbnail);

  // The newest `limit` previews of (job, stage), newest first (empty if none).
  std::vector<StoredThumbnail> Latest(JobId job, const std::string& stage, int limit);
  // The preview of one frame, if kept.
  std::optional<StoredThumbnail> Get(JobId job, const std::string& stage, int64_t frame);

  ThumbnailStoreStats stats() const;

 private:
  using Key = std::pair<int64_t, std::string>;  // (job id, stage name)
  struct Group {
    Key key;
    std::list<StoredThumbnail> frames;  // newest first
  };
  struct Metrics;

  // The group of `key`, marked most recently used; nullptr when absent.
  Group* Touch(const Key& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Remove(Group& group, std::list<StoredThumbnail>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EnforceByteCap() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock& clock_;
  const ThumbnailStoreOptions options_;
  std::unique_ptr<Metrics> metrics_;  // null without a registry
  mutable absl::Mutex mu_;
  std::list<Group> lru_ ABSL_GUARDED_BY(mu_);  // most recently used first
  absl::flat_hash_map<Key, std::list<Group>::iterator> index_ ABSL_GUARDED_BY(mu_);
  ThumbnailStoreStats stats_ ABSL_GUARDED_BY(mu_);
  int64_t last_version_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_HTTP_THUMBNAIL_STORE_H_
