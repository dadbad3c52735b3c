// libFuzzer target for the model manifest parser (ParseManifest in
// worker/runtime/manifest.h; built from manifest.cc alone, no LibTorch): any text is either
// refused with InvalidArgument naming the origin, or gives a manifest within the documented
// bounds. Run with tests/fuzz/run.sh.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "tests/fuzz/fuzz_check.h"
#include "worker/runtime/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string origin = "models/fuzz/manifest.json";
  absl::StatusOr<genfarm::worker::Manifest> m = genfarm::worker::ParseManifest(text, origin);
  if (!m.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(m.status()));
    FUZZ_CHECK(absl::StartsWith(m.status().message(), origin));
    return 0;
  }
  FUZZ_CHECK(!m->name.empty() && !m->version.empty() && !m->file.empty());
  FUZZ_CHECK(m->file[0] != '/' && !absl::StrContains(m->file, ".."));
  FUZZ_CHECK(m->sha256.size() == 64);
  FUZZ_CHECK(m->scale >= 1 && m->scale <= 64);
  FUZZ_CHECK(m->kind == genfarm::worker::ModelKind::kUpscale ? m->inputs == 1 : m->inputs == 2);
  FUZZ_CHECK(m->window_before >= 0 && m->window_after >= 0);
  FUZZ_CHECK(m->value_min < m->value_max);
  FUZZ_CHECK(m->tile_size >= 0 && m->tile_overlap >= 0);
  FUZZ_CHECK(m->tile_size == 0 || 2 * m->tile_overlap < m->tile_size);
  FUZZ_CHECK(m->pad_multiple >= 1 && m->tile_size % m->pad_multiple == 0);
  FUZZ_CHECK(m->batch_size >= 1 && m->memory_bytes >= 1);
  return 0;
}
