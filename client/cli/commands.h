// The `genfarm` subcommands. main.cc parses flags into these option structs and calls one
// function; each returns the process exit code, or an error that main prints as
// "genfarm: <command>: <message>" and exits with kExitError.
//
//   SchedulerConnection scheduler(address, absl::Seconds(10));
//   CommandContext ctx{&scheduler, &std::cout, &std::cerr, isatty(1), isatty(2),
//                      &RealClock::Get(), absl::LocalTimeZone()};
//   SubmitOptions submit;
//   submit.file = "shot.yaml";
//   submit.wait = true;
//   absl::StatusOr<int> rc = RunSubmit(ctx, submit);  // 0, 1 (job failed) or an error
#ifndef GENFARM_CLIENT_CLI_COMMANDS_H_
#define GENFARM_CLIENT_CLI_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/cli/scheduler_connection.h"
#include "common/clock.h"

namespace genfarm::client {

// Exit codes. CI tells "frames failed" (1) apart from "could not ask" (2).
inline constexpr int kExitOk = 0;
inline constexpr int kExitJobFailed = 1;  // the job ended failed or canceled
inline constexpr int kExitError = 2;      // bad usage, bad spec, scheduler unreachable or refused

// What every command needs. Not owned.
struct CommandContext {
  SchedulerConnection* scheduler;
  std::ostream* out;
  std::ostream* err;
  bool out_is_tty = false;
  bool err_is_tty = false;
  const Clock* clock;
  absl::TimeZone tz;
};

struct SubmitOptions {
  std::string file;
  bool wait = false;
  bool json = false;
  std::string idempotency_key;
  std::optional<int> priority;
};
absl::StatusOr<int> RunSubmit(CommandContext& ctx, const SubmitOptions& options);

// Follows the job until it ends; exit code 0 if it succeeded, 1 if it failed or was canceled.
absl::StatusOr<int> RunWatch(CommandContext& ctx, int64_t job_id);

struct JobsOptions {
  std::string project;
  std::string state;  // job state name, "" = any
  int limit = 50;
};
absl::StatusOr<int> RunJobs(CommandContext& ctx, const JobsOptions& options);
absl::StatusOr<int> RunStatus(CommandContext& ctx, int64_t job_id);
absl::StatusOr<int> RunLogs(CommandContext& ctx, int64_t job_id, std::optional<int> task);

enum class JobAction { kCancel, kPause, kResume };
absl::StatusOr<int> RunJobAction(CommandContext& ctx, JobAction action, int64_t job_id);

// With no task indexes, retries every failed or canceled task (as --failed does).
absl::StatusOr<int> RunRetry(CommandContext& ctx, int64_t job_id, bool failed_only,
                             const std::vector<int>& tasks);
absl::StatusOr<int> RunSetPriority(CommandContext& ctx, int64_t job_id, int priority);

// Deletes ended jobs; exit 0 if every one was deleted, 2 if any was refused.
absl::StatusOr<int> RunDelete(CommandContext& ctx, const std::vector<int64_t>& job_ids);

absl::StatusOr<int> RunWorkers(CommandContext& ctx, bool include_offline);
absl::StatusOr<int> RunDrain(CommandContext& ctx, const std::string& worker_id, bool undrain);

struct AuditOptions {
  std::string who;
  std::string method;  // "CancelJob"
  int64_t job_id = 0;
  std::string since;  // a duration back from now ("2h") or an RFC 3339 time; "" = all
  int limit = 100;
};
absl::StatusOr<int> RunAudit(CommandContext& ctx, const AuditOptions& options);
// --since as Unix ms: a duration back from `now`, or an RFC 3339 time; "" = 0.
absl::StatusOr<int64_t> ParseSince(absl::string_view since, absl::Time now);

}  // namespace genfarm::client

#endif  // GENFARM_CLIENT_CLI_COMMANDS_H_
