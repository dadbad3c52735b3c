// CoreSignals: the few flags the core's rooms raise for each other within one event,
// such as "work became runnable or a slot freed: run a placement round". Owned by
// SchedulerCore, shared by reference with its parts; single-threaded like them.
#ifndef GENFARM_SCHEDULER_CORE_CORE_SIGNALS_H_
#define GENFARM_SCHEDULER_CORE_CORE_SIGNALS_H_

namespace genfarm::scheduler {

struct CoreSignals {
  bool dispatch_needed = true;
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_CORE_CORE_SIGNALS_H_
