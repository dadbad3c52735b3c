#include "scheduler/service/worker_service.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "scheduler/http/thumbnail_store.h"
#include "scheduler/service/grpc_status.h"
#include "scheduler/service/stream_writer.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler {
namespace {

using Reactor = grpc::ServerBidiReactor<v1::WorkerMessage, v1::SchedulerMessage>;
using Writer = StreamWriter<Reactor, v1::SchedulerMessage>;

// Keeps the preview of an accepted successful result. Runs on the core's executor. The
// result's job and task were fenced by the core; the stage name is the worker's word, so
// it must name a stage of that job. Failures are logged, never the task's problem.
void KeepThumbnail(const SchedulerCore& core, ThumbnailStore& store, const WorkerId& worker,
                   v1::Result& result) {
  v1::Thumbnail& t = *result.mutable_thumbnail();
  const JobId job(result.job_id());
  absl::StatusOr<v1::Job> view = core.GetJob(job);
  bool known_stage = false;
  if (view.ok()) {
    for (const v1::StageSpec& stage : view->spec().stages())
      known_stage |= stage.name() == t.stage();
  }
  if (!known_stage) {
    spdlog::warn("worker {}: dropping the preview of job {} frame {}: no stage '{}'",
                 worker.value(), result.job_id(), t.frame(), t.stage());
    return;
  }
  StoredThumbnail stored;
  stored.frame = t.frame();
  stored.task = result.task_index();
  stored.width = t.width();
  stored.height = t.height();
  stored.jpeg = std::move(*t.mutable_jpeg());
  if (absl::Status s = store.Put(job, t.stage(), std::move(stored)); !s.ok()) {
    spdlog::warn("worker {}: dropping a preview: {}", worker.value(), std::string(s.message()));
  }
}

// The core's handle on this stream; outlives the reactor safely (see StreamWriter).
class StreamChannel : public WorkerChannel {
 public:
  StreamChannel(Reactor* reactor, const auth::GrpcAuth* auth) : writer_(reactor), auth_(auth) {}
  void Send(const v1::SchedulerMessage& message) override {
    if (auth_ != nullptr && message.has_assign()) {
      // The worker checks its paths against the project's roots (symlinks resolved).
      std::vector<std::string> roots = auth_->authorizer().StorageRoots(message.assign().project());
      if (!roots.empty()) {
        v1::SchedulerMessage with_roots = message;
        for (std::string& root : roots)
          with_roots.mutable_assign()->add_storage_roots(std::move(root));
        writer_.Send(with_roots);
        return;
      }
    }
    writer_.Send(message);
  }
  void Close() override { writer_.Close(grpc::Status::OK); }
  void CloseWithReason(const absl::Status& reason) override { writer_.Close(ToGrpcStatus(reason)); }
  void Close(const grpc::Status& status) { writer_.Close(status); }
  Writer& writer() { return writer_; }

 private:
  Writer writer_;
  const auth::GrpcAuth* auth_;
};

class WorkerStream : public Reactor {
 public:
  WorkerStream(SerialExecutor& executor, SchedulerCore& core, ThumbnailStore* thumbnails,
               const auth::GrpcAuth* auth, grpc::CallbackServerContext* ctx)
      : executor_(executor),
        core_(core),
        thumbnails_(thumbnails),
        auth_(auth),
        channel_(std::make_shared<StreamChannel>(this, auth)) {
    if (auth_ != nullptr) {
      absl::StatusOr<auth::Identity> who = auth_->Authenticate(*ctx);
      if (who.ok()) caller_ = *std::move(who);
      ctx_ = ctx;
    }
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The worker closed its side (or the call was cancelled): end ours too.
      channel_->Close();
      return;
    }
    Handle(in_);
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override { channel_->writer().WriteDone(ok); }

  void OnDone() override {
    channel_->writer().Detach();
    if (!worker_id_.empty()) {
      SchedulerCore& core = core_;
      WorkerId id(worker_id_);
      std::shared_ptr<StreamChannel> channel = channel_;
      executor_.Post([&core, id, channel] { core.WorkerGone(id, channel.get()); });
    }
    delete this;
  }

 private:
  // Ends the stream with `status`; later messages on it are dropped unread.
  void Refuse(const grpc::Status& status) {
    MarkRefused(status);
    channel_->Close(status);
  }
  // Drops what comes next on the stream; the caller ends it.
  void MarkRefused(const grpc::Status& status) {
    spdlog::warn("worker stream{}{}: {}", worker_id_.empty() ? "" : " of ", worker_id_,
                 status.error_message());
    refused_ = true;
  }

  // Runs on gRPC's reactor thread: check, translate and post, never block. The checks are
  // pure and bounded by the message's size.
  void Handle(const v1::WorkerMessage& message) {
    if (refused_) return;
    if (absl::Status valid = ValidateWorkerMessage(message); !valid.ok()) {
      Refuse(ToGrpcStatus(valid));
      return;
    }
    SchedulerCore& core = core_;
    if (message.has_hello()) {
      if (!worker_id_.empty()) {
        Refuse(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "hello: this stream already said hello as '" + worker_id_ +
                                "'; a stream carries one hello (reconnect to start over)"));
        return;
      }
      if (auth_ != nullptr && auth_->enabled()) {
        // A worker speaks only for itself: its certificate's CN is its id.
        grpc::Status id_ok = auth_->CheckWorkerId(*ctx_, message.hello().worker_id());
        if (!id_ok.ok()) {
          const absl::Status refused(static_cast<absl::StatusCode>(id_ok.error_code()),
                                     "hello: " + id_ok.error_message());
          auth_->CountDenial(auth::kWorkerConnect, refused.code());
          MarkRefused(ToGrpcStatus(refused));
          // The stream ends once the refusal is on record (the channel outlives the reactor).
          auth_->Audit(caller_, auth::kWorkerConnect, "worker " + message.hello().worker_id(), 0,
                       "", refused,
                       [channel = channel_, status = ToGrpcStatus(refused)](absl::Status) {
                         channel->Close(status);
                       });
          return;
        }
      }
      worker_id_ = message.hello().worker_id();
      std::shared_ptr<StreamChannel> channel = channel_;
      executor_.Post([&core, hello = message.hello(), channel] {
        absl::Status status = core.WorkerHello(hello, channel);
        if (!status.ok()) {
          spdlog::warn("refusing worker {}: {}", hello.worker_id(), std::string(status.message()));
          channel->Close(ToGrpcStatus(status));
        }
      });
      return;
    }
    if (worker_id_.empty()) {
      Refuse(
          grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "the first message must be a hello"));
      return;
    }
    WorkerId id(worker_id_);
    // Each message carries its stream: the core ignores what comes on a stream that is not
    // the worker's current one (a refused duplicate, a replaced stream).
    std::shared_ptr<StreamChannel> channel = channel_;
    switch (message.body_case()) {
      case v1::WorkerMessage::kHeartbeat:
        executor_.Post([&core, id, channel, hb = message.heartbeat()] {
          core.WorkerHeartbeat(id, channel.get(), hb);
        });
        break;
      case v1::WorkerMessage::kProgress:
        executor_.Post([&core, id, channel, p = message.progress()] {
          core.WorkerProgress(id, channel.get(), p);
        });
        break;
      case v1::WorkerMessage::kResult:
        executor_.Post([&core, thumbnails = thumbnails_, auth = auth_, caller = caller_, id,
                        channel, r = message.result()]() mutable {
          const bool accepted = core.WorkerResult(id, channel.get(), r);
          if (!accepted && auth != nullptr) {
            // A stale result, or an attempt that is not this worker's: ignored, and on
            // the record (one line per ignored result, bounded by the stream's rate).
            auth->Audit(caller, "Result", absl::StrCat("attempt ", r.attempt_id()), r.job_id(), "",
                        absl::PermissionDeniedError(absl::StrCat(
                            "worker ", id.value(), " reported attempt ", r.attempt_id(),
                            ", which is not its current attempt: ignored")));
          }
          if (accepted && thumbnails != nullptr && r.success() && r.has_thumbnail() &&
              r.job_id() != 0) {
            KeepThumbnail(core, *thumbnails, id, r);
          }
        });
        break;
      default:
        break;
    }
  }

  SerialExecutor& executor_;
  SchedulerCore& core_;
  ThumbnailStore* thumbnails_;
  const auth::GrpcAuth* auth_;
  grpc::CallbackServerContext* ctx_ = nullptr;  // for CheckWorkerId; with auth only
  auth::Identity caller_;                       // who opened the stream, for the audit
  std::shared_ptr<StreamChannel> channel_;
  v1::WorkerMessage in_;
  std::string worker_id_;  // set by the hello; reactor thread only
  bool refused_ = false;   // the stream is being ended for a bad message; reactor thread only
};

}  // namespace

grpc::ServerBidiReactor<v1::WorkerMessage, v1::SchedulerMessage>* GrpcWorkerService::Connect(
    grpc::CallbackServerContext* ctx) {
  return new WorkerStream(executor_, core_, thumbnails_, auth_, ctx);
}

}  // namespace genfarm::scheduler
