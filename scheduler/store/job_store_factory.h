// OpenJobStore: the scheduler's --store flag turned into a JobStore.
//
//   GENFARM_ASSIGN_OR_RETURN(std::unique_ptr<JobStore> store,
//                            OpenJobStore(absl::GetFlag(FLAGS_store), data_dir));
//
// `store` forms:
//   ""  or "sqlite:"                  SqliteJobStore in `data_dir` (the default)
//   "sqlite:/var/lib/genfarm"         SqliteJobStore in that directory
//   "postgres://user@host:port/db"    PostgresJobStore (also "postgresql://...")
//   "postgres:host=... dbname=..."    PostgresJobStore on a libpq keyword string
// Each call opens a new connection, so a caller that reads on a second thread (the task-log
// reader) calls it twice.
#ifndef GENFARM_SCHEDULER_STORE_JOB_STORE_FACTORY_H_
#define GENFARM_SCHEDULER_STORE_JOB_STORE_FACTORY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "scheduler/store/job_store.h"
#include "scheduler/store/postgres_job_store.h"

namespace genfarm::scheduler {

enum class StoreKind { kSqlite, kPostgres };

// Which store `store` names; InvalidArgument for an unknown scheme.
absl::StatusOr<StoreKind> ParseStoreKind(const std::string& store);

// The directory of the SQLite store `store` names (data_dir for "" and "sqlite:").
std::string SqliteDataDir(const std::string& store, const std::string& data_dir);

// A human-readable name of where the store lives, password redacted (for logs).
std::string DescribeStore(const std::string& store, const std::string& data_dir);

absl::StatusOr<std::unique_ptr<JobStore>> OpenJobStore(const std::string& store,
                                                       const std::string& data_dir);

// What libpq is handed for a postgres store (the URI, or the keywords after "postgres:").
std::string PostgresUrl(const std::string& store);

// The PostgreSQL store `store` names, its commits fenced by the leader lease (high
// availability, PostgresJobStore::EnableFencing). InvalidArgument for any other store.
absl::StatusOr<std::unique_ptr<JobStore>> OpenFencedJobStore(const std::string& store,
                                                             PostgresJobStore::Fence fence);

}  // namespace genfarm::scheduler

#endif  // GENFARM_SCHEDULER_STORE_JOB_STORE_FACTORY_H_
