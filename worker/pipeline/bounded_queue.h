// A blocking FIFO with a capacity, the hand-off between the pipeline's reader, compute
// and writer stages. Thread-safe; any number of producers and consumers.
//
//   BoundedQueue<Item> q(4);
//   q.Push(item);             // blocks while full; false once closed or aborted
//   while (auto item = q.Pop()) Use(*item);  // nullopt when closed and drained, or aborted
//   q.Close();                // producer is done: consumers drain what is left
//   q.Abort();                // drop everything queued and wake all waiters
#ifndef GENFARM_WORKER_PIPELINE_BOUNDED_QUEUE_H_
#define GENFARM_WORKER_PIPELINE_BOUNDED_QUEUE_H_

#include <cstddef>
#include <deque>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace genfarm::worker {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  bool Push(T item) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &BoundedQueue::CanPush));
    if (closed_ || aborted_) return false;
    items_.push_back(std::move(item));
    return true;
  }

  std::optional<T> Pop() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &BoundedQueue::CanPop));
    if (aborted_ || items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }

  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }

  void Abort() {
    absl::MutexLock lock(&mu_);
    aborted_ = true;
    items_.clear();
  }

 private:
  bool CanPush() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closed_ || aborted_ || items_.size() < capacity_;
  }
  bool CanPop() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closed_ || aborted_ || !items_.empty();
  }

  const size_t capacity_;
  absl::Mutex mu_;
  std::deque<T> items_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool aborted_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_PIPELINE_BOUNDED_QUEUE_H_
