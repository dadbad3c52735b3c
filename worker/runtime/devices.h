// Device discovery: what a worker can run models on. Each CUDA GPU LibTorch sees (name,
// total memory), or, when there is none (the Debian LibTorch is CPU-only), the CPU with the
// machine's memory. Implemented with LibTorch; this header is torch-free.
//
//   GENFARM_ASSIGN_OR_RETURN(std::vector<DeviceSpec> devices, EnumerateDevices());
//   for (const DeviceSpec& d : devices) hello.add_device(d.Key(), d.memory_total_bytes);
#ifndef GENFARM_WORKER_RUNTIME_DEVICES_H_
#define GENFARM_WORKER_RUNTIME_DEVICES_H_

#include <vector>

#include "absl/status/statusor.h"
#include "worker/runtime/device_spec.h"

namespace genfarm::worker {

// CUDA devices if any are usable, else exactly one CPU device. Never empty on success.
absl::StatusOr<std::vector<DeviceSpec>> EnumerateDevices();

// The CPU device with total system memory (sysconf) and the CPU model name.
DeviceSpec DescribeCpu();

}  // namespace genfarm::worker

#endif  // GENFARM_WORKER_RUNTIME_DEVICES_H_
