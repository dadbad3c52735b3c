#include "scheduler/ha/leader_election.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace genfarm::scheduler::ha {

LeaderElection::LeaderElection(LeaderLease& lease, const Clock& clock, Options options,
                               Callbacks callbacks)
    : lease_(lease), clock_(clock), options_(options), callbacks_(std::move(callbacks)) {}

LeaderElection::~LeaderElection() { Stop(); }

absl::Time LeaderElection::Step() {
  const absl::Time start = clock_.Now();
  Role role;
  int64_t epoch;
  {
    absl::MutexLock lock(&mu_);
    role = role_;
    epoch = epoch_;
  }
  switch (role) {
    case Role::kSteppedDown:
      return absl::InfiniteFuture();
    case Role::kStandby: {
      absl::StatusOr<LeaseView> view = lease_.TryAcquire();
      if (!view.ok()) {
        absl::MutexLock lock(&mu_);
        if (std::string error(view.status().message()); error != last_error_) {
          spdlog::warn("leader election: cannot ask for the lease (retrying every {}): {}",
                       absl::FormatDuration(options_.poll_interval), error);
          last_error_ = std::move(error);
        }
        return start + options_.poll_interval;
      }
      if (view->ours) {
        {
          absl::MutexLock lock(&mu_);
          if (role_ != Role::kStandby) return absl::InfiniteFuture();  // stepped down meanwhile
          role_ = Role::kLeader;
          epoch_ = view->epoch;
          // Measured from before the request: the database's expiry is no earlier than this.
          valid_until_ = start + options_.lease;
          last_error_.clear();
        }
        spdlog::info("leader election: leading at epoch {}", view->epoch);
        if (callbacks_.on_elected) callbacks_.on_elected(view->epoch);
        return start + options_.renew_interval;
      }
      {
        absl::MutexLock lock(&mu_);
        last_error_.clear();
      }
      if (callbacks_.on_standby) callbacks_.on_standby(*view);
      return start + options_.poll_interval;
    }
    case Role::kLeader: {
      if (CheckExpiry()) return absl::InfiniteFuture();
      absl::Status renewed = lease_.Renew(epoch);
      if (renewed.ok()) {
        absl::MutexLock lock(&mu_);
        if (role_ == Role::kLeader) valid_until_ = start + options_.lease;
        last_error_.clear();
        return start + options_.renew_interval;
      }
      if (absl::IsFailedPrecondition(renewed)) {
        Lose(renewed);
        return absl::InfiniteFuture();
      }
      if (CheckExpiry()) return absl::InfiniteFuture();
      absl::MutexLock lock(&mu_);
      spdlog::warn("leader election: renewing epoch {} failed (retrying): {}", epoch,
                   std::string(renewed.message()));
      return std::min(start + options_.renew_interval, valid_until_ - options_.expiry_margin);
    }
  }
  return absl::InfiniteFuture();
}

bool LeaderElection::CheckExpiry() {
  absl::Time valid_until;
  int64_t epoch;
  {
    absl::MutexLock lock(&mu_);
    if (role_ != Role::kLeader) return false;
    if (clock_.Now() < valid_until_ - options_.expiry_margin) return false;
    valid_until = valid_until_;
    epoch = epoch_;
  }
  return Lose(absl::UnavailableError(
      absl::StrCat("the lease of epoch ", epoch, " was not renewed in time (it may expire at ",
                   absl::FormatTime(valid_until),
                   " by our clock): stepping down before another scheduler "
                   "can take over")));
}

void LeaderElection::StepDown(const absl::Status& why) { Lose(why); }

bool LeaderElection::Lose(const absl::Status& why) {
  {
    absl::MutexLock lock(&mu_);
    if (role_ == Role::kSteppedDown) return false;
    role_ = Role::kSteppedDown;
    epoch_ = 0;
  }
  spdlog::error("leader election: stepping down: {}", std::string(why.message()));
  if (callbacks_.on_lost) callbacks_.on_lost(why);
  return true;
}

void LeaderElection::Start() {
  thread_ = std::thread([this] {
    for (;;) {
      const absl::Time next = Step();
      if (clock_.SleepUntil(next, &stop_)) return;
    }
  });
  // Apart from the election thread, which may be stuck in a renewal on a dead connection.
  watchdog_ = std::thread([this] {
    const absl::Duration period = std::max(options_.expiry_margin / 2, absl::Milliseconds(10));
    while (!clock_.SleepUntil(clock_.Now() + period, &stop_)) CheckExpiry();
  });
}

void LeaderElection::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
  if (watchdog_.joinable()) watchdog_.join();
}

LeaderElection::Role LeaderElection::role() const {
  absl::MutexLock lock(&mu_);
  return role_;
}

int64_t LeaderElection::epoch() const {
  absl::MutexLock lock(&mu_);
  return epoch_;
}

}  // namespace genfarm::scheduler::ha
