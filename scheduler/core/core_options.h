// CoreOptions: the scheduler core's tunables (leases, heartbeats, retry backoff, the
// blocklist, job size caps, log retention, policy cadence, fair-share memory, job retention). The
// core builds its default policies from them; main.cc fills them from flags.
#ifndef GENFARM_SCHEDULER_CORE_CORE_OPTIONS_H_
#define GENFARM_SCHEDULER_CORE_CORE_OPTIONS_H_

#include <cstdint>

#include "absl/time/time.h"

namespace genfarm::scheduler {

struct CoreOptions {
  absl::Duration lease_ttl = absl::Seconds(15);  // heartbeat silence before a worker is lost
  absl::Duration heartbeat_interval = absl::Seconds(2);
  absl::Duration retry_backoff_base = absl::Seconds(1);  // doubles per failure
  absl::Duration retry_backoff_max = absl::Seconds(60);
  int blocklist_failures = 3;  // failures of one job on one worker
  absl::Duration blocklist_forgive = absl::Minutes(10);
  int64_t max_tasks_per_job = 1'000'000;
  // Tasks one slice of a sweep visits (a change to every task of a big job, done a slice
  // per turn of the core thread so no request holds it long; JobTable::StartSweep).
  int64_t sweep_slice_tasks = 5'000;
  int max_log_lines_per_task = 1000;
  // How often Tick() asks the policy again although nothing changed: time-based rules
  // (waiting for a warm worker, preemption limits) change their answer with time alone.
  absl::Duration policy_interval = absl::Seconds(1);
  // Half-life of each project's decayed usage (ProjectUsage::decayed_usage), the
  // fair-share memory: a project that got little recently is owed more.
  absl::Duration usage_half_life = absl::Minutes(10);
  // Retention: jobs that ended longer ago than this are deleted (memory and store), a few
  // per Tick(). Infinite (the default) keeps every job until `genfarm delete`.
  absl::Duration retain_finished = absl::InfiniteDuration();
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_CORE_OPTIONS_H_
