// StateSink: where the core sends every changed record to be made durable. In
// production a StoreWriter (group commit on its own thread) stands behind it; unit
// tests use a recording fake. Calls must not block on I/O.
#ifndef GENFARM_SCHEDULER_CORE_STATE_SINK_H_
#define GENFARM_SCHEDULER_CORE_STATE_SINK_H_

#include "scheduler/store/job_store.h"

namespace genfarm::scheduler {

class StateSink {
 public:
  virtual ~StateSink() = default;
  virtual void PutJob(const JobRecord& job) = 0;
  virtual void PutTask(const TaskRecord& task) = 0;
  virtual void AppendLog(const LogRecord& log) = 0;
  virtual void SetAttemptHighWater(int64_t attempt_id) = 0;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_STATE_SINK_H_
