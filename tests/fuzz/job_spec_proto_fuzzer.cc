// libFuzzer target for the validator of a v1::JobSpec arriving over gRPC (what
// SchedulerCore::SubmitJob runs: ApplyJobSpecDefaults, then ValidateJobSpec). The input is
// a JobSpec in protobuf text format (the seed corpus; mutations stay readable) or, when it
// is not valid text format, in the binary wire format. Any message must be refused with
// InvalidArgument or be safe to expand into tasks (job_spec_checks.h).
// Run with tests/fuzz/run.sh.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "common/job_spec.h"
#include "genfarm/v1/types.pb.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/job_spec_checks.h"

namespace {

// Text-format parse errors are expected for most mutations; keep them off stderr.
class SilentErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int, int, const std::string&) override {}
  void AddWarning(int, int, const std::string&) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  genfarm::v1::JobSpec spec;
  const std::string text(reinterpret_cast<const char*>(data), size);
  SilentErrors errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &spec)) {
    spec.Clear();
    if (!spec.ParseFromArray(data, static_cast<int>(size))) return 0;
  }
  genfarm::ApplyJobSpecDefaults(&spec);
  const absl::Status status = genfarm::ValidateJobSpec(spec);
  if (!status.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(status));
    return 0;
  }
  genfarm::fuzz::CheckAcceptedSpec(spec);
  return 0;
}
