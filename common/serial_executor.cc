#include "common/serial_executor.h"

#include <time.h>

#include <utility>

namespace genfarm {
namespace {

// CPU time this thread has used (not wall time: no Clock can stand in for it).
absl::Duration ThreadCpuTime() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return absl::DurationFromTimespec(ts);
}

}  // namespace

SerialExecutor::SerialExecutor(std::function<void()> idle)
    : SerialExecutor(Options{std::move(idle), nullptr, nullptr}) {}

SerialExecutor::SerialExecutor(Options options)
    : options_(std::move(options)), thread_([this] { Loop(); }) {}

void SerialExecutor::Timed(const std::function<void()>& fn) {
  if (options_.clock == nullptr || !options_.on_run) {
    fn();
    return;
  }
  const absl::Time start = options_.clock->Now();
  const absl::Duration cpu_start = ThreadCpuTime();
  fn();
  options_.on_run(options_.clock->Now() - start, ThreadCpuTime() - cpu_start);
}

SerialExecutor::~SerialExecutor() { Stop(); }

void SerialExecutor::Post(std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  queue_.push_back(std::move(fn));
}

void SerialExecutor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void SerialExecutor::Loop() {
  while (true) {
    std::deque<std::function<void()>> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty() && stopping_) return;
      batch.swap(queue_);
    }
    for (auto& fn : batch) Timed(fn);
    if (options_.idle) Timed(options_.idle);
  }
}

PeriodicTimer::PeriodicTimer(const Clock& clock, absl::Duration period, std::function<void()> fn)
    : clock_(clock), thread_([this, period, fn = std::move(fn)] {
        absl::MutexLock lock(&mu_);
        while (true) {
          auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
          if (clock_.AwaitUntil(&mu_, absl::Condition(&stopped), clock_.Now() + period)) return;
          mu_.Unlock();
          fn();
          mu_.Lock();
        }
      }) {}

PeriodicTimer::~PeriodicTimer() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

}  // namespace genfarm
