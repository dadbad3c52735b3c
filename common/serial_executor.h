// SerialExecutor: runs posted closures one at a time on its own thread, in order.
// The scheduler core lives on one of these: gRPC reactors post work and never block.
// After each batch of closures (the queue ran empty) the `idle` hook runs once, which
// is where the core dispatches and notifies watchers: one dispatch per burst of
// results rather than one per result.
//
//   SerialExecutor executor([&] { core.Dispatch(); });
//   executor.Post([&] { core.WorkerResult(id, result); });
//   int n = executor.Run([&] { return core.task_count(); });  // waits for the answer
#ifndef GENFARM_COMMON_SERIAL_EXECUTOR_H_
#define GENFARM_COMMON_SERIAL_EXECUTOR_H_

#include <deque>
#include <functional>
#include <future>
#include <thread>
#include <type_traits>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace genfarm {

class SerialExecutor {
 public:
  struct Options {
    std::function<void()> idle;  // after each batch (see above)
    // Told how long each closure (and each idle call) held the thread: wall time on
    // `clock`, and the thread's CPU time (on a loaded machine wall time includes waiting
    // for a core). How the scheduler sees that no request holds its core for long. Optional.
    const Clock* clock = nullptr;
    std::function<void(absl::Duration wall, absl::Duration cpu)> on_run;
  };
  explicit SerialExecutor(std::function<void()> idle = nullptr);
  explicit SerialExecutor(Options options);
  ~SerialExecutor();  // runs what is queued, then stops

  // Queues `fn`. After Stop() closures are dropped.
  void Post(std::function<void()> fn);

  // Runs `fn` on the executor thread and returns its result. Never call from the
  // executor thread itself.
  template <typename F>
  auto Run(F fn) -> decltype(fn()) {
    using R = decltype(fn());
    std::packaged_task<R()> task(std::move(fn));
    std::future<R> result = task.get_future();
    Post([&task] { task(); });
    return result.get();
  }

  void Stop();

 private:
  void Loop();

  // Runs `fn`, timing it when asked to.
  void Timed(const std::function<void()>& fn);

  Options options_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Calls `fn` on its own thread `period` after the previous call returned (the first call
// `period` after construction), until destroyed. Waits on the injected clock, so a test
// advances a FakeClock to make it fire; destruction does not wait for the period.
//
//   PeriodicTimer ticker(RealClock::Get(), absl::Seconds(1), [&] { executor.Post(tick); });
//
// Thread-safety: `fn` runs on the timer thread only; the destructor must not run on it.
class PeriodicTimer {
 public:
  PeriodicTimer(const Clock& clock, absl::Duration period, std::function<void()> fn);
  ~PeriodicTimer();  // waits for a running `fn` to return

 private:
  const Clock& clock_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace genfarm

#endif  // GENFARM_COMMON_SERIAL_EXECUTOR_H_
