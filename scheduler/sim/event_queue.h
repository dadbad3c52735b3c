// EventQueue: the simulator's timeline. Callbacks run in (time, insertion) order, so
// equal-time events keep the order they were scheduled in and every run is identical.
//
//   EventQueue events;
//   events.At(5'000, [&] { ... });
//   while (!events.empty()) events.RunNext();
//
// Not thread-safe; the simulation is single-threaded.
#ifndef GENFARM_SCHEDULER_SIM_EVENT_QUEUE_H_
#define GENFARM_SCHEDULER_SIM_EVENT_QUEUE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <utility>

namespace genfarm::sim {

class EventQueue {
 public:
  void At(int64_t ms, std::function<void()> fn) {
    events_.emplace(std::make_pair(ms, next_++), std::move(fn));
  }
  bool empty() const { return events_.empty(); }
  int64_t next_ms() const { return events_.begin()->first.first; }
  // Runs the earliest event (which may schedule more).
  void RunNext() {
    auto it = events_.begin();
    std::function<void()> fn = std::move(it->second);
    events_.erase(it);
    fn();
  }

 private:
  std::map<std::pair<int64_t, int64_t>, std::function<void()>> events_;
  int64_t next_ = 0;
};

}  // namespace genfarm::sim

#endif  // GENFARM_SCHEDULER_SIM_EVENT_QUEUE_H_
