// libFuzzer target for the YAML job-spec reader and validator (ParseJobSpecYaml in
// common/job_spec.h): any text is either refused with InvalidArgument or gives a spec the
// validator accepts as it stands (see job_spec_checks.h). Run with tests/fuzz/run.sh.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/job_spec_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  genfarm::JobSpecOptions options;
  // Half the inputs resolve relative paths against a folder, as ParseJobSpecFile does.
  if (size % 2 == 1) options.base_dir = "/shows/fuzz/shots";
  absl::StatusOr<genfarm::v1::JobSpec> spec = genfarm::ParseJobSpecYaml(yaml, options);
  if (!spec.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(spec.status()));
    return 0;
  }
  genfarm::fuzz::CheckAcceptedSpec(*spec);  // validates it again, from the wire form
  return 0;
}
