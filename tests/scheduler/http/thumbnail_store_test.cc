#include "scheduler/http/thumbnail_store.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "tests/lib/metrics_test_util.h"

namespace genfarm::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;

StoredThumbnail Thumb(int64_t frame, size_t bytes, char fill = 'j') {
  StoredThumbnail t;
  t.frame = frame;
  t.task = static_cast<int32_t>(frame);
  t.width = 320;
  t.height = 180;
  t.jpeg = std::string(bytes, fill);
  return t;
}

ThumbnailStoreOptions Options(int64_t max_bytes, int64_t max_entry_bytes, int per_stage = 6) {
  ThumbnailStoreOptions o;
  o.max_bytes = max_bytes;
  o.max_entry_bytes = max_entry_bytes;
  o.frames_per_stage = per_stage;
  return o;
}

std::vector<int64_t> Frames(const std::vector<StoredThumbnail>& list) {
  std::vector<int64_t> out;
  for (const StoredThumbnail& t : list) out.push_back(t.frame);
  return out;
}

TEST(ThumbnailStoreTest, ServesWhatWasPutNewestFirst) {
  FakeClock clock;
  ThumbnailStore store(clock);
  ASSERT_TRUE(store.Put(JobId(1), "upres", Thumb(1001, 100, 'a')).ok());
  clock.Advance(absl::Seconds(1));
  ASSERT_TRUE(store.Put(JobId(1), "upres", Thumb(1002, 100, 'b')).ok());
  EXPECT_THAT(Frames(store.Latest(JobId(1), "upres", 10)), ElementsAre(1002, 1001));
  EXPECT_THAT(Frames(store.Latest(JobId(1), "upres", 1)), ElementsAre(1002));
  std::optional<StoredThumbnail> t = store.Get(JobId(1), "upres", 1001);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t->bytes, std::string(100, 'a'));
  EXPECT_EQ(t->width, 320);
  EXPECT_EQ(t->stored_ms, ToMillis(clock.Now() - absl::Seconds(1)));
  // Other jobs, stages and frames have nothing.
  EXPECT_FALSE(store.Get(JobId(1), "upres", 1003).has_value());
  EXPECT_FALSE(store.Get(JobId(2), "upres", 1001).has_value());
  EXPECT_FALSE(store.Get(JobId(1), "denoise", 1001).has_value());
  EXPECT_THAT(store.Latest(JobId(9), "upres", 10), IsEmpty());
}

TEST(ThumbnailStoreTest, LatestPutOfAFrameWinsWithANewVersion) {
  FakeClock clock;
  ThumbnailStore store(clock);
  ASSERT_TRUE(store.Put(JobId(1), "upres", Thumb(1001, 100, 'a')).ok());
  ASSERT_TRUE(store.Put(JobId(1), "upres", Thumb(1002, 100, 'b')).ok());
  const int64_t first = store.Get(JobId(1), "upres", 1001)->version;
  // Same clock reading: the version still moves, so the dashboard's URL changes.
  ASSERT_TRUE(store.Put(JobId(1), "upres", Thumb(1001, 50, 'c')).ok());
  std::optional<StoredThumbnail> t = store.Get(JobId(1), "upres", 1001);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t->bytes, std::string(50, 'c'));
  EXPECT_GT(t->version, first);
  EXPECT_THAT(Frames(store.Latest(JobId(1), "upres", 10)), ElementsAre(1001, 1002));
  EXPECT_EQ(store.stats().entries, 2);
  EXPECT_EQ(store.stats().bytes, 150);
}

TEST(ThumbnailStoreTest, KeepsOnlyTheLatestFramesPerStage) {
  FakeClock clock;
  ThumbnailStore store(clock, Options(1 << 20, 1 << 16, /*per_stage=*/2));
  for (int64_t f = 1; f <= 4; ++f) ASSERT_TRUE(store.Put(JobId(1), "upres", Thumb(f, 10)).ok());
  ASSERT_TRUE(store.Put(JobId(1), "retime", Thumb(1, 10)).ok());
  EXPECT_THAT(Frames(store.Latest(JobId(1), "upres", 10)), ElementsAre(4, 3));
  EXPECT_THAT(Frames(store.Latest(JobId(1), "retime", 10)), ElementsAre(1));
  EXPECT_EQ(store.stats().entries, 3);
  EXPECT_EQ(store.stats().bytes, 30);
  EXPECT_EQ(store.stats().evicted, 0);  // replaced by newer frames, not by the byte cap
}

TEST(ThumbnailStoreTest, DropsAndCountsEntriesOverTheCapAndEmptyOnes) {
  FakeClock clock;
  prometheus::Registry registry;
  ThumbnailStore store(clock, Options(1 << 20, 1000), &registry);
  EXPECT_TRUE(store.Put(JobId(1), "upres", Thumb(1, 1000)).ok());  // exactly the cap fits
  absl::Status big = store.Put(JobId(1), "upres", Thumb(2, 1001));
  EXPECT_EQ(big.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(big.message()), ::testing::HasSubstr("1001 bytes"));
  EXPECT_EQ(store.Put(JobId(1), "upres", Thumb(3, 0)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Frames(store.Latest(JobId(1), "upres", 10)), ElementsAre(1));
  ThumbnailStoreStats stats = store.stats();
  EXPECT_EQ(stats.stored, 1);
  EXPECT_EQ(stats.dropped_too_large, 1);
  EXPECT_EQ(stats.dropped_empty, 1);
  EXPECT_EQ(stats.bytes, 1000);
  using testing::CounterValue;
  using testing::GaugeValue;
  EXPECT_EQ(CounterValue(registry, "genfarm_scheduler_thumbnails_stored_total"), 1);
  EXPECT_EQ(CounterValue(registry, "genfarm_scheduler_thumbnails_dropped_total",
                         {{"reason", "too_large"}}),
            1);
  EXPECT_EQ(
      CounterValue(registry, "genfarm_scheduler_thumbnails_dropped_total", {{"reason", "empty"}}),
      1);
  EXPECT_EQ(
      CounterValue(registry, "genfarm_scheduler_thumbnails_dropped_total", {{"reason", "evicted"}}),
      0);
  EXPECT_EQ(GaugeValue(registry, "genfarm_scheduler_thumbnail_bytes"), 1000);
}

TEST(ThumbnailStoreTest, ByteCapEvictsTheLeastRecentlyUsedStageFirst) {
  FakeClock clock;
  prometheus::Registry registry;
  ThumbnailStore store(clock, Options(300, 100), &registry);
  ASSERT_TRUE(store.Put(JobId(1), "upres", Thumb(1, 100)).ok());
  ASSERT_TRUE(store.Put(JobId(1), "upres", Thumb(2, 100)).ok());
  ASSERT_TRUE(store.Put(JobId(2), "upres", Thumb(1, 100)).ok());
  // Someone looks at job 1: job 2 is now the least recently used.
  EXPECT_EQ(store.Latest(JobId(1), "upres", 6).size(), 2u);
  ASSERT_TRUE(store.Put(JobId(3), "upres", Thumb(1, 100)).ok());
  EXPECT_THAT(store.Latest(JobId(2), "upres", 6), IsEmpty());
  EXPECT_THAT(Frames(store.Latest(JobId(3), "upres", 6)), ElementsAre(1));
  EXPECT_THAT(Frames(store.Latest(JobId(1), "upres", 6)), ElementsAre(2, 1));
  // Job 1 was read last, job 3 before it: job 3 goes, then job 1's oldest frame.
  ASSERT_TRUE(store.Put(JobId(4), "upres", Thumb(1, 100)).ok());
  ASSERT_TRUE(store.Put(JobId(4), "upres", Thumb(2, 100)).ok());
  EXPECT_THAT(store.Latest(JobId(3), "upres", 6), IsEmpty());
  EXPECT_THAT(Frames(store.Latest(JobId(1), "upres", 6)), ElementsAre(2));
  EXPECT_THAT(Frames(store.Latest(JobId(4), "upres", 6)), ElementsAre(2, 1));
  ThumbnailStoreStats stats = store.stats();
  EXPECT_EQ(stats.bytes, 300);
  EXPECT_EQ(stats.entries, 3);
  EXPECT_EQ(stats.evicted, 3);
  EXPECT_EQ(testing::CounterValue(registry, "genfarm_scheduler_thumbnails_dropped_total",
                                  {{"reason", "evicted"}}),
            3);
  EXPECT_EQ(testing::GaugeValue(registry, "genfarm_scheduler_thumbnail_bytes"), 300);
}

TEST(ThumbnailStoreTest, ANewPreviewIsNeverEvictedByItsOwnPut) {
  FakeClock clock;
  ThumbnailStore store(clock, Options(150, 1000));
  ASSERT_TRUE(store.Put(JobId(1), "upres", Thumb(1, 100)).ok());
  ASSERT_TRUE(store.Put(JobId(1), "upres", Thumb(2, 100)).ok());
  EXPECT_THAT(Frames(store.Latest(JobId(1), "upres", 6)), ElementsAre(2));
  // max_entry_bytes is clamped to the store's size.
  EXPECT_EQ(store.Put(JobId(1), "upres", Thumb(3, 151)).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(store.stats().bytes, 100);
}

TEST(ThumbnailStoreTest, ReadsShareBytesThatOutliveEviction) {
  FakeClock clock;
  ThumbnailStore store(clock, Options(100, 100));
  ASSERT_TRUE(store.Put(JobId(1), "upres", Thumb(1, 100, 'x')).ok());
  std::optional<StoredThumbnail> held = store.Get(JobId(1), "upres", 1);
  ASSERT_TRUE(held.has_value());
  ASSERT_TRUE(store.Put(JobId(2), "upres", Thumb(1, 100, 'y')).ok());  // evicts job 1
  EXPECT_FALSE(store.Get(JobId(1), "upres", 1).has_value());
  EXPECT_EQ(*held->bytes, std::string(100, 'x'));  // a response being sent is unaffected
}

}  // namespace
}  // namespace genfarm::scheduler
