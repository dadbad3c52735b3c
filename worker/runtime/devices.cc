#include "worker/runtime/devices.h"

#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

#ifdef GENFARM_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace genfarm::worker {
namespace {

std::string CpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "model name")) {
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      }
    }
  }
  return "cpu";
}

}  // namespace

DeviceSpec DescribeCpu() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  const int64_t total = pages > 0 && page_size > 0 ? int64_t{pages} * page_size : 0;
  return DeviceSpec{"cpu", 0, CpuModelName(), total};
}

absl::StatusOr<std::vector<DeviceSpec>> EnumerateDevices() {
  std::vector<DeviceSpec> devices;
  try {
    if (torch::cuda::is_available()) {
      const int count = static_cast<int>(torch::cuda::device_count());
      for (int i = 0; i < count; ++i) {
        DeviceSpec d{"cuda", i, absl::StrCat("cuda:", i), 0};
#ifdef GENFARM_TORCH_CUDA
        // Only CUDA builds of LibTorch ship these headers and libraries.
        const cudaDeviceProp* props = at::cuda::getDeviceProperties(i);
        d.name = props->name;
        d.memory_total_bytes = static_cast<int64_t>(props->totalGlobalMem);
#endif
        devices.push_back(d);
      }
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("enumerating CUDA devices failed: ", e.what_without_backtrace()));
  }
  if (devices.empty()) devices.push_back(DescribeCpu());
  return devices;
}

}  // namespace genfarm::worker
