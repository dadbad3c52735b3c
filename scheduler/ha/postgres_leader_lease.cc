#include "scheduler/ha/postgres_leader_lease.h"

#include <algorithm>
#include <cstdint>
#include <pqxx/pqxx>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "scheduler/store/postgres_job_store.h"
#include "scheduler/store/postgres_status.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler::ha {

struct PostgresLeaderLease::Connection {
  explicit Connection(const std::string& url) : conn(url) {}
  pqxx::connection conn;
};

namespace {

// Not the store's schema lock: the two may be created by different processes at once.
constexpr int64_t kLeaseSchemaLockKey = 0x67666861;  // "gfha"

constexpr char kSchema[] = R"sql(
    CREATE TABLE IF NOT EXISTS genfarm_leader (
      id          int         PRIMARY KEY CHECK (id = 1),
      holder      text        NOT NULL DEFAULT '',
      address     text        NOT NULL DEFAULT '',
      epoch       bigint      NOT NULL DEFAULT 0,
      acquired_at timestamptz,
      expires_at  timestamptz NOT NULL DEFAULT '-infinity'
    );
    INSERT INTO genfarm_leader (id) VALUES (1) ON CONFLICT (id) DO NOTHING;
    CREATE TABLE IF NOT EXISTS genfarm_epochs (
      epoch          bigint      PRIMARY KEY,
      holder         text        NOT NULL,
      address        text        NOT NULL DEFAULT '',
      acquired_at    timestamptz NOT NULL,
      last_commit_at timestamptz,
      commits        bigint      NOT NULL DEFAULT 0
    );
    )sql";

int64_t Millis(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

// `url` with libpq parameter key=value added unless it sets key itself (URI or keywords).
std::string WithParameter(const std::string& url, const std::string& key,
                          const std::string& value) {
  if (absl::StrContains(url, key + "=")) return url;
  if (absl::StrContains(url, "://")) {
    return absl::StrCat(url, absl::StrContains(url, "?") ? "&" : "?", key, "=", value);
  }
  return absl::StrCat(url, " ", key, "=", value);
}

}  // namespace

PostgresLeaderLease::PostgresLeaderLease(Options options)
    : options_(std::move(options)), redacted_url_(PostgresJobStore::RedactUrl(options_.url)) {}

PostgresLeaderLease::~PostgresLeaderLease() = default;

absl::StatusOr<std::unique_ptr<PostgresLeaderLease>> PostgresLeaderLease::Open(Options options) {
  if (options.holder.empty()) return absl::InvalidArgumentError("leader lease: empty holder");
  std::unique_ptr<PostgresLeaderLease> lease(new PostgresLeaderLease(std::move(options)));
  // An unreachable server is no reason not to stand by (a leader that stepped down during a
  // database outage comes back through here): every TryAcquire connects again. Anything else
  // (a refused login, a bad URL) is a configuration error.
  if (absl::Status connected = lease->Connect(); !connected.ok()) {
    if (!absl::IsUnavailable(connected)) return connected;
    spdlog::warn("{}; standing by until it answers", std::string(connected.message()));
  }
  return lease;
}

absl::Status PostgresLeaderLease::Connect() {
  return PqxxGuard(absl::StrCat("leader lease: connect to ", redacted_url_), [&] {
    // Bounded network waits: a connect to a host that drops packets, or a read on a
    // connection whose peer vanished, would otherwise block the election thread for minutes
    // (the watchdog steps a leader down meanwhile, but a standby would stop polling).
    const std::string timeout_s =
        std::to_string(std::max<int64_t>(1, Millis(options_.lease) / 1000));
    const std::string url =
        WithParameter(WithParameter(options_.url, "connect_timeout", timeout_s), "tcp_user_timeout",
                      std::to_string(Millis(options_.lease)));
    auto conn = std::make_unique<Connection>(url);
    pqxx::connection& c = conn->conn;
    c.set_variable("client_min_messages", "warning");
    // Bounds every statement, so a slow server cannot stall the election thread for long
    // (the watchdog steps a leader down meanwhile anyway).
    c.set_variable("statement_timeout", std::to_string(Millis(options_.lease)));
    {
      pqxx::work txn(c);
      txn.exec(absl::StrCat("SELECT pg_advisory_xact_lock(", kLeaseSchemaLockKey, ")"));
      txn.exec0(kSchema);
      txn.commit();
    }
    const std::string lease_interval = "make_interval(secs => $3::double precision / 1000)";
    c.prepare("acquire", absl::StrCat(R"sql(
        UPDATE genfarm_leader SET holder = $1, address = $2, epoch = epoch + 1,
          acquired_at = clock_timestamp(), expires_at = clock_timestamp() + )sql",
                                      lease_interval, R"sql(
        WHERE id = 1 AND (expires_at <= clock_timestamp() OR holder = $1)
        RETURNING epoch)sql"));
    c.prepare("record_epoch", R"sql(
        INSERT INTO genfarm_epochs (epoch, holder, address, acquired_at)
        SELECT epoch, holder, address, acquired_at FROM genfarm_leader WHERE id = 1
        ON CONFLICT (epoch) DO NOTHING)sql");
    c.prepare("renew",
              absl::StrCat("UPDATE genfarm_leader SET expires_at = clock_timestamp() + ",
                           lease_interval, " WHERE id = 1 AND holder = $1 AND epoch = $2"));
    c.prepare("release",
              "UPDATE genfarm_leader SET expires_at = '-infinity' "
              "WHERE id = 1 AND holder = $1 AND epoch = $2");
    c.prepare("current",
              "SELECT holder, address, epoch, expires_at <= clock_timestamp() "
              "FROM genfarm_leader WHERE id = 1");
    conn_ = std::move(conn);
    return absl::OkStatus();
  });
}

template <typename Fn>
absl::Status PostgresLeaderLease::Run(const char* what, Fn&& fn) {
  if (conn_ == nullptr) GENFARM_RETURN_IF_ERROR(Connect());
  absl::Status status = PqxxGuard(absl::StrCat("leader lease: ", what), [&]() -> absl::Status {
    pqxx::work txn(conn_->conn);
    txn.exec0(absl::StrCat("SET LOCAL lock_timeout = ", Millis(options_.lock_timeout)));
    GENFARM_RETURN_IF_ERROR(fn(txn));
    txn.commit();
    return absl::OkStatus();
  });
  if (absl::IsUnavailable(status) && !conn_->conn.is_open()) conn_.reset();
  return status;
}

namespace {

LeaseView ReadView(pqxx::work& txn) {
  const pqxx::row row = txn.exec_prepared1("current");
  LeaseView view;
  view.holder = row[0].as<std::string>();
  view.address = row[1].as<std::string>();
  view.epoch = row[2].as<int64_t>();
  view.expired = row[3].as<bool>();
  return view;
}

}  // namespace

absl::StatusOr<LeaseView> PostgresLeaderLease::TryAcquire() {
  LeaseView view;
  GENFARM_RETURN_IF_ERROR(Run("acquire", [&](pqxx::work& txn) {
    const pqxx::result taken =
        txn.exec_prepared("acquire", options_.holder, options_.address, Millis(options_.lease));
    if (!taken.empty()) txn.exec_prepared0("record_epoch");
    view = ReadView(txn);
    view.ours = !taken.empty();
    return absl::OkStatus();
  }));
  return view;
}

absl::Status PostgresLeaderLease::Renew(int64_t epoch) {
  return Run("renew", [&](pqxx::work& txn) -> absl::Status {
    const pqxx::result renewed =
        txn.exec_prepared0("renew", options_.holder, epoch, Millis(options_.lease));
    if (renewed.affected_rows() == 1) return absl::OkStatus();
    const LeaseView now = ReadView(txn);
    return absl::FailedPreconditionError(
        absl::StrCat("lease of epoch ", epoch, " lost: epoch ", now.epoch, " is held by ",
                     now.holder.empty() ? "nobody" : now.holder, " at ", now.address));
  });
}

absl::Status PostgresLeaderLease::Release(int64_t epoch) {
  return Run("release", [&](pqxx::work& txn) {
    txn.exec_prepared0("release", options_.holder, epoch);
    return absl::OkStatus();
  });
}

}  // namespace genfarm::scheduler::ha
