#include "common/clock.h"

#include <algorithm>
#include <chrono>

namespace genfarm {

RealClock& RealClock::Get() {
  static RealClock* clock = new RealClock();
  return *clock;
}

bool RealClock::SleepUntil(absl::Time deadline, absl::Notification* stop) const {
  if (stop != nullptr) return stop->WaitForNotificationWithDeadline(deadline);
  absl::SleepFor(deadline - absl::Now());
  return false;
}

bool RealClock::AwaitUntil(absl::Mutex* mu, const absl::Condition& cond,
                           absl::Time deadline) const {
  return mu->AwaitWithDeadline(cond, deadline);
}

namespace {

// The longest a MonotonicClock wait goes without re-reading the clock.
constexpr absl::Duration kMonotonicSlice = absl::Seconds(1);

}  // namespace

absl::Time MonotonicClock::Now() const {
  return absl::UnixEpoch() + absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

bool MonotonicClock::SleepUntil(absl::Time deadline, absl::Notification* stop) const {
  while (true) {
    if (stop != nullptr && stop->HasBeenNotified()) return true;
    const absl::Duration left = deadline - Now();
    if (left <= absl::ZeroDuration()) return false;
    const absl::Duration slice = std::min(left, kMonotonicSlice);
    if (stop != nullptr) {
      if (stop->WaitForNotificationWithTimeout(slice)) return true;
    } else {
      absl::SleepFor(slice);
    }
  }
}

bool MonotonicClock::AwaitUntil(absl::Mutex* mu, const absl::Condition& cond,
                                absl::Time deadline) const {
  while (true) {
    const absl::Duration left = deadline - Now();
    if (left <= absl::ZeroDuration()) return cond.Eval();
    if (mu->AwaitWithTimeout(cond, std::min(left, kMonotonicSlice))) return true;
  }
}

void FakeClock::Advance(absl::Duration d) {
  {
    absl::MutexLock lock(&time_mu_);
    now_ += d;
  }
  Kick();
}

void FakeClock::Set(absl::Time t) {
  {
    absl::MutexLock lock(&time_mu_);
    now_ = t;
  }
  Kick();
}

void FakeClock::Kick() {
  absl::MutexLock lock(&registry_mu_);
  for (auto& [id, waiter] : waiters_) {
    if (waiter.mu == nullptr) continue;  // SleepUntil waits on time_mu_, woken by the write
    // A registered waiter unregisters only after releasing its mutex and taking
    // registry_mu_, so the mutex is alive here.
    waiter.mu->Lock();
    waiter.mu->Unlock();
  }
}

uint64_t FakeClock::Register(absl::Mutex* mu, absl::Time deadline) const {
  absl::MutexLock lock(&registry_mu_);
  const uint64_t id = next_waiter_++;
  waiters_.emplace(id, Waiter{mu, deadline});
  ++waits_started_;
  return id;
}

void FakeClock::Unregister(uint64_t id) const {
  absl::MutexLock lock(&registry_mu_);
  waiters_.erase(id);
}

bool FakeClock::SleepUntil(absl::Time deadline, absl::Notification* stop) const {
  if (stop != nullptr && stop->HasBeenNotified()) return true;
  const uint64_t id = Register(nullptr, deadline);
  bool stopped = false;
  {
    absl::MutexLock lock(&time_mu_);
    auto woken = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(time_mu_) {
      return now_ >= deadline || (stop != nullptr && stop->HasBeenNotified());
    };
    if (stop == nullptr) {
      time_mu_.Await(absl::Condition(&woken));
    } else {
      while (!time_mu_.AwaitWithTimeout(absl::Condition(&woken), absl::Milliseconds(1))) {
      }
    }
    stopped = stop != nullptr && stop->HasBeenNotified();
  }
  Unregister(id);
  return stopped;
}

bool FakeClock::AwaitUntil(absl::Mutex* mu, const absl::Condition& cond,
                           absl::Time deadline) const {
  // Registering takes registry_mu_, which comes before `mu` (Kick holds it while locking
  // `mu`), so `mu` is released around it. No wake-up is lost: Await checks the condition
  // first.
  mu->Unlock();
  const uint64_t id = Register(mu, deadline);
  mu->Lock();
  struct Args {
    const FakeClock* clock;
    const absl::Condition* cond;
    absl::Time deadline;
  } args{this, &cond, deadline};
  bool (*done)(Args*) = [](Args* a) { return a->cond->Eval() || a->clock->Now() >= a->deadline; };
  mu->Await(absl::Condition(done, &args));
  mu->Unlock();
  Unregister(id);
  mu->Lock();
  return cond.Eval();
}

int FakeClock::WaiterCount() const {
  absl::MutexLock lock(&registry_mu_);
  return static_cast<int>(waiters_.size());
}

std::vector<absl::Time> FakeClock::WaiterDeadlines() const {
  absl::MutexLock lock(&registry_mu_);
  std::vector<absl::Time> out;
  for (const auto& [id, waiter] : waiters_) out.push_back(waiter.deadline);
  std::sort(out.begin(), out.end());
  return out;
}

bool FakeClock::AwaitWaiters(int n, absl::Duration timeout) const {
  absl::MutexLock lock(&registry_mu_);
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry_mu_) {
    return static_cast<int>(waiters_.size()) >= n;
  };
  return registry_mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

std::optional<absl::Time> FakeClock::AwaitWaiterDueBy(absl::Time by, absl::Duration timeout) const {
  absl::MutexLock lock(&registry_mu_);
  std::optional<absl::Time> found;
  auto due = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry_mu_) {
    const absl::Time now = Now();  // registry_mu_ comes before time_mu_
    found.reset();
    for (const auto& [id, waiter] : waiters_) {
      if (waiter.deadline > now && waiter.deadline <= by && (!found || waiter.deadline < *found))
        found = waiter.deadline;
    }
    return found.has_value();
  };
  // Re-checked whenever a wait starts or ends. Advancing only ever disqualifies waiters, so
  // a time change needs no re-check of its own.
  if (!registry_mu_.AwaitWithTimeout(absl::Condition(&due), timeout)) return std::nullopt;
  return found;
}

int64_t FakeClock::waits_started() const {
  absl::MutexLock lock(&registry_mu_);
  return waits_started_;
}

bool FakeClock::AwaitWaitsStarted(int64_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&registry_mu_);
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry_mu_) { return waits_started_ >= n; };
  return registry_mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

}  // namespace genfarm
