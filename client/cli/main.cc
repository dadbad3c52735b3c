// genfarm: the command-line client of the GenFarm scheduler. Parses flags and dispatches to
// commands.h; every command's logic lives there.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/cli/commands.h"
#include "client/cli/scheduler_connection.h"
#include "common/clock.h"
#include "common/tls/grpc_credentials.h"
#include "common/tls/server_check.h"

namespace {

using genfarm::client::CommandContext;
using Run = std::function<absl::StatusOr<int>(CommandContext&)>;

std::string DefaultScheduler() {
  const char* env = std::getenv("GENFARM_SCHEDULER");
  return env != nullptr && *env != '\0' ? env : "127.0.0.1:7070";
}

std::string Env(const char* name) {
  const char* env = std::getenv(name);
  return env != nullptr ? env : "";
}

// The bearer token: --token, else --token_file, else $GENFARM_TOKEN, else $GENFARM_TOKEN_FILE.
absl::StatusOr<std::pair<std::string, std::string>> ReadToken(const std::string& token,
                                                              const std::string& token_file) {
  std::string value = token, source = "--token", file = token_file, file_source = "--token_file";
  if (value.empty() && file.empty()) {
    value = Env("GENFARM_TOKEN");
    source = "$GENFARM_TOKEN";
    file = Env("GENFARM_TOKEN_FILE");
    file_source = "$GENFARM_TOKEN_FILE";
  }
  if (value.empty() && !file.empty()) {
    std::ifstream in(file);
    if (!in) return absl::InvalidArgumentError(file_source + " " + file + ": cannot read it");
    std::getline(in, value);
    source = file_source + " " + file;
  }
  value = std::string(absl::StripAsciiWhitespace(value));
  return std::pair{value, source};
}

}  // namespace

int main(int argc, char** argv) {
  namespace gc = genfarm::client;
  CLI::App app{"genfarm: submit, follow and steer jobs on a GenFarm render farm", "genfarm"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the subcommand

  std::string scheduler = DefaultScheduler();
  double timeout_seconds = 10;
  app.add_option(
      "--scheduler", scheduler,
      "scheduler address HOST:PORT, or several comma-separated (--ha: the leader answers) "
      "(default: $GENFARM_SCHEDULER, else 127.0.0.1:7070)");
  app.add_option("--timeout", timeout_seconds,
                 "seconds to wait for each call (watch waits forever)")
      ->check(CLI::PositiveNumber);
  genfarm::tls::TlsFiles tls_files;
  tls_files.ca = {"--tls_ca", Env("GENFARM_CA")};
  tls_files.cert = {"--tls_cert", Env("GENFARM_CERT")};
  tls_files.key = {"--tls_key", Env("GENFARM_KEY")};
  std::string token, token_file;
  app.add_option("--tls_ca", tls_files.ca.path,
                 "PEM farm CA that signed the scheduler's certificate: speak TLS and verify the "
                 "scheduler (default: $GENFARM_CA)");
  app.add_option("--tls_cert", tls_files.cert.path,
                 "PEM client certificate, for people who log in with one (default: $GENFARM_CERT)");
  app.add_option("--tls_key", tls_files.key.path,
                 "PEM private key of --tls_cert (default: $GENFARM_KEY)");
  app.add_option("--token", token,
                 "bearer token (default: $GENFARM_TOKEN; prefer --token_file, which stays out of "
                 "the process list)");
  app.add_option("--token_file", token_file,
                 "file holding the bearer token (default: $GENFARM_TOKEN_FILE)");

  Run run;
  std::string command;
  auto dispatch = [&](CLI::App* sub, Run fn) {
    sub->callback([&run, &command, sub, fn = std::move(fn)] {
      command = sub->get_name();
      run = fn;
    });
  };

  // submit
  gc::SubmitOptions submit;
  int submit_priority = 0;
  auto* submit_cmd = app.add_subcommand("submit", "check a job spec (YAML) and submit it");
  submit_cmd->add_option("FILE", submit.file, "job spec YAML")->required();
  submit_cmd->add_flag("--wait", submit.wait,
                       "follow the job; exit 0 if every task succeeded, 1 if any failed");
  submit_cmd->add_flag("--json", submit.json, "print a JSON summary on stdout");
  submit_cmd->add_option("--idempotency-key", submit.idempotency_key,
                         "resubmitting with the same key returns the same job");
  auto* priority_opt =
      submit_cmd->add_option("--priority", submit_priority, "override the spec's priority (0-100)");
  dispatch(submit_cmd, [&](CommandContext& ctx) {
    if (priority_opt->count() > 0) submit.priority = submit_priority;
    return gc::RunSubmit(ctx, submit);
  });

  // jobs
  gc::JobsOptions jobs;
  auto* jobs_cmd = app.add_subcommand("jobs", "list jobs");
  jobs_cmd->add_option("--project", jobs.project, "only this project");
  jobs_cmd->add_option("--state", jobs.state,
                       "only jobs in this state (waiting, active, paused, succeeded, failed, "
                       "canceled)");
  jobs_cmd->add_option("--limit", jobs.limit, "at most this many jobs (default 50)");
  dispatch(jobs_cmd, [&](CommandContext& ctx) { return gc::RunJobs(ctx, jobs); });

  int64_t job_id = 0;
  auto add_job_arg = [&job_id](CLI::App* sub) {
    sub->add_option("JOB", job_id, "job id")->required()->check(CLI::NonNegativeNumber);
  };

  auto* status_cmd = app.add_subcommand("status", "show a job: stages, tasks, failures");
  add_job_arg(status_cmd);
  dispatch(status_cmd, [&](CommandContext& ctx) { return gc::RunStatus(ctx, job_id); });

  auto* watch_cmd = app.add_subcommand(
      "watch", "follow a job until it ends; exit 0 if it succeeded, 1 if it failed");
  add_job_arg(watch_cmd);
  dispatch(watch_cmd, [&](CommandContext& ctx) { return gc::RunWatch(ctx, job_id); });

  int log_task = -1;
  auto* logs_cmd = app.add_subcommand("logs", "print task logs of a job");
  add_job_arg(logs_cmd);
  auto* log_task_opt = logs_cmd->add_option("--task", log_task, "only this task index");
  dispatch(logs_cmd, [&](CommandContext& ctx) {
    std::optional<int> task;
    if (log_task_opt->count() > 0) task = log_task;
    return gc::RunLogs(ctx, job_id, task);
  });

  for (auto [name, action, help] :
       {std::tuple{"cancel", gc::JobAction::kCancel, "cancel a job"},
        std::tuple{"pause", gc::JobAction::kPause, "stop placing a job's tasks"},
        std::tuple{"resume", gc::JobAction::kResume, "resume a paused job"}}) {
    auto* sub = app.add_subcommand(name, help);
    add_job_arg(sub);
    dispatch(sub, [&job_id, action = action](CommandContext& ctx) {
      return gc::RunJobAction(ctx, action, job_id);
    });
  }

  bool retry_failed = false;
  std::vector<int> retry_tasks;
  auto* retry_cmd = app.add_subcommand("retry", "retry a job's failed or canceled tasks");
  add_job_arg(retry_cmd);
  retry_cmd->add_flag("--failed", retry_failed,
                      "every failed or canceled task (the default without --task)");
  retry_cmd->add_option("--task", retry_tasks, "only these task indexes")->take_all();
  dispatch(retry_cmd, [&](CommandContext& ctx) {
    return gc::RunRetry(ctx, job_id, retry_failed, retry_tasks);
  });

  int new_priority = 0;
  auto* priority_cmd = app.add_subcommand("priority", "set a job's priority");
  add_job_arg(priority_cmd);
  priority_cmd->add_option("N", new_priority, "priority, higher runs first (0-100)")->required();
  dispatch(priority_cmd,
           [&](CommandContext& ctx) { return gc::RunSetPriority(ctx, job_id, new_priority); });

  std::vector<int64_t> delete_ids;
  auto* delete_cmd = app.add_subcommand(
      "delete", "delete ended jobs with their tasks and logs (ids are never reused)");
  delete_cmd->add_option("JOB", delete_ids, "job ids")->required()->check(CLI::NonNegativeNumber);
  dispatch(delete_cmd, [&](CommandContext& ctx) { return gc::RunDelete(ctx, delete_ids); });

  bool all_workers = false;
  auto* workers_cmd = app.add_subcommand("workers", "list workers");
  workers_cmd->add_flag("--all", all_workers, "include offline workers");
  dispatch(workers_cmd, [&](CommandContext& ctx) { return gc::RunWorkers(ctx, all_workers); });

  std::string worker_id;
  for (auto [name, undrain, help] :
       {std::tuple{"drain", false, "let a worker finish its tasks and take no new ones"},
        std::tuple{"undrain", true, "let a drained worker take tasks again"}}) {
    auto* sub = app.add_subcommand(name, help);
    sub->add_option("WORKER", worker_id, "worker id")->required();
    dispatch(sub, [&worker_id, undrain = undrain](CommandContext& ctx) {
      return gc::RunDrain(ctx, worker_id, undrain);
    });
  }

  gc::AuditOptions audit;
  auto* audit_cmd = app.add_subcommand("audit", "list the audit log (ops or admin)");
  audit_cmd->add_option("--who", audit.who, "only this person or worker");
  audit_cmd->add_option("--method", audit.method, "only this method (CancelJob, SubmitJob, ...)");
  audit_cmd->add_option("--job", audit.job_id, "only records about this job");
  audit_cmd->add_option("--since", audit.since, "a duration back (2h) or an RFC 3339 time");
  audit_cmd->add_option("--limit", audit.limit, "at most this many records (1-10000)")
      ->check(CLI::Range(1, 10000));
  dispatch(audit_cmd, [&](CommandContext& ctx) { return gc::RunAudit(ctx, audit); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help or the usage error
    return rc == 0 ? gc::kExitOk : gc::kExitError;
  }

  absl::StatusOr<std::pair<std::string, std::string>> bearer = ReadToken(token, token_file);
  absl::StatusOr<genfarm::tls::TlsPem> tls =
      bearer.ok() ? genfarm::tls::LoadTlsFiles(tls_files) : bearer.status();
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      tls.ok() ? genfarm::tls::ChannelCredentials(*tls, bearer->first, bearer->second)
               : tls.status();
  if (!credentials.ok()) {
    std::cerr << "genfarm: " << credentials.status().message() << "\n";
    return gc::kExitError;
  }
  gc::SchedulerConnection connection(scheduler, absl::Seconds(timeout_seconds), *credentials,
                                     tls->enabled());
  if (tls->enabled()) {
    const std::string ca_source = tls_files.ca.path.empty()
                                      ? std::string("the system's CA certificates")
                                      : absl::StrCat(tls_files.ca.flag, " ", tls_files.ca.path);
    const absl::Duration check_timeout = absl::Seconds(std::clamp(timeout_seconds, 1.0, 5.0));
    connection.set_tls_check([scheduler, ca = tls->ca, ca_source, check_timeout] {
      return genfarm::tls::CheckSchedulerCertificates(scheduler, ca, ca_source, check_timeout);
    });
  }
  CommandContext ctx{&connection,
                     &std::cout,
                     &std::cerr,
                     isatty(STDOUT_FILENO) == 1,
                     isatty(STDERR_FILENO) == 1,
                     &genfarm::RealClock::Get(),
                     absl::LocalTimeZone()};
  absl::StatusOr<int> rc = run(ctx);
  if (!rc.ok()) {
    std::cout << std::flush;
    std::cerr << "genfarm: " << command << ": " << rc.status().message() << "\n";
    return gc::kExitError;
  }
  return *rc;
}
