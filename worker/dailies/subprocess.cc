#include "worker/dailies/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace genfarm::worker {
namespace {

// Closes the descriptors it holds on every return path.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

int ExitCode(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return -1;
}

// Stops a child that is still running: SIGTERM, a short grace, then SIGKILL.
void Stop(pid_t pid) {
  kill(pid, SIGTERM);
  for (int i = 0; i < 40; ++i) {
    int wstatus = 0;
    if (waitpid(pid, &wstatus, WNOHANG) == pid) return;
    poll(nullptr, 0, 50);
  }
  kill(pid, SIGKILL);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

absl::StatusOr<SubprocessResult> RunSubprocess(const std::vector<std::string>& argv,
                                               const CancelToken* cancel) {
  if (argv.empty()) return absl::InvalidArgumentError("RunSubprocess: empty argv");
  const std::string command = absl::StrJoin(argv, " ");
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe for '", argv[0], "': ", strerror(errno)));
  }
  Fd read_end{pipe_fds[0]};
  Fd write_end{pipe_fds[1]};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.fd, STDERR_FILENO);
  // The worker blocks SIGINT/SIGTERM for its sigwait loop; the child must not inherit that.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    if (rc == ENOENT) {
      return absl::FailedPreconditionError(
          absl::StrCat("'", argv[0], "' is not on PATH (install it: deploy/install-deps.sh)"));
    }
    return absl::InternalError(absl::StrCat("cannot start '", command, "': ", strerror(rc)));
  }
  close(write_end.fd);
  write_end.fd = -1;

  SubprocessResult result;
  char buffer[4096];
  bool open = true;
  while (open) {
    if (cancel != nullptr && cancel->cancelled()) {
      Stop(pid);
      return absl::CancelledError(absl::StrCat("'", argv[0], "' stopped: task canceled"));
    }
    pollfd p{read_end.fd, POLLIN, 0};
    const int ready = poll(&p, 1, 100);
    if (ready < 0 && errno != EINTR) {
      Stop(pid);
      return absl::InternalError(absl::StrCat("poll on '", argv[0], "' stderr: ", strerror(errno)));
    }
    if (ready <= 0) continue;
    const ssize_t n = read(read_end.fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      open = false;
      continue;
    }
    result.stderr_tail.append(buffer, static_cast<size_t>(n));
    if (result.stderr_tail.size() > 2 * kStderrTailBytes) {
      result.stderr_tail.erase(0, result.stderr_tail.size() - kStderrTailBytes);
    }
  }
  if (result.stderr_tail.size() > kStderrTailBytes) {
    result.stderr_tail.erase(0, result.stderr_tail.size() - kStderrTailBytes);
  }
  int wstatus = 0;
  while (true) {
    if (cancel != nullptr && cancel->cancelled()) {
      Stop(pid);
      return absl::CancelledError(absl::StrCat("'", argv[0], "' stopped: task canceled"));
    }
    const pid_t done = waitpid(pid, &wstatus, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("waitpid for '", argv[0], "': ", strerror(errno)));
    }
    poll(nullptr, 0, 20);
  }
  result.exit_code = ExitCode(wstatus);
  return result;
}

}  // namespace genfarm::worker
