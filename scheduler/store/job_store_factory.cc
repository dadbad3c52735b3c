#include "scheduler/store/job_store_factory.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "scheduler/store/postgres_job_store.h"
#include "scheduler/store/sqlite_job_store.h"

namespace genfarm::scheduler {
namespace {

constexpr absl::string_view kSqlitePrefix = "sqlite:";
constexpr absl::string_view kPostgresPrefix = "postgres:";

bool IsPostgresUri(const std::string& store) {
  return absl::StartsWith(store, "postgres://") || absl::StartsWith(store, "postgresql://");
}

// What to hand libpq: a URI as given, or the keyword string after "postgres:".
std::string PostgresConnectionString(const std::string& store) {
  if (IsPostgresUri(store)) return store;
  return std::string(absl::StripPrefix(store, kPostgresPrefix));
}

}  // namespace

std::string SqliteDataDir(const std::string& store, const std::string& data_dir) {
  absl::string_view dir = absl::StripPrefix(store, kSqlitePrefix);
  return dir.empty() ? data_dir : std::string(dir);
}

absl::StatusOr<StoreKind> ParseStoreKind(const std::string& store) {
  if (store.empty() || absl::StartsWith(store, kSqlitePrefix)) return StoreKind::kSqlite;
  if (IsPostgresUri(store) || absl::StartsWith(store, kPostgresPrefix)) {
    return StoreKind::kPostgres;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--store \"", PostgresJobStore::RedactUrl(store),
                   "\": expected empty or sqlite:[dir] (SQLite), postgres://user@host:port/db "
                   "or postgres:<libpq keywords> (PostgreSQL)"));
}

std::string DescribeStore(const std::string& store, const std::string& data_dir) {
  absl::StatusOr<StoreKind> kind = ParseStoreKind(store);
  if (!kind.ok()) return PostgresJobStore::RedactUrl(store);
  if (*kind == StoreKind::kSqlite) return absl::StrCat("sqlite:", SqliteDataDir(store, data_dir));
  return PostgresJobStore::RedactUrl(store);
}

absl::StatusOr<std::unique_ptr<JobStore>> OpenJobStore(const std::string& store,
                                                       const std::string& data_dir) {
  absl::StatusOr<StoreKind> kind = ParseStoreKind(store);
  if (!kind.ok()) return kind.status();
  if (*kind == StoreKind::kSqlite) {
    absl::StatusOr<std::unique_ptr<SqliteJobStore>> sqlite =
        SqliteJobStore::Open(SqliteDataDir(store, data_dir));
    if (!sqlite.ok()) return sqlite.status();
    return std::unique_ptr<JobStore>(std::move(*sqlite));
  }
  absl::StatusOr<std::unique_ptr<PostgresJobStore>> pg =
      PostgresJobStore::Open(PostgresConnectionString(store));
  if (!pg.ok()) return pg.status();
  return std::unique_ptr<JobStore>(std::move(*pg));
}

absl::StatusOr<std::unique_ptr<JobStore>> OpenFencedJobStore(const std::string& store,
                                                             PostgresJobStore::Fence fence) {
  absl::StatusOr<StoreKind> kind = ParseStoreKind(store);
  if (!kind.ok()) return kind.status();
  if (*kind != StoreKind::kPostgres) {
    return absl::InvalidArgumentError(
        "high availability (--ha) needs --store postgres://...: schedulers share their state "
        "and elect their leader through PostgreSQL");
  }
  absl::StatusOr<std::unique_ptr<PostgresJobStore>> pg =
      PostgresJobStore::Open(PostgresConnectionString(store));
  if (!pg.ok()) return pg.status();
  if (absl::Status s = (*pg)->EnableFencing(std::move(fence)); !s.ok()) return s;
  return std::unique_ptr<JobStore>(std::move(*pg));
}

std::string PostgresUrl(const std::string& store) { return PostgresConnectionString(store); }

}  // namespace genfarm::scheduler
