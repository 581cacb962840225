#include <leaselocker/core/election.hpp>

#include <algorithm>
#include <utility>

namespace leaselocker::core {

using namespace std::chrono;

election::election(std::string identity, timing t, bool adopt_own_lease, fairness fair, bool coordinated)
    : identity_(std::move(identity)), timing_(t), adopt_own_lease_(adopt_own_lease), fair_(fair), coordinated_(coordinated) {}

decision election::observe(const std::optional<lock_record>& current, steady_time now, micro_time wall_now,
                           std::optional<milliseconds> server_age) {
    // Any change the holder made restarts its clock; a waiter joining or
    // leaving the queue extends nothing of the holder's (and would delay a
    // dead holder's takeover by a lease per join).
    if (!same_but_queue(current, observed_)) observed_at_ = now;
    // First sight from the server's clock: the record changed at least
    // that long ago (on our clock: shortened by the rate bound, which
    // covers the server's clock and ours).
    if (current && server_age && timing_.first_sight_margin && *server_age > *timing_.first_sight_margin) {
        const double rho = timing_.clock_rate_error;
        const auto age = duration_cast<steady_clock::duration>((*server_age - *timing_.first_sight_margin) * ((1.0 - rho) / (1.0 + rho)));
        observed_at_ = std::min(observed_at_, now - age);
    }
    // Our turn in the queue counts from when we joined it, too: a clock
    // kept from an earlier look at a free lease must not let a late joiner
    // overtake those who joined before it.
    if (queued(current) && !queued(observed_)) queued_since_ = now;
    observed_ = current;
    const bool first_look = !std::exchange(looked_, true);
    // Only the controller creates or assigns a coordinated lease: a
    // candidate waits for a change (the watch) until it is named.
    constexpr auto until_changed = steady_time::max();
    if (!current) {
        if (coordinated_) return {next_step::wait, {}, until_changed};
        return {next_step::create, grant(std::nullopt, wall_now), {}};
    }

    const bool ours = current->holder_identity == identity_;
    if (holding_ && ours) {
        // Still ours as we last wrote it (or a version we cannot tell from
        // ours): renew on the fresh version.
        return {next_step::replace, renewal(*current, wall_now), {}};
    }
    if (holding_) relinquish(); // taken over: the caller reports the loss

    const bool free = current->holder_identity.empty();
    const auto runs_out = expiry(now, wall_now);
    if (free) others_expiry_ = {};
    else if (!ours) others_expiry_ = std::max(others_expiry_, runs_out);
    else if (coordinated_ && first_look) others_expiry_ = std::max(others_expiry_, now + timing_.lease_duration);
    if (coordinated_) {
        if (!ours || another_preferred(*current)) return {next_step::wait, {}, until_changed}; // (stepped down: not again)
        if (now < others_expiry_) return {next_step::wait, {}, others_expiry_}; // named early, by the server's clock
        return {next_step::replace, grant(current, wall_now), {}};
    }
    if (ours && adopt_own_lease_ && current->strategy.empty()) return {next_step::replace, grant(current, wall_now), {}};
    if (!current->strategy.empty()) return {next_step::wait, {}, until_changed}; // the controller's to assign

    if (free || runs_out <= now) {
        if (auto d = defer_to_queue(*current, free, free ? observed_at_ : runs_out, now)) return *d;
        return {next_step::replace, grant(current, wall_now), {}};
    }
    // Held by another (or by our identity from before we started): wait for
    // its exact expiry, measured from when we first saw this record.
    // (Not when the holder is our identity: a grant of ours whose answer
    // was lost; we wait it out, queued or not.)
    if (fair_.enabled && !ours && !queued(current) && current->queue.size() < fair_.max_queue)
        return {next_step::enqueue, joined(*current), runs_out};
    return {next_step::wait, {}, runs_out};
}

steady_time election::expiry(steady_time now, micro_time wall_now) const {
    const auto duration = observed_->lease_duration_seconds > 0 ? seconds(observed_->lease_duration_seconds) : timing_.lease_duration;
    if (timing_.use_observed_time) return observed_at_ + duration;
    return now + duration_cast<steady_clock::duration>(observed_->renew_time + duration - wall_now);
}

std::optional<decision> election::defer_to_queue(const lock_record& current, bool free, steady_time free_since, steady_time now) const {
    if (!fair_.enabled) return std::nullopt;
    // A turn left to those who poll: nobody of ours takes it for a while;
    // the queue's turns start after that.
    auto start = free_since;
    if (free && fair_.yield_every > 0 && current.lease_transitions % fair_.yield_every == 0) start += fair_.yield_window;
    if (now < start) return decision{next_step::wait, {}, start};
    const auto& q = current.queue;
    const auto place = std::find(q.begin(), q.end(), identity_);
    if (q.empty() || place == q.begin()) return std::nullopt; // our turn
    if (place == q.end() && q.size() < fair_.max_queue) return decision{next_step::enqueue, joined(current), now};
    if (place != q.end()) start = std::max(start, queued_since_);
    // The head's turn: it has claim_grace to take it, then the second in
    // line has its grace, and so on (the k-th waits k graces: one waiter
    // gone costs the next one grace, not a race of all behind it). Not in
    // a full queue: after all of it.
    const auto behind = static_cast<int>(place - q.begin());
    const auto turn = start + behind * fair_.claim_grace;
    if (now < turn) return decision{next_step::wait, {}, turn};
    return std::nullopt;
}

bool election::same_but_queue(const std::optional<lock_record>& a, const std::optional<lock_record>& b) {
    if (!a || !b) return !a && !b;
    auto a_held = *a, b_held = *b;
    a_held.queue.clear();
    b_held.queue.clear();
    return a_held == b_held;
}

bool election::queued(const std::optional<lock_record>& r) const {
    return r && std::find(r->queue.begin(), r->queue.end(), identity_) != r->queue.end();
}

lock_record election::left(lock_record current) const {
    std::erase(current.queue, identity_);
    return current;
}

lock_record election::joined(lock_record current) const {
    current.queue.push_back(identity_);
    return current;
}

lock_record election::grant(const std::optional<lock_record>& previous, micro_time wall_now) const {
    lock_record r;
    r.holder_identity = identity_;
    r.lease_duration_seconds = static_cast<std::int32_t>(ceil<seconds>(timing_.lease_duration).count());
    r.acquire_time = r.renew_time = wall_now;
    // 0 on create; +1 on every new grant, also when the same identity takes
    // it back, so each grant has its own fencing token. client-go only ever
    // adds to what it reads, so both agree on one Lease.
    r.lease_transitions = previous ? previous->lease_transitions + 1 : 0;
    if (previous) {
        r.queue = previous->queue;
        r.strategy = previous->strategy;
        r.preferred_holder = previous->preferred_holder;
    }
    // Our turn ends our wait, and those ahead of us had theirs (their grace
    // ran out): we leave the queue, they are dropped. Not in a full queue:
    // its head's grace ran out. Lockers without fair turns leave it alone.
    if (fair_.enabled && !r.queue.empty()) {
        auto place = std::find(r.queue.begin(), r.queue.end(), identity_);
        if (place != r.queue.end()) r.queue.erase(r.queue.begin(), place + 1);
        else if (r.queue.size() >= fair_.max_queue) r.queue.erase(r.queue.begin());
    }
    return r;
}

namespace {

// Whether client-go would see `a` and `b` as the same record: it compares
// its LeaderElectionRecord, whose times are metav1.Time (whole seconds).
bool same_to_the_second(const lock_record& a, const lock_record& b) {
    return a.holder_identity == b.holder_identity && a.lease_duration_seconds == b.lease_duration_seconds &&
           a.lease_transitions == b.lease_transitions && floor<seconds>(a.acquire_time) == floor<seconds>(b.acquire_time) &&
           floor<seconds>(a.renew_time) == floor<seconds>(b.renew_time);
}

} // namespace

void election::accepted(const lock_record& written, steady_time sent_at, const std::optional<lock_record>& replaced) {
    // A client-go waiter restarts its clock only on a change it can see: a
    // write in the same second as the version it replaced (whatever that
    // was: ours from a renewal whose answer we never got, too) extends
    // nothing it grants us, so it extends nothing we trust either.
    if (!(holding_ && replaced && same_to_the_second(written, *replaced))) valid_from_ = sent_at;
    holding_ = true;
    held_ = written;
    last_sent_ = sent_at;
    observed_ = written;
    observed_at_ = sent_at;
}

void election::relinquish() {
    holding_ = false;
}

steady_time election::valid_until() const noexcept {
    if (!holding_) return {};
    const double rho = timing_.clock_rate_error;
    const auto trusted = duration_cast<steady_clock::duration>(timing_.lease_duration * ((1.0 - rho) / (1.0 + rho)));
    return valid_from_ + trusted;
}

steady_time election::renew_deadline() const noexcept {
    return holding_ ? last_sent_ + timing_.renew_deadline : steady_time{};
}

lock_record election::renewal(const lock_record& replaced, micro_time wall_now) const {
    lock_record r = held_;
    r.renew_time = wall_now;
    r.queue = replaced.queue;
    r.strategy = replaced.strategy; // the controller's, as it last wrote them
    r.preferred_holder = replaced.preferred_holder;
    r.lease_duration_seconds = static_cast<std::int32_t>(ceil<seconds>(timing_.lease_duration).count());
    return r;
}

lock_record election::release(lock_record r, micro_time wall_now) {
    r.holder_identity.clear();
    r.lease_duration_seconds = 1;
    r.acquire_time = r.renew_time = wall_now;
    return r;
}

} // namespace leaselocker::core
