// ThreadSanitizer annotations for Debian's prebuilt Abseil synchronization library.
//
// Debian ships libabsl_synchronization.so compiled without -fsanitize=thread, so TSAN never
// sees absl::Mutex lock or unlock (they are atomics and futex calls inside an uninstrumented
// library) and reports every access to ABSL_GUARDED_BY data from two threads as a race.
// An Abseil built with TSAN carries its own annotations; this LD_PRELOAD library adds the
// same happens-before edges from outside: it interposes the exported absl::Mutex, CondVar
// and Notification entry points, calls the real ones (looked up in the loaded library) and
// tells TSAN "acquire" after every lock and "release" before every unlock. Calls from inside
// the library (Notification -> Mutex, gRPC's gpr_mu -> Mutex) go through the PLT, so they
// are annotated too.
//
// Memory accesses made while a real absl call runs are ignored: absl evaluates a waiter's
// Condition on whichever thread holds the mutex, at a moment this wrapper cannot see.
//
// Built without any sanitizer and bound to the TSAN runtime at run time (weak symbols), so
// processes without TSAN (ctest itself, Python tests) load it harmlessly. Used by the tsan
// test preset (CMakePresets.json); by hand:
//   LD_PRELOAD=build-tsan/tests/sanitizers/libgenfarm_tsan_absl.so build-tsan/tests/...
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

extern "C" {
// The TSAN runtime's annotation interface (sanitizer/tsan_interface.h and the dynamic
// annotations it exports); null when the process has no TSAN runtime.
void __tsan_acquire(void* addr) __attribute__((weak));
void __tsan_release(void* addr) __attribute__((weak));
void AnnotateIgnoreReadsBegin(const char* file, int line) __attribute__((weak));
void AnnotateIgnoreReadsEnd(const char* file, int line) __attribute__((weak));
void AnnotateIgnoreWritesBegin(const char* file, int line) __attribute__((weak));
void AnnotateIgnoreWritesEnd(const char* file, int line) __attribute__((weak));
}

namespace {

void Acquire(const void* addr) {
  if (__tsan_acquire != nullptr) __tsan_acquire(const_cast<void*>(addr));
}
void Release(const void* addr) {
  if (__tsan_release != nullptr) __tsan_release(const_cast<void*>(addr));
}

// Ignores the instrumented accesses (Condition functions) made during one real absl call.
class IgnoreAccesses {
 public:
  IgnoreAccesses() {
    if (AnnotateIgnoreReadsBegin == nullptr) return;
    AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
  }
  ~IgnoreAccesses() {
    if (AnnotateIgnoreReadsEnd == nullptr) return;
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
  }
};

// The real function of the Abseil library (not this one, which comes first in lookup order).
void* Real(const char* mangled) {
  static void* const library =
      dlopen("libabsl_synchronization.so.20220623", RTLD_NOW | RTLD_NOLOAD);
  void* fn = library != nullptr ? dlsym(library, mangled) : nullptr;
  if (fn == nullptr) fn = dlsym(RTLD_NEXT, mangled);
  if (fn == nullptr) {
    std::fprintf(stderr, "genfarm_tsan_absl: %s not found in libabsl_synchronization\n", mangled);
    std::abort();
  }
  return fn;
}

using absl::Condition;
using absl::CondVar;
using absl::Duration;
using absl::Mutex;
using absl::Notification;
using absl::Time;

// Acquires `addr` (if not null) when it goes out of scope.
class AcquireOnExit {
 public:
  explicit AcquireOnExit(const void* addr) : addr_(addr) {}
  ~AcquireOnExit() {
    if (addr_ != nullptr) Acquire(addr_);
  }

 private:
  const void* addr_;
};

// Calls the real function: releases `release` before, ignores accesses during the call and
// acquires `acquire` after it returns (either may be null).
template <typename R, typename... P, typename... A>
R Around(R (*real)(P...), const void* release, const void* acquire, A&&... args) {
  if (release != nullptr) Release(release);
  AcquireOnExit acquire_after(acquire);
  IgnoreAccesses ignore;
  return real(std::forward<A>(args)...);
}

// For the calls whose `true` means "got it" (TryLock, a wait for a Notification).
template <typename... P, typename... A>
bool AroundIfTrue(bool (*real)(P...), const void* acquire, A&&... args) {
  const bool got = Around(real, nullptr, nullptr, std::forward<A>(args)...);
  if (got) Acquire(acquire);
  return got;
}

// The flag after the Mutex in a Notification (absl/synchronization/notification.h,
// 20220623): the inline HasBeenNotified() compiled into our code reads it with an acquire
// load, so Notify() releases it as well as the Notification.
const void* NotifiedFlag(const Notification* n) {
  return reinterpret_cast<const char*>(n) + sizeof(Mutex);
}

void ReleaseNotifiedFlag(const Notification* n) { Release(NotifiedFlag(n)); }

}  // namespace

// Defines the exported symbol `mangled` (the absl function it replaces), taking `params` (the
// member function's `this` first) and returning `call`, which calls `real`.
#define GENFARM_INTERPOSE(R, name, mangled, params, call)                  \
  extern "C" R name params asm(mangled);                                   \
  extern "C" R name params {                                               \
    static const auto real = reinterpret_cast<R(*) params>(Real(mangled)); \
    return call;                                                           \
  }

// Lock: acquire after. Unlock: release before. A lock held on return whatever the result
// (LockWhenWith*) acquires always; TryLock only when it got the lock.
GENFARM_INTERPOSE(void, GenfarmLock, "_ZN4absl7debian35Mutex4LockEv", (Mutex * mu),
                  Around(real, nullptr, mu, mu))
GENFARM_INTERPOSE(void, GenfarmReaderLock, "_ZN4absl7debian35Mutex10ReaderLockEv", (Mutex * mu),
                  Around(real, nullptr, mu, mu))
GENFARM_INTERPOSE(bool, GenfarmTryLock, "_ZN4absl7debian35Mutex7TryLockEv", (Mutex * mu),
                  AroundIfTrue(real, mu, mu))
GENFARM_INTERPOSE(bool, GenfarmReaderTryLock, "_ZN4absl7debian35Mutex13ReaderTryLockEv",
                  (Mutex * mu), AroundIfTrue(real, mu, mu))
GENFARM_INTERPOSE(void, GenfarmUnlock, "_ZN4absl7debian35Mutex6UnlockEv", (Mutex * mu),
                  Around(real, mu, nullptr, mu))
GENFARM_INTERPOSE(void, GenfarmReaderUnlock, "_ZN4absl7debian35Mutex12ReaderUnlockEv", (Mutex * mu),
                  Around(real, mu, nullptr, mu))
GENFARM_INTERPOSE(void, GenfarmLockWhen, "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE",
                  (Mutex * mu, const Condition& c), Around(real, nullptr, mu, mu, c))
GENFARM_INTERPOSE(void, GenfarmReaderLockWhen,
                  "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE",
                  (Mutex * mu, const Condition& c), Around(real, nullptr, mu, mu, c))
GENFARM_INTERPOSE(bool, GenfarmLockWhenWithTimeout,
                  "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE",
                  (Mutex * mu, const Condition& c, Duration t), Around(real, nullptr, mu, mu, c, t))
GENFARM_INTERPOSE(bool, GenfarmLockWhenWithDeadline,
                  "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE",
                  (Mutex * mu, const Condition& c, Time t), Around(real, nullptr, mu, mu, c, t))
GENFARM_INTERPOSE(
    bool, GenfarmReaderLockWhenWithTimeout,
    "_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE",
    (Mutex * mu, const Condition& c, Duration t), Around(real, nullptr, mu, mu, c, t))
GENFARM_INTERPOSE(bool, GenfarmReaderLockWhenWithDeadline,
                  "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE",
                  (Mutex * mu, const Condition& c, Time t), Around(real, nullptr, mu, mu, c, t))

// Await* and CondVar::Wait*: release the held mutex while waiting, hold it again on return.
GENFARM_INTERPOSE(void, GenfarmAwait, "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE",
                  (Mutex * mu, const Condition& c), Around(real, mu, mu, mu, c))
GENFARM_INTERPOSE(bool, GenfarmAwaitWithTimeout,
                  "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE",
                  (Mutex * mu, const Condition& c, Duration t), Around(real, mu, mu, mu, c, t))
GENFARM_INTERPOSE(bool, GenfarmAwaitWithDeadline,
                  "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE",
                  (Mutex * mu, const Condition& c, Time t), Around(real, mu, mu, mu, c, t))
GENFARM_INTERPOSE(void, GenfarmCondVarWait, "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE",
                  (CondVar * cv, Mutex* mu), Around(real, mu, mu, cv, mu))
GENFARM_INTERPOSE(bool, GenfarmCondVarWaitWithTimeout,
                  "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE",
                  (CondVar * cv, Mutex* mu, Duration t), Around(real, mu, mu, cv, mu, t))
GENFARM_INTERPOSE(bool, GenfarmCondVarWaitWithDeadline,
                  "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE",
                  (CondVar * cv, Mutex* mu, Time t), Around(real, mu, mu, cv, mu, t))

// Notification: Notify releases, the waits acquire once notified (the fast path of a wait
// that finds the flag already set takes no lock, so the Mutex edges alone would miss it).
GENFARM_INTERPOSE(void, GenfarmNotify, "_ZN4absl7debian312Notification6NotifyEv",
                  (Notification * n), (ReleaseNotifiedFlag(n), Around(real, n, nullptr, n)))
GENFARM_INTERPOSE(void, GenfarmWaitForNotification,
                  "_ZNK4absl7debian312Notification19WaitForNotificationEv", (const Notification* n),
                  Around(real, nullptr, n, n))
GENFARM_INTERPOSE(bool, GenfarmWaitForNotificationWithTimeout,
                  "_ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE",
                  (const Notification* n, Duration t), AroundIfTrue(real, n, n, t))
GENFARM_INTERPOSE(bool, GenfarmWaitForNotificationWithDeadline,
                  "_ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE",
                  (const Notification* n, Time t), AroundIfTrue(real, n, n, t))
