// StoreWriterSink: the core's StateSink onto the group-committing StoreWriter. Used by
// the daemon's wiring (scheduler_server.cc) and the core benchmark, so both measure and
// run the same durable path.
//
//   StoreWriter writer(store, clock);
//   StoreWriterSink sink(writer);
//   SchedulerCore core(clock, sink, policy, options);
#ifndef GENFARM_SCHEDULER_CORE_STORE_WRITER_SINK_H_
#define GENFARM_SCHEDULER_CORE_STORE_WRITER_SINK_H_

#include <functional>
#include <utility>

#include "scheduler/core/state_sink.h"
#include "scheduler/store/store_writer.h"

namespace genfarm::scheduler {

// Borrows the writer, which must outlive it. Thread-safety is the writer's.
class StoreWriterSink : public StateSink {
 public:
  explicit StoreWriterSink(StoreWriter& writer) : writer_(writer) {}
  void PutJob(const JobRecord& job) override { writer_.PutJob(job); }
  void PutTask(const TaskRecord& task) override { writer_.PutTask(task); }
  void PutNewTasks(std::vector<TaskRecord> tasks) override {
    writer_.PutNewTasks(std::move(tasks));
  }
  void AppendLog(const LogRecord& log) override { writer_.AppendLog(log); }
  void PutWorker(const WorkerRecord& worker) override { writer_.PutWorker(worker); }
  void DeleteJob(JobId job) override { writer_.DeleteJob(job); }
  void PutModel(const ModelRecord& model) override { writer_.PutModel(model); }
  void SetAttemptHighWater(int64_t id) override { writer_.SetAttemptHighWater(id); }
  void SetJobHighWater(int64_t id) override { writer_.SetJobHighWater(id); }
  void BeginUnit() override { writer_.BeginUnit(); }
  void EndUnit() override { writer_.EndUnit(); }
  void WhenDurable(std::function<void(absl::Status)> done) override {
    writer_.WhenDurable(std::move(done));
  }

 private:
  StoreWriter& writer_;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_STORE_WRITER_SINK_H_
