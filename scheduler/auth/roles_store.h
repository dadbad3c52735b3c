// RolesStore: the roles file as it was last read successfully, and its reload. The scheduler
// checks the file's modification time on a timer (scheduler_server.cc) and calls
// ReloadIfChanged(); a file that no longer parses keeps the roles in force and reports why,
// so a typo during an edit never locks everyone out or lets everyone in.
//
//   GENFARM_ASSIGN_OR_RETURN(auto roles, RolesStore::Open("/etc/genfarm/roles.yaml"));
//   std::shared_ptr<const RolesSnapshot> now = roles->Current();
//   absl::StatusOr<bool> reloaded = roles->ReloadIfChanged();   // log !ok(); keep going
//
// Thread-safe: Current() may be called from any thread (gRPC auth threads, HTTP threads)
// while another reloads; a caller keeps the snapshot it took for the whole of one decision.
#ifndef GENFARM_SCHEDULER_AUTH_ROLES_STORE_H_
#define GENFARM_SCHEDULER_AUTH_ROLES_STORE_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "scheduler/auth/roles_file.h"
#include "scheduler/auth/token_store.h"

namespace genfarm::scheduler::auth {

// One parsed roles file with its lookup tables.
struct RolesSnapshot {
  RolesConfig config;
  TokenStore tokens;
  std::map<std::string, std::string> person_by_cert_cn;
  int64_t generation = 0;  // 1 for the first load, +1 per successful reload

  const PersonConfig* Person(const std::string& name) const;
  static absl::StatusOr<std::shared_ptr<const RolesSnapshot>> Build(RolesConfig config,
                                                                    int64_t generation);
};

class RolesStore {
 public:
  // Reads and parses `path`; any error is returned (the scheduler does not start).
  static absl::StatusOr<std::unique_ptr<RolesStore>> Open(std::string path);
  // From text, never reloaded (tests, tools).
  static absl::StatusOr<std::unique_ptr<RolesStore>> FromYaml(absl::string_view text);

  std::shared_ptr<const RolesSnapshot> Current() const ABSL_LOCKS_EXCLUDED(mu_);

  // Re-reads the file when its modification time, size or inode changed. True when new
  // roles are in force, false when nothing changed; an error (unreadable, invalid) leaves the
  // current roles in force and is reported once per change of the file.
  absl::StatusOr<bool> ReloadIfChanged() ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& path() const { return path_; }

 private:
  struct Stamp {
    int64_t mtime_ns = 0;
    int64_t size = -1;
    uint64_t inode = 0;
    bool operator==(const Stamp& o) const {
      return mtime_ns == o.mtime_ns && size == o.size && inode == o.inode;
    }
  };
  RolesStore(std::string path, std::shared_ptr<const RolesSnapshot> snapshot, Stamp stamp);
  static absl::StatusOr<Stamp> StampOf(const std::string& path);

  const std::string path_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const RolesSnapshot> current_ ABSL_GUARDED_BY(mu_);
  Stamp stamp_ ABSL_GUARDED_BY(mu_);  // of the file as last tried (loaded or rejected)
};

}  // namespace genfarm::scheduler::auth

#endif  // GENFARM_SCHEDULER_AUTH_ROLES_STORE_H_
