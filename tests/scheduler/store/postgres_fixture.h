// TestPostgres: a real, throwaway PostgreSQL server for tests and the store benchmark. Runs
// Debian's postgresql-15 binaries: initdb into a fresh directory under $TMPDIR (or /tmp),
// pg_ctl start listening on 127.0.0.1 at a free port with its unix socket in that directory,
// and pg_ctl stop plus removal of the directory on destruction. initdb refuses to run as root,
// so under root the server runs as the system user `genfarm-test` (created with
// `useradd --system` when missing) through runuser.
//
//   if (!TestPostgres::Available()) GTEST_SKIP() << TestPostgres::MissingReason();
//   absl::StatusOr<std::unique_ptr<TestPostgres>> pg = TestPostgres::Start();
//   ASSERT_TRUE(pg.ok()) << pg.status();
//   absl::StatusOr<std::string> url = (*pg)->CreateDatabase("conformance_1");
//   // *url == "postgresql://genfarm@127.0.0.1:54321/conformance_1"
//
// Plain C++ (no gtest) so the benchmark can use it too. Not thread-safe.
#ifndef GENFARM_TESTS_SCHEDULER_STORE_POSTGRES_FIXTURE_H_
#define GENFARM_TESTS_SCHEDULER_STORE_POSTGRES_FIXTURE_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace genfarm::scheduler::testing {

class TestPostgres {
 public:
  struct Options {
    // false: fsync=off, synchronous_commit=off (tests: fast, durability is not what they
    // check). true: the server defaults, for the benchmark's honest figures.
    bool durable = false;
  };

  static constexpr char kUser[] = "genfarm";         // the database superuser initdb makes
  static constexpr char kOsUser[] = "genfarm-test";  // who runs the server when we are root

  // Directory of initdb/pg_ctl/createdb, or empty when postgresql-15 is not installed.
  static std::string BinDir() {
    for (const char* dir : {"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
                            "/usr/lib/postgresql/17/bin"}) {
      std::error_code ec;
      if (std::filesystem::exists(std::string(dir) + "/initdb", ec) &&
          std::filesystem::exists(std::string(dir) + "/pg_ctl", ec)) {
        return dir;
      }
    }
    return "";
  }
  static bool Available() { return !BinDir().empty(); }
  static std::string MissingReason() {
    return "PostgreSQL server binaries not found (/usr/lib/postgresql/15/bin/initdb); "
           "install Debian's postgresql-15 to run the PostgreSQL store tests";
  }

  static absl::StatusOr<std::unique_ptr<TestPostgres>> Start() { return Start(Options()); }
  static absl::StatusOr<std::unique_ptr<TestPostgres>> Start(const Options& options) {
    const std::string bin = BinDir();
    if (bin.empty()) return absl::FailedPreconditionError(MissingReason());
    std::unique_ptr<TestPostgres> pg(new TestPostgres(bin));
    const char* tmp = getenv("TMPDIR");
    std::string pattern =
        absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/gfpg-XXXXXX");
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (mkdtemp(buffer.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("mkdtemp ", pattern));
    }
    pg->dir_ = buffer.data();
    if (geteuid() == 0) {
      if (std::system(absl::StrCat("id -u ", kOsUser, " >/dev/null 2>&1").c_str()) != 0 &&
          std::system(absl::StrCat("useradd --system --no-create-home --shell /usr/sbin/nologin ",
                                   kOsUser, " >/dev/null 2>&1")
                          .c_str()) != 0 &&
          std::system(absl::StrCat("id -u ", kOsUser, " >/dev/null 2>&1").c_str()) != 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("running as root and cannot create the system user ", kOsUser,
                         " (useradd --system) that PostgreSQL must run as"));
      }
      if (std::system(absl::StrCat("chown ", kOsUser, " ", pg->dir_).c_str()) != 0) {
        return absl::InternalError(absl::StrCat("chown ", kOsUser, " ", pg->dir_));
      }
      pg->as_user_ = absl::StrCat("runuser -u ", kOsUser, " -- ");
    }
    absl::StatusOr<int> port = FreePort();
    if (!port.ok()) return port.status();
    pg->port_ = *port;
    const std::string data = pg->dir_ + "/data";
    if (absl::Status s = pg->Run(absl::StrCat(pg->as_user_, bin, "/initdb -D ", data, " -U ", kUser,
                                              " --auth=trust -E UTF8 --no-locale --no-sync"),
                                 "initdb");
        !s.ok()) {
      return s;
    }
    std::string settings = absl::StrCat("-c listen_addresses=127.0.0.1 -p ", pg->port_, " -k ",
                                        pg->dir_, " -c max_connections=40");
    if (!options.durable)
      settings += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off";
    if (absl::Status s =
            pg->Run(absl::StrCat(pg->as_user_, bin, "/pg_ctl -D ", data, " -l ", pg->dir_,
                                 "/server.log -w -t 60 -o '", settings, "' start"),
                    "pg_ctl start");
        !s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat(s.message(), "; server log: ", Tail(pg->dir_ + "/server.log")));
    }
    pg->running_ = true;
    return pg;
  }

  ~TestPostgres() {
    if (running_) {
      (void)Run(absl::StrCat(as_user_, bin_, "/pg_ctl -D ", dir_, "/data -m immediate -w stop"),
                "pg_ctl stop");
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  TestPostgres(const TestPostgres&) = delete;
  TestPostgres& operator=(const TestPostgres&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

  // The URL of database `name` (which need not exist yet).
  std::string Url(const std::string& name) const {
    return absl::StrCat("postgresql://", kUser, "@127.0.0.1:", port_, "/", name);
  }

  // Creates database `name` and returns its URL.
  absl::StatusOr<std::string> CreateDatabase(const std::string& name) {
    if (absl::Status s =
            Run(absl::StrCat(bin_, "/createdb -h 127.0.0.1 -p ", port_, " -U ", kUser, " ", name),
                absl::StrCat("createdb ", name));
        !s.ok()) {
      return s;
    }
    return Url(name);
  }

  // Runs `sql` with psql on database `name` (tests that damage rows behind the store's back).
  absl::Status Psql(const std::string& name, const std::string& sql) {
    const std::string file = absl::StrCat(dir_, "/psql-", ++commands_, ".sql");
    std::ofstream(file) << sql;
    return Run(absl::StrCat(bin_, "/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p ", port_, " -U ",
                            kUser, " -d ", name, " -f ", file),
               "psql");
  }

 private:
  explicit TestPostgres(std::string bin) : bin_(std::move(bin)) {}

  // Runs `command` with its output in a log file; on failure the error carries the log's tail.
  absl::Status Run(const std::string& command, const std::string& what) {
    const std::string log = absl::StrCat(dir_, "/cmd-", ++commands_, ".log");
    const int rc = std::system(absl::StrCat(command, " >", log, " 2>&1").c_str());
    if (rc != 0) {
      return absl::InternalError(
          absl::StrCat(what, " failed (", command, ", status ", rc, "): ", Tail(log)));
    }
    return absl::OkStatus();
  }

  static std::string Tail(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
  }

  // A port the kernel just handed out on 127.0.0.1 (closed again; the race is harmless in
  // practice because pg_ctl start fails loudly on a taken port).
  static absl::StatusOr<int> FreePort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return absl::InternalError("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(fd);
      return absl::InternalError("bind 127.0.0.1:0");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  std::string bin_;
  std::string dir_;
  std::string as_user_;  // "runuser -u genfarm-test -- " under root, else empty
  int port_ = 0;
  int commands_ = 0;
  bool running_ = false;
};

}  // namespace genfarm::scheduler::testing

#endif  // GENFARM_TESTS_SCHEDULER_STORE_POSTGRES_FIXTURE_H_
