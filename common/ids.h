// Strong ID types, so a job id is never passed where an attempt id is expected.
//
//   JobId job(42);
//   AttemptId attempt(7);
//   absl::flat_hash_map<JobId, Job> jobs;  // hashable
//   std::string s = job.ToString();        // "42" (Debian's Abseil has no AbslStringify)
#ifndef GENFARM_COMMON_IDS_H_
#define GENFARM_COMMON_IDS_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace genfarm {

template <typename Tag, typename T>
class StrongId {
 public:
  using ValueType = T;
  StrongId() = default;
  explicit StrongId(T value) : value_(std::move(value)) {}
  const T& value() const { return value_; }

  friend bool operator==(const StrongId& a, const StrongId& b) { return a.value_ == b.value_; }
  friend bool operator!=(const StrongId& a, const StrongId& b) { return a.value_ != b.value_; }
  friend bool operator<(const StrongId& a, const StrongId& b) { return a.value_ < b.value_; }
  template <typename H>
  friend H AbslHashValue(H h, const StrongId& id) {
    return H::combine(std::move(h), id.value_);
  }
  std::string ToString() const { return absl::StrCat(value_); }
  friend std::ostream& operator<<(std::ostream& os, const StrongId& id) { return os << id.value_; }

 private:
  T value_{};
};

using JobId = StrongId<struct JobIdTag, int64_t>;
using AttemptId = StrongId<struct AttemptIdTag, int64_t>;
using WorkerId = StrongId<struct WorkerIdTag, std::string>;

// A task is one chunk of one job: (job, index within the job).
struct TaskId {
  JobId job;
  int32_t index = 0;
  friend bool operator==(const TaskId& a, const TaskId& b) {
    return a.job == b.job && a.index == b.index;
  }
  friend bool operator<(const TaskId& a, const TaskId& b) {
    return a.job < b.job || (a.job == b.job && a.index < b.index);
  }
  template <typename H>
  friend H AbslHashValue(H h, const TaskId& id) {
    return H::combine(std::move(h), id.job, id.index);
  }
  std::string ToString() const { return absl::StrCat(job.value(), "/", index); }
};

}  // namespace genfarm

#endif  // GENFARM_COMMON_IDS_H_
