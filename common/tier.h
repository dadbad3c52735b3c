// The tier a job runs in: the one place that says what an unset tier means.
//
//   group.tier = EffectiveTier(job.spec.tier());
#ifndef GENFARM_COMMON_TIER_H_
#define GENFARM_COMMON_TIER_H_

#include "genfarm/v1/types.pb.h"

namespace genfarm {

// Work submitted without a tier is batch work (preemptible, fair-shared).
inline constexpr v1::Tier kDefaultTier = v1::TIER_BATCH;

inline v1::Tier EffectiveTier(v1::Tier tier) {
  return tier == v1::TIER_UNSPECIFIED ? kDefaultTier : tier;
}

}  // namespace genfarm

#endif  // GENFARM_COMMON_TIER_H_
