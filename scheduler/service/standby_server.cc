#include "scheduler/service/standby_server.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/tls/grpc_credentials.h"

namespace genfarm::scheduler {
namespace {

// Answers every call it is given UNAVAILABLE with the text `message()` returns.
class RefusingService : public grpc::CallbackGenericService {
 public:
  void SetLeader(const ha::LeaseView& leader) {
    absl::MutexLock lock(&mu_);
    leader_ = leader;
  }

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    class Refuse : public grpc::ServerGenericBidiReactor {
     public:
      explicit Refuse(grpc::Status status) { Finish(status); }
      void OnDone() override { delete this; }
    };
    return new Refuse(grpc::Status(grpc::StatusCode::UNAVAILABLE, Message(ctx->method())));
  }

 private:
  std::string Message(const std::string& method) {
    absl::MutexLock lock(&mu_);
    const std::string where =
        leader_.epoch == 0 || leader_.holder.empty() ? std::string("no scheduler has led yet")
        : leader_.expired
            ? absl::StrCat("the leader of epoch ", leader_.epoch, " at ", leader_.address,
                           " let its lease expire; a standby takes over shortly")
            : absl::StrCat("the leader is ", leader_.address, " (epoch ", leader_.epoch, ")");
    return absl::StrCat("this scheduler is a standby and serves no ", method, ": ", where,
                        "; retry there, or give every scheduler's address (comma-separated) so "
                        "the client finds the leader itself");
  }

  absl::Mutex mu_;
  ha::LeaseView leader_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

struct StandbyServer::Parts {
  RefusingService refusing;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  absl::Mutex mu;
  bool stopped ABSL_GUARDED_BY(mu) = false;
};

absl::StatusOr<std::unique_ptr<StandbyServer>> StandbyServer::Start(
    const std::string& address, const auth::SecurityOptions& security) {
  auto parts = std::make_unique<Parts>();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address,
                           security.tls.has_identity() ? tls::ServerCredentials(security.tls)
                                                       : grpc::InsecureServerCredentials(),
                           &parts->port);
  builder.RegisterCallbackGenericService(&parts->refusing);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  parts->server = builder.BuildAndStart();
  if (parts->server == nullptr || parts->port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for gRPC on ", address));
  }
  grpc::HealthCheckServiceInterface* health = parts->server->GetHealthCheckService();
  health->SetServingStatus("", false);
  health->SetServingStatus(kLivenessService, true);
  return std::unique_ptr<StandbyServer>(new StandbyServer(std::move(parts)));
}

StandbyServer::StandbyServer(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

StandbyServer::~StandbyServer() { Shutdown(); }

int StandbyServer::port() const { return parts_->port; }

void StandbyServer::SetLeader(const ha::LeaseView& leader) { parts_->refusing.SetLeader(leader); }

void StandbyServer::Shutdown() {
  {
    absl::MutexLock lock(&parts_->mu);
    if (parts_->stopped) return;
    parts_->stopped = true;
  }
  parts_->server->Shutdown(absl::ToChronoTime(RealClock::Get().Now() + absl::Seconds(1)));
  parts_->server->Wait();
}

}  // namespace genfarm::scheduler
