/// @file
/// Layer 4: the election as a pure state machine. Given the record read from
/// the server, the local steady time it was read at, our identity and the
/// timing, it decides what to write or how long to wait; given the outcome
/// of our writes, it knows whether we hold the lock and until when. No
/// sockets, no timers: driven by lease_locker, tested on a manual clock.
#pragma once

#include <leaselocker/core/lock_record.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace leaselocker::core {

/// A local time on steady_clock: when a record was read, when to wake up.
using steady_time = std::chrono::steady_clock::time_point;
using std::chrono::milliseconds;

/// The election's timing (lock_config's, which lease_locker passes on).
struct timing {
    /// How long a lease lasts from its last renewal; written as
    /// leaseDurationSeconds (rounded up to whole seconds), and used for a
    /// holder whose record has none.
    milliseconds lease_duration{std::chrono::seconds(15)};
    /// How long after our last accepted write a renewal must have succeeded
    /// (see election::renew_deadline()).
    milliseconds renew_deadline{std::chrono::seconds(10)};
    /// The interval between renewals, and between polls while no watch
    /// runs (used by lease_locker, not by the election itself).
    milliseconds retry_period{std::chrono::seconds(2)};
    /// Judge another holder's expiry on our steady clock from when we first
    /// saw its record unchanged (true), or by its renewTime against our wall
    /// clock (false: sensitive to clock offset between hosts).
    bool use_observed_time = true;
    /// Bound on the rate difference between our clock and the server's and
    /// other holders' (ρ): we trust a lease for L·(1−ρ)/(1+ρ) from when the
    /// write that granted or renewed it was sent.
    double clock_rate_error = 0.01;
    /// Set: a record's age on the server's clock (observe's `server_age`),
    /// less this margin, counts as already observed (lock_config::
    /// first_sight_margin). Unset: it is ignored.
    std::optional<milliseconds> first_sight_margin;
};

/// Fair turns (lock_config::fair_turns): waiters join a queue kept in the
/// record; a free or expired lease goes to the queue's head first.
struct fairness {
    bool enabled = false; ///< false: no queue is joined and turns are not kept
    /// How long the head of the queue has to take a free (or expired) lease
    /// before the second in line may (dropping it from the queue); the k-th
    /// in line waits k graces, from the latest of: the lease seen free (or
    /// its expiry), itself seen queued, a yield window's end.
    milliseconds claim_grace{1000};
    /// For waiters that cannot join the queue (client-go, the Go reference:
    /// they poll): a lease freed after a grant whose leaseTransitions is a
    /// multiple of yield_every is left free for yield_window first (the
    /// queue's turns and graces count from the window's end). 0: never.
    int yield_every = 0;
    milliseconds yield_window{0}; ///< see yield_every
    /// A longer queue is not joined (the annotation stays small); those who
    /// cannot join wait after the whole queue.
    std::size_t max_queue = 64;
};

/// What observe() asks the caller to do.
enum class next_step {
    create,  ///< no object: create it with `record`
    replace, ///< free, expired, or ours: write `record` over the observed version
    wait,    ///< held by another: look again at `wake_at` (its expiry) or on a change
    enqueue, ///< fair turns: write `record` (the observed one, with us at the end of the queue), then as `wait`
};

/// The outcome of observe(): a step, the record to write, when to look again.
struct decision {
    next_step step = next_step::wait; ///< what to do
    lock_record record;               ///< for create, replace and enqueue: the record to write
    /// For wait and enqueue: when to look again (steady_time::max(): only on
    /// a change).
    steady_time wake_at{};
};

/// One identity's view of one lock: what to do about each record read,
/// whether we hold it and until when. Not thread-safe: lease_locker drives
/// it from its strand.
class election {
public:
    /// adopt_own_lease: at start-up, take a live lease that already carries
    /// our identity (a restarted holder) instead of waiting for it to expire.
    /// coordinated: a candidate of the API server's election controller
    /// (KEP-4355): it never creates a lease nor takes a free or expired one;
    /// it takes the lease when the controller names it the holder (not
    /// before the previous holder's lease, as this election saw it, ran
    /// out). Either way a lease with a strategy set is the controller's to
    /// assign: one that is not coordinated never takes it.
    election(std::string identity, timing t, bool adopt_own_lease = false, fairness fair = {}, bool coordinated = false);

    const std::string& identity() const noexcept { return identity_; } ///< ours, as written into holderIdentity
    const timing& config() const noexcept { return timing_; }          ///< as given at construction

    /// What to do about the record as read at `now` (nullopt: no object).
    /// `server_age`: a lower bound on how long before `now` it last changed,
    /// by the server's clock (nullopt: unknown); with first_sight_margin set
    /// the holder's clock counts from then rather than from our first sight.
    decision observe(const std::optional<lock_record>& current, steady_time now, micro_time wall_now,
                     std::optional<milliseconds> server_age = std::nullopt);

    /// Our write of `written` over `replaced` (the version it was compared
    /// against; nullopt for a create) was accepted; it was sent at
    /// `sent_at`. A new grant or a renewal: either way we hold the lock
    /// until valid_until().
    void accepted(const lock_record& written, steady_time sent_at, const std::optional<lock_record>& replaced);

    /// We no longer hold the lock (released, lost, taken over).
    void relinquish();

    /// Whether we hold the lock: since an accepted write, until relinquish()
    /// or an observed record that names another holder.
    bool holding() const noexcept { return holding_; }
    /// Held by us, and coordinated leader election prefers another holder
    /// (its preferredHolder): we step down rather than renew.
    bool asked_to_step_down(const lock_record& current) const noexcept {
        return holding_ && current.holder_identity == identity_ && another_preferred(current);
    }
    /// Until when our lease is ours for sure: from the send time of the last
    /// accepted write that changed the record as client-go's waiters see it
    /// (to the whole second: a write in the same second as the version it
    /// replaced does not restart their clock), shortened by the clock-rate
    /// bound. Epoch when not held.
    steady_time valid_until() const noexcept;
    /// When renewing must have succeeded by, counted from the last accepted
    /// write: the lock counts as lost at the earlier of this and
    /// valid_until() (which can come first: a renewal in the same second as
    /// the version it replaced extends nothing).
    steady_time renew_deadline() const noexcept;
    /// The record of our last accepted write (meaningful while holding()).
    const lock_record& held_record() const noexcept { return held_; }

    /// `current` without us in its queue (a cancelled waiter leaving it).
    lock_record left(lock_record current) const;
    /// The record to write over `replaced` to renew: ours with times now,
    /// and the queue as `replaced` has it (waiters joined meanwhile).
    lock_record renewal(const lock_record& replaced, micro_time wall_now) const;
    /// The record that releases `held` (as read afresh from the server):
    /// holder "", duration 1 s, times now, transitions and queue unchanged
    /// (as client-go writes it).
    static lock_record release(lock_record held, micro_time wall_now);

private:
    /// When the observed holder's lease runs out, on our steady clock.
    steady_time expiry(steady_time now, micro_time wall_now) const;
    /// Fair turns on a free or expired lease (free since `free_since`):
    /// nullopt to take it now, or what to do instead.
    std::optional<decision> defer_to_queue(const lock_record& current, bool free, steady_time free_since, steady_time now) const;
    lock_record grant(const std::optional<lock_record>& previous, micro_time wall_now) const;
    lock_record joined(lock_record current) const;
    /// Equal but for the queue: nothing the holder wrote changed.
    static bool same_but_queue(const std::optional<lock_record>& a, const std::optional<lock_record>& b);
    bool queued(const std::optional<lock_record>& r) const;
    /// Coordinated leader election prefers a holder other than us.
    bool another_preferred(const lock_record& r) const noexcept { return !r.preferred_holder.empty() && r.preferred_holder != identity_; }

    std::string identity_;
    timing timing_;
    bool adopt_own_lease_;
    fairness fair_;
    bool coordinated_;
    /// The latest observed expiry of the leases seen held by others since
    /// the lease was last seen free (epoch then): a coordinated election
    /// waits for it even when the controller names us sooner (it judges by
    /// wall clocks). Named on our very first look, with nothing seen
    /// before: a whole lease_duration from then.
    steady_time others_expiry_{};
    bool looked_ = false;
    /// The record last seen and the local time it was first seen so.
    std::optional<lock_record> observed_;
    steady_time observed_at_{};
    steady_time queued_since_{}; ///< when we last saw ourselves join the queue
    bool holding_ = false;
    lock_record held_;
    steady_time last_sent_{};  ///< the last accepted write: the renew deadline counts from it
    steady_time valid_from_{}; ///< the last one client-go's waiters could tell apart: validity counts from it
};

} // namespace leaselocker::core
