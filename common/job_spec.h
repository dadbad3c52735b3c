// Job specs: the YAML a pipeline TD writes, parsed into a `genfarm::v1::JobSpec` and
// checked with errors that name the field, before anything is scheduled.
//
//   absl::StatusOr<v1::JobSpec> spec = ParseJobSpecFile("shots/sh010/upres.yaml");
//   if (!spec.ok()) {
//     // "shots/sh010/upres.yaml: stages[1].chunk: must be between 1 and 10000, got 0 (line 14)"
//     std::cerr << spec.status().message() << "\n";
//   }
//
// The scheduler, which also receives specs built by the Python client, runs
//
//   ApplyJobSpecDefaults(&spec);
//   GENFARM_RETURN_IF_ERROR(ValidateJobSpec(spec));
//
// YAML format (see examples/sh010_upres_retime.yaml for a complete job):
//
//   name: sh010_upres_retime        # required, [A-Za-z0-9_.-]+, <= 128 chars
//   project: feature_x              # required, the fair-share unit (same charset)
//   shot: sh010                     # optional
//   priority: 50                    # 0..100, default 50
//   tier: batch                     # batch | dailies | interactive, default batch
//   submitter: jdoe                 # optional (the CLI fills in $USER)
//   labels: {dept: comp}            # string -> string
//   depends_on_jobs: [12, 13]       # ids of jobs that must succeed first
//   stages:                         # one or more
//     - name: upres                 # required, unique in the job
//       kind: model                 # model (default) | dailies
//       model: esrgan-slim-x2       # required for kind model, not allowed for dailies
//       input: plates/sh010.####.exr            # frame pattern (%04d or ####)
//       output: out/upres/sh010_upres.####.exr  # frame pattern; for dailies a path
//                                               # prefix for the contact sheet and movie
//       frames: 1001-1096           # required: 1001-1100, 1001-1100x2, 1,5,10-20
//       chunk: 8                    # frames per task, default 1; 1..10000
//       retries: 2                  # default 2; 0..100
//       timeout: 600                # per attempt: seconds or a duration (10m, 1h);
//                                   # default 0 = none; at most 7 days
//       gpus: 1                     # default 0 (may run on CPU); 0..64
//       vram: 4GiB                  # bytes, or with KiB/MiB/GiB/TiB/KB/MB/GB/TB
//       tags: [gpu]                 # a worker must carry all of them
//       seed: 1234
//       params: {factor: 2}         # by stage kind, typed and range-checked: model
//                                   # {factor: 2..16}, dailies {fps, columns}; any
//                                   # other key is an error (see stage_params.h)
//       after: [other_stage]        # explicit dependencies
//       window: {before: 0, after: 1}   # temporal window override; 0..64 each
//
// Relative input/output paths resolve against JobSpecOptions::base_dir (for a file,
// its folder). A stage whose input names the same files as an earlier stage's output
// depends on it implicitly: its `after` gets that stage. Unknown fields are errors
// (with a "did you mean" hint), so a typo never silently falls back to a default.
//
// Every error is InvalidArgument and starts with the field path, e.g.
//   `stages[0].frames: frame set '1-x': token '1-x': expected ...`
//   `stages[2]: unknown field 'chunck' (did you mean 'chunk'?)`
// Errors from YAML also end with the line: `... (line 14)`.
//
// All functions are thread-safe (no shared state).
#ifndef GENFARM_COMMON_JOB_SPEC_H_
#define GENFARM_COMMON_JOB_SPEC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "genfarm/v1/types.pb.h"

namespace genfarm {

// LIMITS. Every request is bounded before any work is done on it: the size first, then
// each count before the loop over it, then each string before it is parsed. README.md
// ("Job specs", Limits) lists them for users; the messages name the field and the cap.
//
// A whole spec, serialized (what SubmitJob carries) or as YAML text: checked first, so no
// later pass over a field can cost more than a pass over one MiB.
inline constexpr int64_t kMaxJobSpecBytes = 1 << 20;
// Limit on the frames of all stages of one job (each stage: kMaxFramesPerStage).
inline constexpr int64_t kMaxFramesPerJob = 10'000'000;
// Limit on the stages of one job, checked before any check that compares stages pairwise.
inline constexpr int kMaxStagesPerJob = 64;
// Labels of one job: a job list carries them for every job, so they stay small.
inline constexpr int kMaxLabelsPerJob = 64;
inline constexpr int kMaxLabelKeyLength = 63;
inline constexpr int kMaxLabelValueLength = 256;
// Jobs one job waits for.
inline constexpr int kMaxJobDependencies = 256;
// Per stage: worker tags and explicit `after` entries (a stage can only name the others).
// The caps on params are kMaxParamsPerStage and friends in stage_params.h.
inline constexpr int kMaxTagsPerStage = 32;
inline constexpr int kMaxAfterPerStage = kMaxStagesPerJob;
// Input and output paths (PATH_MAX on Linux).
inline constexpr int kMaxPathLength = 4096;
// Frame set text ("1001-1100x2,1200"): long enough for thousands of single frames.
inline constexpr int kMaxFrameSetLength = 64 * 1024;

struct JobSpecOptions {
  // Folder that relative input/output paths resolve against; empty leaves them as written.
  std::string base_dir;
};

// Parses a YAML job spec, applies defaults and implicit dependencies, and validates it.
absl::StatusOr<v1::JobSpec> ParseJobSpecYaml(std::string_view yaml,
                                             const JobSpecOptions& options = {});

// Reads and parses `path`; relative paths in it resolve against the file's (absolute)
// folder. Errors start with `path`. A missing file is NotFound.
absl::StatusOr<v1::JobSpec> ParseJobSpecFile(const std::string& path);

// Fills what a spec from any source may leave unset: tier and stage kind when
// UNSPECIFIED, and `after` for a stage whose input is an earlier stage's output.
// Idempotent. Does not validate.
void ApplyJobSpecDefaults(v1::JobSpec* spec);

// Semantic checks of a spec from any source (YAML or the Python client): required
// fields, ranges, names, frame sets and patterns, dependencies and cycles, size limits.
// InvalidArgument naming the field path on the first problem found.
absl::Status ValidateJobSpec(const v1::JobSpec& spec);

}  // namespace genfarm

#endif  // GENFARM_COMMON_JOB_SPEC_H_
