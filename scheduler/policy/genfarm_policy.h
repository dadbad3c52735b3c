// GenFarmPolicy: the default placement policy, built for AI work.
//
// Order (which queued group goes next):
//   1. tier: interactive > dailies > batch;
//   2. priority (0-100), higher first;
//   3. fair share between projects: the group whose project is furthest below its
//      weighted share of the farm's slots goes first. share(p) = w(p) / sum of w over
//      projects with queued or running work; deficit(p) = share(p) - used(p) with
//      used(p) = (1-h) * running(p) / slots + h * decayed(p) / sum of decayed, where
//      decayed(p) is p's slot-seconds with a half-life (the core's usage_half_life)
//      and h = history_weight (0 when no usage history is given).
//      This is weighted max-min fairness over slots, the single-resource case of
//      Dominant Resource Fairness (Ghodsi et al., NSDI 2011), and the same "furthest
//      below its share first" rule as Slurm's fair-share factor.
//   4. age: the longest-waiting runnable task first, then the lower job id.
//   Within one job, a ready later stage goes before an earlier one, so frames flow end
//   to end (retime right behind upres) rather than stage by stage.
// Preference (which worker takes it):
//   1. a worker that already holds the model warm (no reload);
//   2. the tightest device-memory fit (packing keeps big devices free for big models);
//   3. the worker with fewer free slots (fill one machine before spreading).
// Delay for a warm worker (delay scheduling, Zaharia et al., EuroSys 2010): when the
// best free worker for the next group is cold but some busy worker holds the model
// warm, the group lets later groups go first for up to `affinity_wait_ms` since it last
// started a task; after that it takes the cold worker and pays the load.
// A project below `starved_fraction` of its share never waits for a warm worker.
// Preemption: dailies/interactive work that has waited `preempt_after_ms` may cancel
// running batch attempts (youngest first, fewest victims) on a worker where it then fits;
// batch work of a starved project that has waited `fair_share_preempt_after_ms` may
// cancel batch attempts of projects well above their share (see FairShare).
// See docs/scheduling.md for the formulas and measurements.
//
// Pure and deterministic; not thread-safe (the core calls it from its executor).
#ifndef GENFARM_SCHEDULER_POLICY_GENFARM_POLICY_H_
#define GENFARM_SCHEDULER_POLICY_GENFARM_POLICY_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "scheduler/policy/placement_policy.h"

namespace genfarm::scheduler {

struct PolicyConfig {
  absl::flat_hash_map<std::string, double> project_weights;  // default weight 1
  bool model_affinity = true;
  bool fair_share = true;
  // How much recent (decayed) usage counts against the slots held now in the fair-share
  // deficit: 0 = only the present, 1 = only the recent past (see docs/scheduling.md).
  double history_weight = 0.25;
  // Delay scheduling: how long a batch group waits for a warm worker. 0 = never wait
  // (the default, so a free cold worker is always used); the simulator and
  // docs/scheduling.md use 60 s.
  int64_t affinity_wait_ms = 0;
  // Higher-tier work waiting this long preempts batch attempts. 0 = never preempt.
  int64_t preempt_after_ms = 300'000;
  // A project is starved when it uses less than this fraction of its fair share
  // (FairShare::Starved; YARN's fairSharePreemptionThreshold). A starved project's
  // batch work does not wait for warm workers, and may preempt (below).
  double starved_fraction = 0.8;
  // Fair-share preemption (YARN's fairSharePreemptionTimeout): batch work of a starved
  // project that has waited this long preempts the youngest batch attempts of projects
  // above their share by the same margin, never taking one below its share of slots.
  // 0 = off (the default: it throws work away); the simulator uses 15 s.
  int64_t fair_share_preempt_after_ms = 0;
  double Weight(const std::string& project) const {
    auto it = project_weights.find(project);
    return it == project_weights.end() ? 1.0 : it->second;
  }
};

class GenFarmPolicy : public PlacementPolicy {
 public:
  explicit GenFarmPolicy(PolicyConfig config) : config_(std::move(config)) {}
  std::vector<Placement> Place(const FarmView& view) override;
  std::string WhyUnplaceable(const WorkGroup& group,
                             const std::vector<WorkerView>& all_workers) const override;
  std::vector<int64_t> Preempt(const PreemptionView& view) override;

  const PolicyConfig& config() const { return config_; }

 private:
  PolicyConfig config_;
};

// What a traditional farm does: oldest job first, first worker with a free slot that
// can run it, no notion of warm models or memory fit. The simulator's baseline.
class FifoPolicy : public PlacementPolicy {
 public:
  std::vector<Placement> Place(const FarmView& view) override;
  std::string WhyUnplaceable(const WorkGroup& group,
                             const std::vector<WorkerView>& all_workers) const override;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_POLICY_GENFARM_POLICY_H_
