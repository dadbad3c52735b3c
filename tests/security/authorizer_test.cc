#include "scheduler/auth/authorizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "scheduler/auth/token_store.h"

namespace genfarm::scheduler::auth {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::StatusCode kOk = absl::StatusCode::kOk;
constexpr absl::StatusCode kDenied = absl::StatusCode::kPermissionDenied;
constexpr absl::StatusCode kUnauth = absl::StatusCode::kUnauthenticated;

std::unique_ptr<RolesStore> Roles() {
  std::string text = "people:\n";
  int n = 0;
  for (const char* line :
       {"vic: {roles: {feature: viewer}}", "alice: {roles: {feature: artist}}",
        "art2: {roles: {feature: artist}}", "bob: {roles: {feature: wrangler}}",
        "zed: {roles: {commercial: wrangler, feature: viewer}}", "olga: {roles: {'*': ops}}",
        "adam: {roles: {'*': admin}}", "wanda: {roles: {'*': viewer}}"}) {
    std::string l = line;
    l.insert(l.find('{') + 1, "token_sha256: " + Sha256Hex(std::to_string(n++)) + ", ");
    text += "  " + l + "\n";
  }
  text += "projects:\n  feature: {storage_roots: [/mnt/feature]}\n";
  auto store = RolesStore::FromYaml(text);
  EXPECT_TRUE(store.ok()) << store.status();
  return *std::move(store);
}

Identity Person(const std::string& name) { return {IdentityKind::kPerson, name, "token", ""}; }
Identity Worker(const std::string& id) { return {IdentityKind::kWorker, id, "certificate", ""}; }
const Identity kAnonymous{};

struct Case {
  std::string name;
  Identity who;
  Action action;
  absl::StatusCode expected;
  std::string message = "";  // a part of the error, when set
};

std::vector<Case> Cases() {
  const std::string f = "feature", c = "commercial";
  auto act = [](absl::string_view m, std::optional<std::string> p = std::nullopt,
                std::optional<std::string> owner = std::nullopt) {
    return Action{std::string(m), std::move(p), std::move(owner)};
  };
  return {
      // Open methods.
      {"HealthIsOpen", kAnonymous, act("/grpc.health.v1.Health/Check"), kOk},
      // No credentials.
      {"AnonymousSubmit", kAnonymous, act(kSubmitJob, f), kUnauth, "no credentials"},
      {"AnonymousList", kAnonymous, act(kListJobs), kUnauth},
      {"AnonymousWorkerConnect", kAnonymous, act(kWorkerConnect), kUnauth},
      // Unknown methods are denied by default.
      {"UnknownMethod", Person("adam"), act("/genfarm.v1.JobService/DeleteEverything"), kDenied,
       "no authorization rule"},
      // Service-level rule.
      {"WorkerConnects", Worker("w1"), act(kWorkerConnect), kOk},
      {"PersonOnWorkerService", Person("adam"), act(kWorkerConnect), kDenied,
       "people's credentials never open it"},
      {"WorkerOnJobService", Worker("w1"), act(kListJobs), kDenied, "opens only WorkerService"},
      {"WorkerOnFarmService", Worker("w1"), act(kDrainWorker), kDenied},
      // Viewers.
      {"ViewerLists", Person("vic"), act(kListJobs, f), kOk},
      {"ViewerListsAtTheDoor", Person("vic"), act(kListJobs), kOk},
      {"ViewerListsTasks", Person("vic"), act(kListTasks, f), kOk},
      {"ViewerReadsLogs", Person("vic"), act(kGetTaskLog, f), kOk},
      {"ViewerSubmits", Person("vic"), act(kSubmitJob, f), kDenied,
       "needs artist in project feature"},
      {"ViewerSubmitsAtTheDoor", Person("vic"), act(kSubmitJob), kDenied, "in any project"},
      {"ViewerOfAnotherProject", Person("vic"), act(kGetJob, c), kDenied},
      // Artists.
      {"ArtistSubmits", Person("alice"), act(kSubmitJob, f), kOk},
      {"ArtistSubmitsToAnotherProject", Person("alice"), act(kSubmitJob, c), kDenied,
       "alice has no role"},
      {"ArtistCancelsOwnJob", Person("alice"), act(kCancelJob, f, "alice"), kOk},
      {"ArtistPausesOwnJob", Person("alice"), act(kPauseJob, f, "alice"), kOk},
      {"ArtistCancelsAnotherArtistsJob", Person("alice"), act(kCancelJob, f, "art2"), kDenied,
       "of another person's job needs wrangler"},
      {"ArtistResumesAnotherArtistsJob", Person("alice"), act(kResumeJob, f, "art2"), kDenied},
      {"ArtistCancelsOwnJobInAnotherProject", Person("alice"), act(kCancelJob, c, "alice"),
       kDenied},
      {"ArtistSetsPriority", Person("alice"), act(kSetPriority, f), kDenied, "needs wrangler"},
      {"ArtistRetries", Person("alice"), act(kRetryTasks, f), kDenied},
      {"ArtistDrains", Person("alice"), act(kDrainWorker), kDenied, "needs ops farm-wide"},
      {"ArtistListsWorkers", Person("alice"), act(kListWorkers), kDenied},
      // Wranglers.
      {"WranglerCancelsAnyJob", Person("bob"), act(kCancelJob, f, "alice"), kOk},
      {"WranglerSetsPriority", Person("bob"), act(kSetPriority, f), kOk},
      {"WranglerRetries", Person("bob"), act(kRetryTasks, f), kOk},
      {"WranglerOfAChangesB", Person("bob"), act(kSetPriority, c), kDenied},
      {"WranglerOfACancelsInB", Person("bob"), act(kCancelJob, c, "zed"), kDenied},
      {"WranglerOfBViewsA", Person("zed"), act(kGetJob, f), kOk},
      {"WranglerOfBChangesA", Person("zed"), act(kRetryTasks, f), kDenied},
      {"WranglerDrains", Person("bob"), act(kDrainWorker), kDenied},
      // Farm-wide roles.
      {"FarmViewerViewsAnyProject", Person("wanda"), act(kGetJob, "anything"), kOk},
      {"FarmViewerCannotSubmit", Person("wanda"), act(kSubmitJob, f), kDenied},
      {"FarmViewerCannotListWorkers", Person("wanda"), act(kListWorkers), kDenied},
      {"OpsDrains", Person("olga"), act(kDrainWorker), kOk},
      {"OpsFarmStats", Person("olga"), act(kGetFarmStats), kOk},
      {"OpsReadsTheAudit", Person("olga"), act(kListAudit), kOk},
      {"WranglerCannotReadTheAudit", Person("bob"), act(kListAudit), kDenied},
      {"OpsWrangleAnywhere", Person("olga"), act(kCancelJob, c, "zed"), kOk},
      {"OpsCannotAdministerRoles", Person("olga"), act(kAdminRoles), kDenied, "needs admin"},
      {"AdminAdministersRoles", Person("adam"), act(kAdminRoles), kOk},
      {"AdminDrains", Person("adam"), act(kDrainWorker), kOk},
      // HTTP.
      {"ViewerSeesDashboard", Person("vic"), act(kHttpDashboard), kOk},
      {"ViewerCannotScrapeMetrics", Person("vic"), act(kHttpMetrics), kDenied},
      {"OpsScrapesMetrics", Person("olga"), act(kHttpMetrics), kOk},
      // People removed from the file since they authenticated.
      {"RemovedPerson", Person("gone"), act(kListJobs), kUnauth, "no longer in the roles file"},
  };
}

class AuthorizerTableTest : public ::testing::TestWithParam<Case> {};

TEST_P(AuthorizerTableTest, Decides) {
  static std::unique_ptr<RolesStore> roles = Roles();
  Authorizer authz(roles.get());
  absl::Status s = authz.Check(GetParam().who, GetParam().action);
  EXPECT_EQ(s.code(), GetParam().expected) << s;
  if (!GetParam().message.empty()) {
    EXPECT_THAT(std::string(s.message()), HasSubstr(GetParam().message));
  }
}

INSTANTIATE_TEST_SUITE_P(Table, AuthorizerTableTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

TEST(AuthorizerTest, OffAllowsEverything) {
  Authorizer off(nullptr);
  EXPECT_FALSE(off.enabled());
  EXPECT_TRUE(off.Check(kAnonymous, {std::string(kDrainWorker), std::nullopt, std::nullopt}).ok());
  EXPECT_TRUE(off.CheckWorkerId(kAnonymous, "w2").ok());
  EXPECT_TRUE(off.CanView(kAnonymous, "feature"));
}

TEST(AuthorizerTest, AWorkerSpeaksOnlyForItself) {
  auto roles = Roles();
  Authorizer authz(roles.get());
  EXPECT_TRUE(authz.CheckWorkerId(Worker("w1"), "w1").ok());
  absl::Status other = authz.CheckWorkerId(Worker("w1"), "w2");
  EXPECT_EQ(other.code(), kDenied);
  EXPECT_THAT(std::string(other.message()), HasSubstr("cannot speak for worker w2"));
  EXPECT_EQ(authz.CheckWorkerId(Person("adam"), "w1").code(), kDenied);
}

TEST(AuthorizerTest, RolesViewsAndStorageRoots) {
  auto roles = Roles();
  Authorizer authz(roles.get());
  EXPECT_EQ(authz.RoleIn(Person("zed"), "commercial"), Role::kWrangler);
  EXPECT_EQ(authz.RoleIn(Person("olga"), "commercial"), Role::kOps);
  EXPECT_EQ(authz.RoleIn(Worker("w1"), "feature"), Role::kNone);
  EXPECT_TRUE(authz.CanView(Person("vic"), "feature"));
  EXPECT_FALSE(authz.CanView(Person("vic"), "commercial"));
  EXPECT_THAT(authz.StorageRoots("feature"), ElementsAre("/mnt/feature"));
  EXPECT_TRUE(authz.StorageRoots("commercial").empty());
}

}  // namespace
}  // namespace genfarm::scheduler::auth
