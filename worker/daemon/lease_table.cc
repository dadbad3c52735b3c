#include "worker/daemon/lease_table.h"

#include <algorithm>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace genfarm::worker {
namespace {

// Send times kept for renewals still to come. A renewal answers a message at most a few
// heartbeats old; one for an older message only loses its extension (the next one brings it).
constexpr size_t kSentKept = 64;

std::string SecondsText(absl::Duration d) {
  return absl::StrFormat("%.1f s", absl::ToDoubleSeconds(d));
}

}  // namespace

LeaseTable::LeaseTable(const Clock& clock, Options options) : clock_(clock), options_(options) {}

LeaseTable::~LeaseTable() { Stop(); }

void LeaseTable::Start(OnLost on_lost) {
  on_lost_ = std::move(on_lost);
  thread_ = std::thread([this] { WatchLoop(); });
}

void LeaseTable::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    ++generation_;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Duration LeaseTable::Usable(absl::Duration lease) const {
  const absl::Duration usable = lease * (1.0 - options_.rate_margin) - options_.fixed_margin;
  return std::max(usable, absl::ZeroDuration());
}

uint64_t LeaseTable::NoteSent() {
  absl::MutexLock lock(&mu_);
  const uint64_t seq = next_seq_++;
  sent_.emplace_back(seq, clock_.Now());
  while (sent_.size() > kSentKept) sent_.pop_front();
  return seq;
}

void LeaseTable::SetLease(absl::Duration lease) {
  absl::MutexLock lock(&mu_);
  lease_ = lease;
  ++generation_;
}

void LeaseTable::OnRenewal(const v1::LeaseRenewal& renewal) {
  std::vector<std::pair<int64_t, std::string>> lost;
  {
    absl::MutexLock lock(&mu_);
    if (renewal.lease_ms() > 0) lease_ = absl::Milliseconds(renewal.lease_ms());
    // The lease runs from when we sent the message it answers, never from when the answer
    // arrived: the scheduler counts from its receipt, which is later.
    // A negative number is nobody's (we count from 1).
    const uint64_t answered = renewal.lease_seq() > 0 ? uint64_t(renewal.lease_seq()) : 0;
    std::optional<absl::Time> sent;
    for (const auto& [seq, at] : sent_) {
      if (seq == answered) sent = at;
    }
    while (!sent_.empty() && sent_.front().first <= answered) sent_.pop_front();
    const absl::Time valid = sent ? *sent + Usable(lease_) : absl::InfinitePast();
    worker_valid_until_ = std::max(worker_valid_until_, valid);
    confirmed_ = true;
    const absl::flat_hash_set<int64_t> listed(renewal.attempts().begin(), renewal.attempts().end());
    for (auto& [attempt, held] : held_) {
      if (held.lost) continue;
      if (listed.contains(attempt)) {
        held.valid_until = std::max(held.valid_until, valid);
        held.confirmed = true;
      } else {
        MarkLost(attempt, held,
                 "the scheduler no longer holds this attempt for this worker (declared lost, "
                 "cancelled or reassigned)",
                 &lost);
      }
    }
    ++generation_;
  }
  Notify(lost);
}

void LeaseTable::OnDisconnected() {
  absl::MutexLock lock(&mu_);
  confirmed_ = false;
  for (auto& [attempt, held] : held_) held.confirmed = false;
  ++generation_;
}

void LeaseTable::Add(int64_t attempt) {
  absl::MutexLock lock(&mu_);
  Held& held = held_[attempt];
  held = Held{};
  held.valid_until = worker_valid_until_;
  held.confirmed = confirmed_;
  ++generation_;
}

void LeaseTable::Revoke(int64_t attempt, const std::string& why) {
  // The caller stops the attempt itself (a cancel carries its own reason): no callback.
  std::vector<std::pair<int64_t, std::string>> unused;
  absl::MutexLock lock(&mu_);
  auto it = held_.find(attempt);
  if (it != held_.end() && !it->second.lost) MarkLost(attempt, it->second, why, &unused);
}

void LeaseTable::Remove(int64_t attempt) {
  absl::MutexLock lock(&mu_);
  held_.erase(attempt);
  ++generation_;
}

absl::Status LeaseTable::CheckBeforeRename(int64_t attempt) {
  std::vector<std::pair<int64_t, std::string>> lost;
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    while (true) {
      if (lease_ == absl::ZeroDuration()) break;  // the scheduler fences nothing: neither do we
      auto it = held_.find(attempt);
      if (it == held_.end()) {
        status = absl::AbortedError(
            absl::StrCat("attempt ", attempt, ": not held by this worker, output not renamed"));
        break;
      }
      Held& held = it->second;
      const absl::Time now = clock_.Now();
      if (!held.lost && now >= held.valid_until) {
        MarkLost(attempt, held,
                 absl::StrCat("lease ran out ", SecondsText(now - held.valid_until),
                              " ago with no renewal from the scheduler"),
                 &lost);
      }
      if (held.lost) {
        status = absl::AbortedError(
            absl::StrCat("attempt ", attempt, ": ", held.why, "; output not renamed into place"));
        break;
      }
      if (held.confirmed) break;
      if (stopping_) {
        status = absl::AbortedError(absl::StrCat(
            "attempt ", attempt, ": worker stopping while cut off from the scheduler"));
        break;
      }
      // Cut off from the scheduler (or not yet re-confirmed after a reconnect): it may have
      // given the task away when the stream broke. Wait for a renewal that lists us, or for
      // the lease to run out.
      const uint64_t gen = generation_;
      auto changed = [this, gen]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return generation_ != gen; };
      clock_.AwaitUntil(&mu_, absl::Condition(&changed), held.valid_until);
    }
    if (!status.ok()) ++renames_refused_;
  }
  Notify(lost);
  if (!status.ok() && options_.on_rename_refused) options_.on_rename_refused();
  return status;
}

bool LeaseTable::enabled() const {
  absl::MutexLock lock(&mu_);
  return lease_ > absl::ZeroDuration();
}

absl::Time LeaseTable::ValidUntil(int64_t attempt) const {
  absl::MutexLock lock(&mu_);
  auto it = held_.find(attempt);
  return it == held_.end() ? absl::InfinitePast() : it->second.valid_until;
}

int64_t LeaseTable::renames_refused() const {
  absl::MutexLock lock(&mu_);
  return renames_refused_;
}

void LeaseTable::MarkLost(int64_t attempt, Held& held, std::string why,
                          std::vector<std::pair<int64_t, std::string>>* notify) {
  held.lost = true;
  held.why = std::move(why);
  ++generation_;
  notify->emplace_back(attempt, held.why);
}

void LeaseTable::Notify(const std::vector<std::pair<int64_t, std::string>>& lost) {
  if (!on_lost_) return;
  for (const auto& [attempt, why] : lost) on_lost_(attempt, why);
}

void LeaseTable::WatchLoop() {
  while (true) {
    std::vector<std::pair<int64_t, std::string>> lost;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      absl::Time next = absl::InfiniteFuture();
      if (lease_ > absl::ZeroDuration()) {
        for (const auto& [attempt, held] : held_) {
          if (!held.lost) next = std::min(next, held.valid_until);
        }
      }
      const uint64_t gen = generation_;
      auto changed = [this, gen]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return generation_ != gen; };
      if (next == absl::InfiniteFuture()) {
        mu_.Await(absl::Condition(&changed));
      } else if (clock_.AwaitUntil(&mu_, absl::Condition(&changed), next)) {
        continue;  // something changed: recompute the next expiry
      }
      if (stopping_) return;
      const absl::Time now = clock_.Now();
      for (auto& [attempt, held] : held_) {
        if (held.lost || lease_ == absl::ZeroDuration() || now < held.valid_until) continue;
        MarkLost(attempt, held,
                 absl::StrCat("lease ran out with no renewal from the scheduler for ",
                              SecondsText(now - held.valid_until + lease_), " (lease ",
                              SecondsText(lease_), ")"),
                 &lost);
      }
    }
    Notify(lost);
  }
}

}  // namespace genfarm::worker
