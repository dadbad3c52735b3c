#include "scheduler/policy/exponential_retry_policy.h"

#include "absl/random/random.h"
#include "gtest/gtest.h"
#include "scheduler/policy/blame_policy.h"

namespace genfarm::scheduler {
namespace {

class ExponentialRetryPolicyTest : public ::testing::Test {
 protected:
  absl::BitGen gen_;
  ExponentialRetryPolicy policy_{{absl::Seconds(1), absl::Seconds(60), 0.0}, gen_};
};

TEST_F(ExponentialRetryPolicyTest, ChargedFailuresBackOffExponentiallyWhileRetriesRemain) {
  RetryDecision first = policy_.Decide(v1::FAILURE_REASON_MODEL_ERROR, 1, 3);
  EXPECT_TRUE(first.charge);
  EXPECT_TRUE(first.retry);
  EXPECT_EQ(first.delay, absl::Seconds(1));
  EXPECT_EQ(policy_.Decide(v1::FAILURE_REASON_MODEL_ERROR, 3, 3).delay, absl::Seconds(4));
  EXPECT_FALSE(policy_.Decide(v1::FAILURE_REASON_MODEL_ERROR, 4, 3).retry);
}

TEST_F(ExponentialRetryPolicyTest, LostWorkersCancelsAndPreemptionsAreNotChargedNorDelayed) {
  for (v1::FailureReason reason : {v1::FAILURE_REASON_WORKER_LOST, v1::FAILURE_REASON_CANCELED,
                                   v1::FAILURE_REASON_PREEMPTED}) {
    EXPECT_FALSE(policy_.Charges(reason)) << reason;
    RetryDecision d = policy_.Decide(reason, 0, 0);
    EXPECT_TRUE(d.retry) << reason;
    EXPECT_EQ(d.delay, absl::ZeroDuration()) << reason;
  }
}

TEST_F(ExponentialRetryPolicyTest, BadSpecIsNeverRetried) {
  RetryDecision d = policy_.Decide(v1::FAILURE_REASON_BAD_SPEC, 1, 5);
  EXPECT_FALSE(d.retry);
  EXPECT_TRUE(d.charge);  // it still counts as an attempt
}

TEST(ThresholdBlamePolicyTest, BadInputIsNotTheWorkersFaultAndThresholdKeepsItOff) {
  ThresholdBlamePolicy blame(3, absl::Minutes(10));
  EXPECT_FALSE(blame.BlamesWorker(v1::FAILURE_REASON_INPUT_MISSING));
  EXPECT_FALSE(blame.BlamesWorker(v1::FAILURE_REASON_INPUT_CORRUPT));
  EXPECT_FALSE(blame.BlamesWorker(v1::FAILURE_REASON_BAD_SPEC));
  EXPECT_TRUE(blame.BlamesWorker(v1::FAILURE_REASON_MODEL_ERROR));
  EXPECT_EQ(blame.KeepOffFor(2), absl::ZeroDuration());
  EXPECT_EQ(blame.KeepOffFor(3), absl::Minutes(10));
}

TEST(ThresholdBlamePolicyTest, StorageFaultsAreNotTheWorkersButItsOwnFaultsAre) {
  ThresholdBlamePolicy blame(3, absl::Minutes(10));
  EXPECT_FALSE(blame.BlamesWorker(v1::FAILURE_REASON_OUTPUT_WRITE));
  EXPECT_FALSE(blame.BlamesWorker(v1::FAILURE_REASON_DISK_FULL));
  EXPECT_FALSE(blame.BlamesWorker(v1::FAILURE_REASON_PREEMPTED));
  EXPECT_TRUE(blame.BlamesWorker(v1::FAILURE_REASON_OUT_OF_MEMORY));
  EXPECT_TRUE(blame.BlamesWorker(v1::FAILURE_REASON_TIMEOUT));
  EXPECT_TRUE(blame.BlamesWorker(v1::FAILURE_REASON_WORKER_LOST));
  EXPECT_TRUE(blame.BlamesWorker(v1::FAILURE_REASON_MODEL_UNAVAILABLE));
}

}  // namespace
}  // namespace genfarm::scheduler
