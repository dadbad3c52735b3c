// FairShare: how far each project is from its weighted share of the farm's slots, the
// quantity GenFarmPolicy orders batch work by and preempts for. One snapshot per
// Place() or Preempt() call; placements and preemptions made during the call are
// added with AddRunning() so later decisions in the same call see them.
//
//   FairShare fair(config, view.projects, view.groups, /*total_slots=*/64);
//   if (fair.Starved("show-03")) ...;   // below threshold x its share
//   fair.AddRunning("show-03", 1);      // it was given a slot
//
// Formula (docs/scheduling.md): with A the projects that have queued or running work,
//   share(p)   = w(p) / sum of w(q) over q in A
//   used(p)    = (1 - h) * running(p) / slots + h * decayed(p) / sum of decayed(q), q in A
//   deficit(p) = share(p) - used(p)
// Weighted max-min fairness over slots (the single-resource case of Dominant Resource
// Fairness, Ghodsi et al., NSDI 2011) plus Slurm's decayed fair-share usage.
//
// Pure value type; not thread-safe.
#ifndef GENFARM_SCHEDULER_POLICY_FAIR_SHARE_H_
#define GENFARM_SCHEDULER_POLICY_FAIR_SHARE_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "scheduler/policy/genfarm_policy.h"
#include "scheduler/policy/placement_policy.h"

namespace genfarm::scheduler {

class FairShare {
 public:
  // `projects`: running slots and decayed usage per project; `groups`: queued work
  // (a project with queued work competes even when it runs nothing); `total_slots`:
  // every slot of the farm, busy or free.
  FairShare(const PolicyConfig& config,
            const absl::flat_hash_map<std::string, ProjectUsage>& projects,
            const std::vector<WorkGroup>& groups, double total_slots);

  double Share(const std::string& project) const;    // w(p) / sum of w over competing projects
  double Used(const std::string& project) const;     // blend of now and recent past, 0-1
  double Deficit(const std::string& project) const;  // Share - Used; 0 when fair share is off
  double Running(const std::string& project) const;  // slots held now
  double total_slots() const { return total_slots_; }

  // Below PolicyConfig::starved_fraction of its share (history included) while the
  // other projects hold more than their shares of slots: such a project no longer
  // waits for warm workers and may preempt (see GenFarmPolicy).
  bool Starved(const std::string& project) const;
  // Holds more than its share by the same margin (history included) and more slots
  // than its share of the farm now: its batch attempts may be preempted for a
  // starved project, as long as it keeps at least its share of slots afterwards.
  bool CanYieldSlot(const std::string& project) const;

  // A placement (+1) or a preemption (-1) decided during this call.
  void AddRunning(const std::string& project, double slots);

 private:
  static double Lookup(const absl::flat_hash_map<std::string, double>& map,
                       const std::string& project);

  const PolicyConfig& config_;
  double total_slots_ = 0;
  double weight_sum_ = 0;
  double decayed_sum_ = 0;
  double total_running_ = 0;
  absl::flat_hash_map<std::string, double> running_;
  absl::flat_hash_map<std::string, double> decayed_;
  absl::flat_hash_map<std::string, bool> active_;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_POLICY_FAIR_SHARE_H_
