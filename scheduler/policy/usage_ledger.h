// UsageLedger: each project's recent use of the farm, the fair-share memory that
// ProjectUsage::decayed_usage hands the placement policy. The core tells it what runs;
// how history fades is the ledger's policy.
//
//   DecayingUsageLedger ledger(/*half_life=*/absl::Minutes(10));
//   ledger.Advance(now_ms);            // integrate what ran since the last call
//   ledger.AddRunning("show-03", 4);   // 4 slots run from now on
//   double recent = ledger.Usage().at("show-03");
//
// Not thread-safe: the core calls it on its one thread.
#ifndef GENFARM_SCHEDULER_POLICY_USAGE_LEDGER_H_
#define GENFARM_SCHEDULER_POLICY_USAGE_LEDGER_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"

namespace genfarm::scheduler {

class UsageLedger {
 public:
  virtual ~UsageLedger() = default;

  // Integrates the running slots recorded since the previous call up to `now_ms`, fades
  // the history, and forgets the running slots (the caller records them again).
  virtual void Advance(int64_t now_ms) = 0;
  // `slots` more slots of `project` run from now on.
  virtual void AddRunning(const std::string& project, double slots) = 0;
  // Recent slot-seconds per project (decayed).
  virtual const absl::flat_hash_map<std::string, double>& Usage() const = 0;
};

// Slurm-style decayed usage: slot-seconds, halved every `half_life`.
class DecayingUsageLedger : public UsageLedger {
 public:
  explicit DecayingUsageLedger(absl::Duration half_life) : half_life_(half_life) {}

  void Advance(int64_t now_ms) override;
  void AddRunning(const std::string& project, double slots) override;
  const absl::flat_hash_map<std::string, double>& Usage() const override { return usage_; }

 private:
  absl::Duration half_life_;
  absl::flat_hash_map<std::string, double> usage_;    // decayed slot-seconds
  absl::flat_hash_map<std::string, double> running_;  // slots since the last Advance
  int64_t last_ms_ = 0;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_POLICY_USAGE_LEDGER_H_
