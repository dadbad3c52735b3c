#include "scheduler/core/attempt_table.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/scheduler/core/fakes.h"

namespace genfarm::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

LiveAttempt On(const std::string& worker, int32_t index, int64_t deadline_ms = 0) {
  LiveAttempt a;
  a.task = TaskId{JobId(1), index};
  a.worker = WorkerId(worker);
  a.start_ms = 1000;
  a.deadline_ms = deadline_ms;
  return a;
}

TEST(AttemptTableTest, IdsAreNeverReusedAndTheHighWaterIsPersisted) {
  testing::RecordingSink sink;
  AttemptTable attempts(sink);
  const int64_t a = attempts.Grant(On("w1", 0));
  const int64_t b = attempts.Grant(On("w1", 1));
  EXPECT_LT(a, b);
  EXPECT_EQ(sink.high_water(), b);
  ASSERT_TRUE(attempts.End(b));
  EXPECT_FALSE(attempts.End(b));  // a duplicate end is a no-op
  EXPECT_GT(attempts.Grant(On("w1", 1)), b);
}

TEST(AttemptTableTest, RecoverySkipsFarPastTheStoredMark) {
  testing::RecordingSink sink;
  AttemptTable attempts(sink);
  attempts.RecoverHighWater(41, /*skip_ahead=*/true);
  attempts.Restore(41, On("w1", 0));
  // An id granted before the crash but never stored cannot be handed out again.
  EXPECT_GT(attempts.Grant(On("w2", 1)), 41 + 1000);
}

TEST(AttemptTableTest, IndexesAttemptsByWorkerAndFindsTimeouts) {
  testing::RecordingSink sink;
  AttemptTable attempts(sink);
  const int64_t a = attempts.Grant(On("w1", 0, /*deadline_ms=*/5000));
  const int64_t b = attempts.Grant(On("w2", 1));
  const int64_t c = attempts.Grant(On("w1", 2, /*deadline_ms=*/9000));
  EXPECT_THAT(attempts.OfWorker(WorkerId("w1")), ElementsAre(a, c));
  EXPECT_EQ(attempts.CountOf(WorkerId("w2")), 1u);
  EXPECT_THAT(attempts.TimedOut(4999), IsEmpty());
  EXPECT_THAT(attempts.TimedOut(5000), ElementsAre(a));
  EXPECT_THAT(attempts.TimedOut(10000), ElementsAre(a, c));
  attempts.End(b);
  EXPECT_EQ(attempts.CountOf(WorkerId("w2")), 0u);
  EXPECT_THAT(attempts.OfWorker(WorkerId("w2")), IsEmpty());
}

}  // namespace
}  // namespace genfarm::scheduler
