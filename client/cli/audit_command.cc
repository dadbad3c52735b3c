// `genfarm audit`: the scheduler's audit log (FarmService.ListAudit, ops or admin), newest
// first, filtered by who, method, job and time.
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/cli/commands.h"
#include "client/cli/text_table.h"

namespace genfarm::client {

absl::StatusOr<int64_t> ParseSince(absl::string_view since, absl::Time now) {
  if (since.empty()) return 0;
  absl::Duration ago;
  if (absl::ParseDuration(since, &ago)) return absl::ToUnixMillis(now - ago);
  absl::Time at;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, since, &at, &error)) return absl::ToUnixMillis(at);
  return absl::InvalidArgumentError(absl::StrCat(
      "--since: '", since, "' is neither a duration (\"2h\", \"30m\") nor an RFC 3339 time ",
      "(\"2026-12-02T04:00:00Z\")"));
}

absl::StatusOr<int> RunAudit(CommandContext& ctx, const AuditOptions& options) {
  absl::StatusOr<int64_t> since = ParseSince(options.since, ctx.clock->Now());
  if (!since.ok()) return since.status();
  grpc::ClientContext context;
  ctx.scheduler->SetDeadline(context);
  v1::ListAuditRequest request;
  request.set_who(options.who);
  request.set_method(options.method);
  request.set_job_id(options.job_id);
  request.set_since_ms(*since);
  request.set_limit(options.limit);
  v1::ListAuditResponse response;
  grpc::Status status = ctx.scheduler->farm().ListAudit(&context, request, &response);
  if (!status.ok()) return ctx.scheduler->ToStatus(status);
  if (response.records().empty()) {
    *ctx.err << "no audit records match\n";
    return kExitOk;
  }
  TextTable table({"TIME", "WHO", "METHOD", "OBJECT", "OUTCOME", "PEER", "REASON"});
  for (const v1::AuditRecord& r : response.records()) {
    const std::string who =
        r.who().empty() ? r.kind() : absl::StrCat(r.who(), r.kind() == "worker" ? " (worker)" : "");
    table.AddRow(
        {absl::FormatTime("%Y-%m-%d %H:%M:%E3S", absl::FromUnixMillis(r.time_ms()), ctx.tz), who,
         r.method(), r.object(), r.allowed() ? "allowed" : absl::StrCat("denied ", r.code()),
         r.peer(), r.reason()});
  }
  *ctx.out << table.Render() << std::flush;
  return kExitOk;
}

}  // namespace genfarm::client
