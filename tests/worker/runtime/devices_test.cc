#include "worker/runtime/devices.h"

#include "gtest/gtest.h"

namespace genfarm::worker {
namespace {

TEST(DevicesTest, ReportsTheCpuWithSystemMemoryWhenThereIsNoGpu) {
  absl::StatusOr<std::vector<DeviceSpec>> devices = EnumerateDevices();
  ASSERT_TRUE(devices.ok()) << devices.status();
  ASSERT_FALSE(devices->empty());
  for (const DeviceSpec& d : *devices) {
    EXPECT_TRUE(d.kind == "cpu" || d.kind == "cuda") << d.kind;
    EXPECT_FALSE(d.name.empty());
    if (d.kind == "cpu") {
      EXPECT_EQ(devices->size(), 1u);  // the CPU is listed only when there is no GPU
      EXPECT_GT(d.memory_total_bytes, int64_t{64} << 20);
      EXPECT_EQ(d.Key(), "cpu:0");
    }
  }
}

}  // namespace
}  // namespace genfarm::worker
