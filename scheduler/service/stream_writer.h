// StreamWriter: the write half of a server streaming reactor, shared by the worker
// stream and job watches. Messages queued from any thread are written one at a time
// (gRPC allows one outstanding write); Close finishes the call once the queue drains.
// Survives its reactor: after Detach() (from OnDone) everything is a no-op, so the
// core may keep a handle to a stream that has already ended.
//
//   auto writer = std::make_shared<StreamWriter<Reactor, v1::JobEvent>>(reactor);
//   writer->Send(event);            // any thread
//   writer->Close(grpc::Status::OK);
//   // in the reactor: OnWriteDone(ok) { writer->WriteDone(); }  OnDone() { writer->Detach(); }
#ifndef GENFARM_SCHEDULER_SERVICE_STREAM_WRITER_H_
#define GENFARM_SCHEDULER_SERVICE_STREAM_WRITER_H_

#include <grpcpp/grpcpp.h>

#include <deque>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace genfarm::scheduler {

template <typename Reactor, typename Message>
class StreamWriter {
 public:
  explicit StreamWriter(Reactor* reactor) : reactor_(reactor) {}

  // Queues a message. With `merge`, a queued message not yet being written is
  // replaced by merge(old, new) instead of growing the queue (slow readers of watch
  // streams get the latest state, not a backlog). So a stream holds at most two messages
  // (one being written, one pending), as big as `merge` lets one grow: MergeJobEvents
  // keeps a watch event within one event's bounds.
  void Send(const Message& message,
            const std::function<void(Message& queued, const Message& next)>& merge = nullptr) {
    absl::MutexLock lock(&mu_);
    if (reactor_ == nullptr || closing_) return;
    if (merge && queue_.size() >= 2) {
      merge(queue_.back(), message);
      return;
    }
    queue_.push_back(message);
    if (!writing_) {
      writing_ = true;
      reactor_->StartWrite(&queue_.front());
    }
  }

  void Close(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    if (reactor_ == nullptr || closing_) return;
    closing_ = true;
    status_ = status;
    if (!writing_) FinishLocked();
  }

  // From the reactor's OnWriteDone.
  void WriteDone(bool ok) {
    absl::MutexLock lock(&mu_);
    if (!queue_.empty()) queue_.pop_front();
    if (!ok) queue_.clear();  // the peer is gone; OnDone follows
    if (reactor_ != nullptr && !queue_.empty()) {
      reactor_->StartWrite(&queue_.front());
      return;
    }
    writing_ = false;
    if (closing_ && reactor_ != nullptr) FinishLocked();
  }

  // From the reactor's OnDone: the reactor is about to be deleted.
  void Detach() {
    absl::MutexLock lock(&mu_);
    reactor_ = nullptr;
    queue_.clear();
  }

 private:
  void FinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    reactor_->Finish(status_);
  }

  absl::Mutex mu_;
  Reactor* reactor_ ABSL_GUARDED_BY(mu_);
  std::deque<Message> queue_ ABSL_GUARDED_BY(mu_);  // front is being written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_SERVICE_STREAM_WRITER_H_
