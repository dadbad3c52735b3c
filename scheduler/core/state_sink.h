// StateSink: where the core sends every changed record to be made durable. In
// production a StoreWriter (group commit on its own thread) stands behind it; unit
// tests use a recording fake. Calls must not block on I/O.
//
//   {
//     StateSink::Unit unit(sink);     // committed in one transaction, or not at all
//     sink.PutJob(job);
//     for (const TaskRecord& t : tasks) sink.PutTask(t);
//   }
//   sink.WhenDurable([reactor](absl::Status s) { reactor->Finish(ToGrpcStatus(s)); });
#ifndef GENFARM_SCHEDULER_CORE_STATE_SINK_H_
#define GENFARM_SCHEDULER_CORE_STATE_SINK_H_

#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "scheduler/store/job_store.h"

namespace genfarm::scheduler {

class StateSink {
 public:
  virtual ~StateSink() = default;
  virtual void PutJob(const JobRecord& job) = 0;
  virtual void PutTask(const TaskRecord& task) = 0;
  // The tasks of a newly admitted job, in one call (a million PutTask calls would hold the
  // core thread for a second). Sinks without a bulk path take them one by one.
  virtual void PutNewTasks(std::vector<TaskRecord> tasks) {
    for (const TaskRecord& task : tasks) PutTask(task);
  }
  virtual void AppendLog(const LogRecord& log) = 0;
  // Removes an ended job with its tasks and logs (retention). Its id stays used.
  virtual void DeleteJob(JobId job) = 0;
  // An operator's drain (or undrain) of a worker.
  virtual void PutWorker(const WorkerRecord& worker) = 0;
  // An entry of the durable model catalog (upserted by model name).
  virtual void PutModel(const ModelRecord& model) = 0;
  virtual void SetAttemptHighWater(int64_t attempt_id) = 0;
  // The highest job id handed out; put in the unit of the job that takes it.
  virtual void SetJobHighWater(int64_t job_id) = 0;

  // Records put between BeginUnit() and EndUnit() become durable together (one
  // transaction). Units nest.
  virtual void BeginUnit() = 0;
  virtual void EndUnit() = 0;
  // Calls `done` (on any thread, without blocking the caller) once everything put so far
  // is durable, or with an error if it never will be.
  virtual void WhenDurable(std::function<void(absl::Status)> done) = 0;

  // Scoped BeginUnit()/EndUnit().
  class Unit {
   public:
    explicit Unit(StateSink& sink) : sink_(sink) { sink_.BeginUnit(); }
    ~Unit() { sink_.EndUnit(); }
    Unit(const Unit&) = delete;
    Unit& operator=(const Unit&) = delete;

   private:
    StateSink& sink_;
  };
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_STATE_SINK_H_
