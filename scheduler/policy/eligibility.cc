#include "scheduler/policy/eligibility.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace genfarm::scheduler {
namespace {

int CudaDevices(const WorkerView& worker) {
  int n = 0;
  for (const DeviceView& d : worker.devices) n += d.kind == "cuda";
  return n;
}

std::string Gib(int64_t bytes) { return absl::StrCat(bytes / (1 << 20), " MiB"); }

}  // namespace

std::string WhyNeverEligible(const WorkGroup& group, const WorkerView& worker) {
  for (const std::string& tag : group.tags) {
    if (!worker.tags.contains(tag)) return absl::StrCat("lacks tag '", tag, "'");
  }
  if (!group.model.empty() && !worker.models.contains(group.model)) {
    return absl::StrCat("does not have model '", group.model, "'");
  }
  if (group.blocked_workers.contains(worker.id))
    return "is kept off this job after repeated failures";
  if (group.gpus > 0 && CudaDevices(worker) < group.gpus) {
    return absl::StrCat("has ", CudaDevices(worker), " GPUs, the stage needs ", group.gpus);
  }
  int64_t largest = 0;
  for (const DeviceView& d : worker.devices) {
    if (group.gpus > 0 && d.kind != "cuda") continue;
    largest = std::max(largest, d.memory_total_bytes);
  }
  if (group.memory_bytes > largest) {
    return absl::StrCat("largest device has ", Gib(largest), ", a task needs ",
                        Gib(group.memory_bytes));
  }
  return "";
}

DeviceChoice ChooseDevice(const WorkGroup& group, const WorkerView& worker) {
  DeviceChoice choice;
  if (worker.free_slots <= 0) {
    choice.reason = "no free slot";
    return choice;
  }
  if (std::string why = WhyNeverEligible(group, worker); !why.empty()) {
    choice.reason = why;
    return choice;
  }
  // Tightest fit first: packing leaves big holes for big models.
  int64_t best_left = std::numeric_limits<int64_t>::max();
  int32_t best = -2;
  bool has_cpu = false;
  for (const DeviceView& d : worker.devices) {
    if (d.kind != "cuda") {
      has_cpu = true;
      continue;
    }
    int64_t left = d.memory_free_bytes - group.memory_bytes;
    if (left >= 0 && left < best_left) {
      best_left = left;
      best = d.index;
    }
  }
  if (best != -2) {
    choice.device = best;
    choice.leftover_bytes = best_left;
    return choice;
  }
  if (group.gpus == 0 && has_cpu) {
    for (const DeviceView& d : worker.devices) {
      if (d.kind == "cuda") continue;
      int64_t left = d.memory_free_bytes - group.memory_bytes;
      if (left >= 0) {
        choice.device = -1;
        choice.leftover_bytes = left;
        return choice;
      }
    }
  }
  choice.reason = "not enough free device memory";
  return choice;
}

void Reserve(const WorkGroup& group, WorkerView& worker, int32_t device) {
  worker.free_slots -= 1;
  for (DeviceView& d : worker.devices) {
    if (d.index == device) d.memory_free_bytes -= group.memory_bytes;
  }
}

}  // namespace genfarm::scheduler
