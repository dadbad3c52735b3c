// DeviceSpec: one compute device a worker runs models on (a CUDA GPU or the CPU), as
// advertised to the scheduler and used as a ModelCache key. Torch-free; EnumerateDevices()
// in devices.h fills it in.
//
//   DeviceSpec gpu{"cuda", 0, "NVIDIA A10", 24LL << 30};
//   std::string key = gpu.Key();  // "cuda:0"
#ifndef GENFARM_WORKER_RUNTIME_DEVICE_SPEC_H_
#define GENFARM_WORKER_RUNTIME_DEVICE_SPEC_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"

namespace genfarm::worker {

struct DeviceSpec {
  std::string kind = "cpu";  // "cpu" or "cuda"
  int index = 0;
  std::string name;                // e.g. "NVIDIA A10", or the CPU model
  int64_t memory_total_bytes = 0;  // device memory (system memory for the CPU)

  // "cpu:0", "cuda:1": the torch device string and the metrics label.
  std::string Key() const { return absl::StrCat(kind, ":", index); }
  bool is_cuda() const { return kind == "cuda"; }
};

inline DeviceSpec CpuDevice(int64_t memory_total_bytes = 0) {
  return DeviceSpec{"cpu", 0, "cpu", memory_total_bytes};
}

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_RUNTIME_DEVICE_SPEC_H_
