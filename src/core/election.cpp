#include <leaselocker/core/election.hpp>

namespace leaselocker::core {

using namespace std::chrono;

election::election(std::string identity, timing t, bool adopt_own_lease)
    : identity_(std::move(identity)), timing_(t), adopt_own_lease_(adopt_own_lease) {}

decision election::observe(const std::optional<lock_record>& current, steady_time now, micro_time wall_now) {
    if (current != observed_) { // any change restarts the holder's clock
        observed_ = current;
        observed_at_ = now;
    }
    if (!current) return {next_step::create, grant(std::nullopt, wall_now), {}};

    const bool ours = current->holder_identity == identity_;
    if (holding_ && ours) {
        // Still ours as we last wrote it (or a version we cannot tell from
        // ours): renew on the fresh version.
        return {next_step::replace, renewal(wall_now), {}};
    }
    if (holding_) relinquish(); // taken over: the caller reports the loss

    const bool free = current->holder_identity.empty();
    if (free || expired(now, wall_now) || (ours && adopt_own_lease_)) return {next_step::replace, grant(current, wall_now), {}};

    // Held by another (or by our identity from before we started): wait for
    // its exact expiry, measured from when we first saw this record.
    const auto duration = current->lease_duration_seconds > 0 ? seconds(current->lease_duration_seconds) : timing_.lease_duration;
    steady_time wake = timing_.use_observed_time ? observed_at_ + duration
                                                 : now + duration_cast<steady_clock::duration>(current->renew_time + duration - wall_now);
    return {next_step::wait, {}, wake};
}

bool election::expired(steady_time now, micro_time wall_now) const {
    const auto duration = observed_->lease_duration_seconds > 0 ? seconds(observed_->lease_duration_seconds) : timing_.lease_duration;
    if (timing_.use_observed_time) return observed_at_ + duration <= now;
    return observed_->renew_time + duration <= wall_now;
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

lock_record election::renewal(micro_time wall_now) const {
    lock_record r = held_;
    r.renew_time = wall_now;
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
