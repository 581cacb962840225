// lease_locker: drives the election core (layer 4) with a resource lock and
// timers, on a strand of the client's executor.
#include <leaselocker/locker/lease_locker.hpp>

#include "../detail/spawn.hpp"

#include <leaselocker/detail/names.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <stdexcept>
#include <cctype>
#include <list>
#include <mutex>
#include <optional>
#include <random>
#include <utility>
#include <unistd.h>

namespace leaselocker {
namespace detail {

namespace asio = boost::asio;
using asio::awaitable;
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Writes are never cut off by the caller's cancellation: their outcome must
// be known (an empty slot shields them).
inline auto shielded() {
    return asio::bind_cancellation_slot(asio::cancellation_slot(), asio::as_tuple(asio::use_awaitable));
}

namespace {

micro_time wall_now() {
    return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

// What became of a lease we held, as the newest version shows it.
std::string taken_by(const std::optional<lock_record>& newest) {
    if (!newest) return "the lease was deleted";
    if (newest->holder_identity.empty()) return "written free by another (an administrator?)";
    return "taken over by " + newest->holder_identity;
}

[[noreturn]] void invalid(const std::string& what) {
    throw config_error(make_error_code(error::config_invalid), what);
}

void validate(const lock_config& c) {
    using namespace std::chrono;
    if (c.lease_duration < seconds(1)) invalid("lease_duration must be at least 1 s");
    if (c.retry_period <= milliseconds(0)) invalid("retry_period must be positive");
    if (!(c.lease_duration > c.renew_deadline)) invalid("lease_duration must be greater than renew_deadline");
    if (!(c.renew_deadline.count() > 1.2 * c.retry_period.count()))
        invalid("renew_deadline must be greater than 1.2 × retry_period");
    if (c.unlock_retry_period < milliseconds(0)) invalid("unlock_retry_period must not be negative");
    if (!(c.max_clock_rate_error >= 0 && c.max_clock_rate_error < 0.5)) invalid("max_clock_rate_error must be in [0, 0.5)");
    // client-go's waiters see a renewal only when its renewTime moves to a
    // new second, so validity counts from one such write to the next (at
    // most a second and a retry period apart): a shorter lease would lapse
    // between healthy renewals.
    if (!(duration<double>(c.lease_duration).count() * (1 - c.max_clock_rate_error) / (1 + c.max_clock_rate_error) >
          1.0 + duration<double>(c.retry_period).count()))
        invalid("lease_duration × (1 − ρ)/(1 + ρ) must be more than 1 s + retry_period (renewals count for client-go's "
                "waiters only when renewTime moves to a new second)");
    if (!(c.clock_rate > 0.5 && c.clock_rate < 2)) invalid("clock_rate must be in (0.5, 2)");
    if (c.auth_grace < milliseconds(0)) invalid("auth_grace must not be negative");
    if (c.first_sight_margin && *c.first_sight_margin < milliseconds(0)) invalid("first_sight_margin must not be negative");
    if (c.fair_claim_grace <= milliseconds(0)) invalid("fair_claim_grace must be positive");
    if (c.yield_every < 0 || c.yield_window < milliseconds(0)) invalid("yield_every and yield_window must not be negative");
    if (c.yield_every > 0 && !c.fair_turns) invalid("yield_every needs fair_turns (it is the queue that holds back)");
    if ((c.yield_every > 0) != (c.yield_window > milliseconds(0))) invalid("yield_every and yield_window go together (both set or both 0)");
    // A head that polls looks every retry_period to 2.2 × retry_period:
    // a shorter grace would hand its turn to the next in line every time.
    if (c.fair_turns && !c.use_watch && !(c.fair_claim_grace.count() > 2.2 * c.retry_period.count()))
        invalid("with fair_turns and use_watch = false, fair_claim_grace must be more than 2.2 × retry_period");
}

// The locker's view of time: steady_clock, or one running `rate` times as
// fast from the locker's creation (tests inject clock-rate error with it).
// Timers are set on the real clock.
class local_clock {
public:
    explicit local_clock(double rate) : rate_(rate), origin_(clock::now()) {}
    clock::time_point now() const { return scaled(clock::now(), rate_); }
    clock::time_point to_real(clock::time_point local) const { return scaled(local, 1 / rate_); }

private:
    clock::time_point scaled(clock::time_point t, double factor) const {
        if (rate_ == 1.0 || t == clock::time_point::max() || t == clock::time_point{}) return t;
        return origin_ + std::chrono::duration_cast<clock::duration>((t - origin_) * factor);
    }
    double rate_;
    clock::time_point origin_;
};

} // namespace

class locker_impl : public std::enable_shared_from_this<locker_impl> {
public:
    locker_impl(std::unique_ptr<resource_lock> lock, lock_config cfg)
        : cfg_(std::move(cfg)), lock_(std::move(lock)), strand_(asio::make_strand(lock_->get_executor())),
          clock_(cfg_.clock_rate),
          election_(lock_->identity(),
                    core::timing{cfg_.lease_duration, cfg_.renew_deadline, cfg_.retry_period, cfg_.use_observed_time,
                                 cfg_.max_clock_rate_error, cfg_.first_sight_margin},
                    cfg_.adopt_own_lease,
                    core::fairness{.enabled = cfg_.fair_turns, .claim_grace = cfg_.fair_claim_grace, .yield_every = cfg_.yield_every,
                                   .yield_window = cfg_.yield_window},
                    cfg_.coordinated),
          rng_(std::random_device{}()) {
        validate(cfg_);
        if (cfg_.name.empty()) cfg_.name = lock_->describe();
    }

    const lock_config& config() const { return cfg_; }
    const std::string& identity() const { return election_.identity(); }
    const asio::strand<asio::any_io_executor>& strand() const { return strand_; }
    asio::cancellation_slot lost_slot() { return loss_signal_.slot(); }

    // --- entry points (any thread) --------------------------------------

    void start_lock(diagnostics* diag, asio::any_completion_handler<void(error_code)> h) {
        spawn_for(strand_, lock_op(shared_from_this(), diag), std::move(h));
    }
    void start_try_lock(diagnostics* diag, asio::any_completion_handler<void(error_code, bool)> h) {
        spawn_for(strand_, try_lock_op(shared_from_this(), diag), std::move(h));
    }
    void start_unlock(bool retry, diagnostics* diag, asio::any_completion_handler<void(error_code, unlock_result)> h) {
        spawn_for(strand_, unlock_op(shared_from_this(), retry, diag), std::move(h));
    }
    void start_wait_lost(diagnostics* diag, asio::any_completion_handler<void(error_code)> h) {
        spawn_for(strand_, wait_lost_op(shared_from_this(), diag), std::move(h));
    }

    // The locker object is going away: stop, and release if configured.
    void shutdown() {
        asio::dispatch(strand_, [self = shared_from_this()] {
            self->shut_down_ = true;
            if (self->acquire_timer_) self->acquire_timer_->cancel();
            self->stop_renewing();
            if (self->election_.holding() && self->cfg_.release_on_cancel) {
                self->log(log_level::info, "released on destruction");
                asio::co_spawn(self->strand_, release_in_background(self), asio::detached);
            } else {
                if (self->election_.holding()) { // left to expire: not ours to act on any more
                    self->election_.relinquish();
                    self->publish();
                }
                self->end_hold(asio::error::operation_aborted);
            }
        });
    }

    // --- snapshot for other threads --------------------------------------

    struct snapshot {
        bool held = false;
        clock::time_point valid_until{};
        fencing_token token;
        clock::time_point lost_at{};
        bool lost = false;
    };
    snapshot view() const {
        std::lock_guard lock(view_mutex_);
        return view_;
    }

private:
    void publish() {
        bool changed = false;
        {
            std::lock_guard lock(view_mutex_);
            changed = view_.held != election_.holding();
            view_.held = election_.holding();
            view_.valid_until = clock_.to_real(election_.valid_until());
            if (view_.held) {
                view_.token = {lock_->epoch(), election_.held_record().lease_transitions};
                view_.lost = false;
            }
        }
        if (changed && cfg_.metrics) cfg_.metrics->leading(cfg_.name, election_.holding()); // on the strand: in order
    }

    void log(log_level level, const std::string& what) const {
        cfg_.log(level, [&] { return "lease " + cfg_.name + " (" + identity() + "): " + what; });
    }

    request_options request_opts(clock::time_point deadline = clock::time_point::max(), diagnostics* diag = nullptr) const {
        // Per request: at most renew_deadline / 2, and never past `deadline`.
        auto limit = cfg_.renew_deadline / 2;
        if (deadline != clock::time_point::max())
            limit = std::min(limit, std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(deadline - clock_.now())));
        return request_options{.timeout = limit, .diag = diag};
    }

    // A 401/403 for a kind of request (read, write, watch) the server let
    // us through with before is taken for a restarted server whose
    // authorizer is not ready yet (in the long chaos run API-server
    // restarts refused 270 requests so): retried, for up to auth_grace from
    // the first refusal of a row. A kind never let through fails at once
    // (a misconfiguration). Each kind keeps its own row, ended by an answer
    // to that kind (reads that work must not keep a refused write, or a
    // refused watch, retried for ever), by a quiet spell longer than any
    // back-off between two tries (a later restart is a row of its own), or
    // by a new lock().
    struct refusal_row {
        std::optional<clock::time_point> since, last;
    };
    bool ride_out(error_code ec, lock_request kind) {
        // A proxy's refusal (proxy_denied) is ridden out alike: a tunnel
        // that worked before is more likely a proxy restarting than bad
        // credentials.
        if (ec != error::unauthorized && ec != error::forbidden && ec != error::proxy_denied) return false;
        if (cfg_.auth_grace <= milliseconds(0) || !lock_->authorized_before(kind)) return false;
        auto& row = refusals_[static_cast<std::size_t>(kind)];
        const auto now = clock_.now();
        if (!row.since || now - *row.last > 2 * cfg_.lease_duration) row.since = now;
        row.last = now;
        if (now >= *row.since + cfg_.auth_grace) return false;
        log(log_level::warning, ec.message() + " although let through before (a restarting API server or proxy?): retrying");
        return true;
    }
    // When a row being ridden out ends (for waits not to overshoot it).
    clock::time_point ride_out_ends(lock_request kind) const {
        const auto& row = refusals_[static_cast<std::size_t>(kind)];
        return row.since ? *row.since + cfg_.auth_grace : clock::time_point::max();
    }
    // An answer only an authorized request gets ends that kind's row.
    void note_answer(lock_request kind, error_code ec) {
        if (!ec || ec == error::conflict || ec == error::already_exists || ec == error::not_found)
            refusals_[static_cast<std::size_t>(kind)] = {};
    }

    static void describe_failure(diagnostics* diag, const std::string& what) {
        if (!diag) return;
        diag->server_message.clear();
        diag->client_message = what;
    }

    milliseconds jittered(milliseconds base, double spread) {
        std::uniform_real_distribution<double> d(0.0, spread);
        return milliseconds(static_cast<milliseconds::rep>(base.count() * (1.0 + d(rng_))));
    }

    static bool cancelled(const asio::cancellation_state& cs) { return cs.cancelled() != asio::cancellation_type::none; }

    // --- acquiring ---------------------------------------------------------

    enum class attempt_result { held, wait, retry_now, queued, failed };

    struct attempt {
        attempt_result result = attempt_result::failed;
        error_code ec;
        clock::time_point wake_at{};
        lock_request request = lock_request::read; // the one that failed
    };

    // One read (unless the watch already delivered the current version)
    // and, if the lease is ours to take (or, with fair turns, its queue
    // ours to join, unless `once`), one write.
    awaitable<attempt> try_once(bool use_watched, bool once, diagnostics* diag) {
        if (!use_watched) {
            auto [gec, got, raw] = co_await lock_->get(request_opts(clock::time_point::max(), diag), use_tuple);
            note_answer(lock_request::read, gec);
            if (gec) co_return attempt{attempt_result::failed, gec};
            // Cancelled (or the locker destroyed) after the read: before the
            // write, so nothing written.
            if (shut_down_ || cancelled(co_await asio::this_coro::cancellation_state))
                co_return attempt{attempt_result::failed, asio::error::operation_aborted};
        }
        // Decided on the version the write will be compared against: the
        // newest the lock knows, whether the read or the watch brought it
        // (a read and a watch event cross; deciding on the older of the two
        // would either sleep through a release or, worse, write a grant
        // over somebody's newer one). Judged now: a change restarts the
        // holder's clock from now, which is at or after the moment it
        // happened (the safe side).
        const auto replaced = lock_->current();
        auto d = election_.observe(replaced, clock_.now(), wall_now(), lock_->server_age());
        if (replaced && !replaced->strategy.empty() && !cfg_.coordinated && !std::exchange(told_coordinated_, true))
            log(log_level::info, "the lease is assigned by the API server's coordinated leader election (strategy " + replaced->strategy +
                                     "); this locker is not a candidate (lock_config::coordinated): waiting until it is not");
        if (d.step == core::next_step::wait || (d.step == core::next_step::enqueue && once))
            co_return attempt{attempt_result::wait, {}, d.wake_at};
        const auto sent = clock_.now();
        const auto opts = request_opts(clock::time_point::max(), diag);
        error_code wec;
        if (d.step == core::next_step::create)
            std::tie(wec) = co_await lock_->create(d.record, opts, shielded());
        else
            std::tie(wec) = co_await lock_->update(d.record, opts, shielded());
        note_answer(lock_request::write, wec);
        if (wec == error::already_exists || wec == error::conflict) co_return attempt{attempt_result::retry_now}; // changed meanwhile: read again
        // A join whose answer never came may have landed: leaving reads first.
        if (wec && d.step == core::next_step::enqueue) join_unknown_ = true;
        if (wec) co_return attempt{attempt_result::failed, wec, {}, lock_request::write};
        if (d.step == core::next_step::enqueue) co_return attempt{attempt_result::queued}; // decide again on what we wrote
        election_.accepted(d.record, sent, replaced);
        co_return attempt{attempt_result::held};
    }

    // Leaves the queue of fair turns (a cancelled lock()): writes the newest
    // version known without our identity; after a conflict reads and tries
    // again, at most three times and within renew_deadline / 2 in all.
    // Errors are let go: at worst the next in line waits out our grace.
    awaitable<void> leave_queue() {
        const auto deadline = clock_.now() + cfg_.renew_deadline / 2;
        for (int attempt = 0; attempt < 3 && !shut_down_ && clock_.now() < deadline; ++attempt) {
            if (attempt > 0 || std::exchange(join_unknown_, false)) {
                auto [gec, got, raw] = co_await lock_->get(request_opts(deadline), shielded());
                if (gec || shut_down_) co_return;
            }
            const auto current = lock_->current();
            if (!current) co_return;
            const auto left = election_.left(*current);
            if (left == *current) co_return; // not (or no longer) queued
            auto [uec] = co_await lock_->update(left, request_opts(deadline), shielded());
            if (uec != error::conflict) co_return;
        }
    }

    // Asio's total cancellation promises no side effect: a grant that was
    // written cannot be undone without one, so only terminal and partial
    // cancellation undo it (by releasing).
    static bool undo_requested(const asio::cancellation_state& cs) {
        return (cs.cancelled() & (asio::cancellation_type::terminal | asio::cancellation_type::partial)) != asio::cancellation_type::none;
    }

    // Shared by lock and try_lock (`once`). Returns whether held; fills
    // `diag` (if any) on failure and clears it on success.
    awaitable<std::pair<error_code, bool>> acquire(bool once, diagnostics* diag) {
        auto fail = [&](error_code ec, const std::string& what) {
            describe_failure(diag, what);
            return std::pair{ec, false};
        };
        auto aborted = [&] { return fail(asio::error::operation_aborted, "lock() on " + cfg_.name + " cancelled"); };
        auto held = [&] {
            if (diag) diag->clear();
            return std::pair{error_code{}, true};
        };
        if (election_.holding()) co_return held();
        if (shut_down_) co_return aborted();
        if (acquiring_) co_return fail(error::already_locking, "another lock() or try_lock() of this locker is running");
        acquiring_ = true;
        retry_logged_at_.reset();
        retries_unlogged_ = 0;
        for (auto& row : refusals_) row = {}; // each lock() has its own grace
        join_unknown_ = false;
        told_coordinated_ = false;
        struct reset { // not acquiring any more; not holding either: no watch
            locker_impl& self;
            ~reset() {
                self.acquiring_ = false;
                if (!self.election_.holding()) self.stop_watching();
            }
        } guard{*this};

        milliseconds backoff = cfg_.retry_period;
        bool use_watched = false;
        // For the metrics: since when lock() waits, and when the last wait
        // ended (a change or an expiry woke us: the handoff starts there).
        const auto started = std::chrono::steady_clock::now();
        std::optional<std::chrono::steady_clock::time_point> woke;
        // Cancelled while waiting: the queue of fair turns is left again
        // (one write if we are in it, best effort; after a join whose answer
        // was lost, a read first), so nobody behind waits out our grace. Not
        // when the locker is going away: its client may be too.
        auto stop_waiting = [&]() -> awaitable<std::pair<error_code, bool>> {
            if (cfg_.fair_turns) co_await leave_queue();
            co_return aborted();
        };
        for (int conflicts = 0, joins = 0;;) {
            auto a = co_await try_once(use_watched, once, diag);
            use_watched = false;
            auto cs = co_await asio::this_coro::cancellation_state;
            if (a.result == attempt_result::held) {
                if (shut_down_ || undo_requested(cs)) { // granted after all, but nobody wants it now
                    co_await release(false, nullptr);
                    co_return aborted();
                }
                // Another holder came to be preferred while the grant was in
                // flight (the version after ours, from the watch): handed on
                // at once, and lock() waits on (it completes only held).
                if (auto current = lock_->current(); current && election_.asked_to_step_down(*current)) {
                    log(log_level::info, "granted, but preferredHolder is now " + current->preferred_holder + ": handing it on");
                    co_await release(false, nullptr);
                    if (shut_down_) co_return aborted();
                    continue;
                }
                on_acquired();
                if (cfg_.metrics) {
                    const auto now = std::chrono::steady_clock::now();
                    cfg_.metrics->acquired(cfg_.name, now - started, woke ? now - *woke : std::chrono::nanoseconds::zero());
                }
                co_return held();
            }
            if (cancelled(cs) || shut_down_) co_return co_await stop_waiting();
            if (a.result == attempt_result::failed && a.ec == condition::permanent && (once || !ride_out(a.ec, a.request))) {
                log(log_level::error, "acquiring failed: " + a.ec.message());
                co_return std::pair{a.ec, false}; // diag: as the request filled it
            }
            if (once) { // one read and at most one write, whatever came of them
                if (a.result == attempt_result::failed) co_return std::pair{a.ec, false};
                if (diag) diag->clear();
                co_return std::pair{error_code{}, false};
            }
            if (a.result == attempt_result::retry_now && ++conflicts < 3) continue; // someone wrote between our read and write
            // Joined: decide again at once on what we wrote (the newest
            // version known: no read). Bounded all the same.
            if (a.result == attempt_result::queued && ++joins < 8) {
                use_watched = true;
                continue;
            }
            conflicts = 0;
            joins = 0;
            ensure_watching();

            // Wait until the holder's lease expires (exactly, by a timer) or
            // the watch delivers a change (a release, a renewal). Only while
            // the watch is down: poll every retry_period; back off on errors.
            if (a.result == attempt_result::wait && watch_up_) {
                auto timer = timer_at(a.wake_at);
                acquire_timer_ = &timer; // a watch event or shutdown() cancels it
                co_await timer.async_wait(use_tuple); // woken early by a change: fine
                acquire_timer_ = nullptr;
                woke = std::chrono::steady_clock::now();
                auto wcs = co_await asio::this_coro::cancellation_state;
                if (cancelled(wcs) || shut_down_) co_return co_await stop_waiting();
                // Woken by a change, or at the expiry of a record the watch
                // says is unchanged: decide on the latest version, no read.
                use_watched = watch_up_;
                continue;
            }
            auto wait = jittered(cfg_.retry_period, 1.2);
            // Three conflicts in a row: others are writing. With fair turns,
            // look again within half a grace (a full poll would miss our turn).
            if (a.result == attempt_result::retry_now && cfg_.fair_turns)
                wait = std::min(jittered(cfg_.retry_period / 4, 0.5), std::max(cfg_.fair_claim_grace / 2, milliseconds(1)));
            if (a.result == attempt_result::failed) {
                log_retry(a.ec);
                wait = jittered(backoff, 0.5);
                backoff = std::min(backoff * 2, cfg_.lease_duration);
            } else {
                backoff = cfg_.retry_period;
            }
            auto until = clock_.now() + wait;
            if (a.result == attempt_result::wait) until = std::min(until, a.wake_at);
            if (a.ec == condition::permanent) until = std::min(until, ride_out_ends(a.request)); // a last try as the window ends
            auto timer = timer_at(until);
            acquire_timer_ = &timer; // shutdown() cancels it
            co_await timer.async_wait(use_tuple); // woken early by a watch failure or shutdown: fine
            acquire_timer_ = nullptr;
            woke = std::chrono::steady_clock::now();
            auto pcs = co_await asio::this_coro::cancellation_state;
            if (cancelled(pcs) || shut_down_) co_return co_await stop_waiting();
            use_watched = false; // polling: read again
        }
    }

    static awaitable<error_code> lock_op(std::shared_ptr<locker_impl> self, diagnostics* diag) {
        co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
        co_await asio::this_coro::throw_if_cancelled(false);
        auto [ec, held] = co_await self->acquire(false, diag);
        co_return ec;
    }

    static awaitable<std::pair<error_code, bool>> try_lock_op(std::shared_ptr<locker_impl> self, diagnostics* diag) {
        co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
        co_await asio::this_coro::throw_if_cancelled(false);
        co_return co_await self->acquire(true, diag);
    }

    // A lock() that keeps failing says so, but does not flood the log: its
    // first failure, then at most one line per retry_log_period with how
    // many failed since (a server that comes and goes too).
    static constexpr auto retry_log_period = std::chrono::seconds(30);
    void log_retry(error_code ec) {
        const auto now = std::chrono::steady_clock::now();
        ++retries_unlogged_;
        if (retry_logged_at_ && now - *retry_logged_at_ < retry_log_period) return;
        log(log_level::warning, "acquiring: " + ec.message() +
                                    (retries_unlogged_ > 1 ? " (" + std::to_string(retries_unlogged_) + " failures since the last report)" : "") +
                                    "; retrying");
        retry_logged_at_ = now;
        retries_unlogged_ = 0;
    }

    void on_acquired() {
        ++generation_;
        publish();
        ensure_watching(); // a takeover is then seen at once
        log(log_level::info, "acquired, fencing token " + std::to_string(election_.held_record().lease_transitions));
        lock_->record_event(identity() + " became leader");
        asio::co_spawn(strand_, renew_loop(shared_from_this(), generation_),
                       asio::bind_cancellation_slot(renew_stop_.slot(), asio::detached));
    }

    // --- the watch -----------------------------------------------------------

    // While acquiring or holding, a watch on the object (where the resource
    // lock supports one) delivers each new version: a waiter wakes on a
    // release, a holder learns of a takeover at once.
    void ensure_watching() {
        if (watch_stop_ || shut_down_ || watch_refused_ || !cfg_.use_watch || !lock_->supports_watch()) return;
        watch_stop_ = std::make_shared<asio::cancellation_signal>();
        watch_up_ = true; // until it fails: opening it is part of the first next_change
        watch_next(watch_stop_);
    }

    void stop_watching() {
        if (!watch_stop_) return;
        watch_stop_->emit(asio::cancellation_type::terminal);
        watch_stop_.reset();
        watch_up_ = false;
        lock_->stop_watching(); // also when no next_change is pending
    }

    // The watch loop, one turn per change, as handlers rather than a
    // coroutine: every held lease keeps one waiting, and a stored handler is
    // the smallest way to wait. `stop` names this run of the loop; it ends
    // when stop_watching() replaced it (and cancels what it waits for).
    void watch_next(std::shared_ptr<asio::cancellation_signal> stop) {
        auto& signal = *stop;
        lock_->next_change(asio::bind_cancellation_slot(
            signal.slot(), asio::bind_executor(strand_, [self = shared_from_this(), stop = std::move(stop)](
                                                            error_code ec, std::optional<lock_record> record) mutable {
                self->on_watched(std::move(stop), ec, std::move(record));
            })));
    }

    void on_watched(std::shared_ptr<asio::cancellation_signal> stop, error_code ec, std::optional<lock_record> record) {
        if (watch_stop_ != stop || shut_down_) return;
        if (ec) { // down: the acquire loop polls until it is back
            watch_up_ = false;
            if (acquire_timer_) acquire_timer_->cancel(); // switch to polling now
            if (ec == condition::permanent && !ride_out(ec, lock_request::watch)) { // e.g. no watch permission: poll from now on
                log(log_level::warning, "watch refused (" + ec.message() + "); polling every retry_period instead" +
                                            (cfg_.fair_turns ? " (fair turns: a poller may miss its turn)" : ""));
                watch_refused_ = true;
                watch_stop_.reset();
                return;
            }
            log(log_level::debug, "watch interrupted: " + ec.message());
            auto t = std::make_shared<asio::steady_timer>(timer_after(cfg_.retry_period));
            auto& timer = *t;
            auto& signal = *stop;
            timer.async_wait(asio::bind_cancellation_slot(
                signal.slot(), asio::bind_executor(strand_, [self = shared_from_this(), stop = std::move(stop), t](error_code) mutable {
                    if (self->watch_stop_ == stop && !self->shut_down_) self->watch_next(std::move(stop));
                })));
            return;
        }
        watch_up_ = true;
        note_answer(lock_request::watch, ec);
        on_change(std::move(record));
        if (watch_stop_ == stop) watch_next(std::move(stop)); // unless the change ended the watch (a loss)
    }

    void on_change(const std::optional<lock_record>& record) {
        const bool taken = !record || record->holder_identity != identity();
        if (election_.holding()) {
            if (taken)
                lose(make_error_code(error::lock_lost), record ? loss_cause::taken_over : loss_cause::deleted,
                     taken_by(record) + " (seen on the watch)");
            else if (election_.asked_to_step_down(*record))
                step_down_for(record->preferred_holder);
            return;
        }
        if (acquire_timer_) acquire_timer_->cancel();
    }

    // --- holding -----------------------------------------------------------

    // Renews every retry_period (jittered a little); a renewal is one PUT
    // with the cached version. Only a conflict or an unknown outcome costs a
    // GET. If no renewal succeeds by the renew deadline, or the lease turns
    // out to be someone else's, the lock is lost.
    static awaitable<void> renew_loop(std::shared_ptr<locker_impl> self, std::uint64_t generation) {
        auto& e = self->election_;
        auto current = [&] { return self->generation_ == generation && e.holding(); };
        bool need_read = false;
        for (;;) {
            auto tick = self->timer_after(self->jittered(self->cfg_.retry_period, 0.1) - self->cfg_.retry_period / 10);
            auto [tec] = co_await tick.async_wait(use_tuple);
            if (tec || !current()) co_return;

            error_code last;
            bool slow_path_counted = false; // once per renewal, however many reads it takes
            for (;;) { // attempts until success or the renew deadline
                const auto deadline = std::min(e.renew_deadline(), e.valid_until());
                if (self->clock_.now() >= deadline) {
                    co_return self->lose(last ? last : make_error_code(error::timeout), loss_cause::renew_deadline, "no renewal succeeded within renew_deadline");
                }
                if (need_read) {
                    if (self->cfg_.metrics && !std::exchange(slow_path_counted, true)) self->cfg_.metrics->slow_path(self->cfg_.name);
                    auto [gec, record, raw] = co_await self->lock_->get(self->request_opts(deadline), shielded());
                    if (!current()) co_return;
                    self->note_answer(lock_request::read, gec);
                    if (gec) {
                        last = gec;
                        if (gec == condition::permanent && !self->ride_out(gec, lock_request::read))
                            co_return self->lose(gec, loss_cause::refused, "reading the lease: " + gec.message());
                        co_await self->pause(deadline);
                        continue;
                    }
                    const auto newest = self->lock_->current(); // what the renewal is compared against
                    auto d = e.observe(newest, self->clock_.now(), wall_now());
                    if (!e.holding() || d.step != core::next_step::replace)
                        co_return self->lose(make_error_code(error::lock_lost), newest ? loss_cause::taken_over : loss_cause::deleted,
                                             taken_by(newest));
                    need_read = false;
                }
                // Written over the newest version known: it must still be ours.
                const auto replaced = self->lock_->current();
                if (!replaced || replaced->holder_identity != self->identity())
                    co_return self->lose(make_error_code(error::lock_lost), replaced ? loss_cause::taken_over : loss_cause::deleted,
                                         taken_by(replaced));
                if (e.asked_to_step_down(*replaced)) co_return self->step_down_for(replaced->preferred_holder);
                const auto sent = self->clock_.now();
                auto record = e.renewal(*replaced, wall_now());
                auto [uec] = co_await self->lock_->update(record, self->request_opts(deadline), shielded());
                if (!current()) co_return; // unlocked meanwhile: not ours to touch any more
                self->note_answer(lock_request::write, uec);
                if (!uec) {
                    if (self->cfg_.metrics)
                        self->cfg_.metrics->renewed(self->cfg_.name, std::max(std::chrono::steady_clock::duration::zero(),
                                                                              self->clock_.to_real(e.valid_until()) - std::chrono::steady_clock::now()));
                    e.accepted(record, sent, replaced);
                    self->publish();
                    break;
                }
                last = uec;
                if (uec == condition::permanent && !self->ride_out(uec, lock_request::write))
                    co_return self->lose(uec, loss_cause::refused, "renewing: " + uec.message());
                // A conflict, or an outcome we cannot know: read before writing again.
                need_read = true;
                if (uec != error::conflict) co_await self->pause(deadline);
            }
        }
    }

    // Timers at `t` / `d` from now on the locker's clock.
    asio::steady_timer timer_at(clock::time_point t) const { return asio::steady_timer(strand_, clock_.to_real(t)); }
    asio::steady_timer timer_after(clock::duration d) const { return timer_at(clock_.now() + d); }

    awaitable<void> pause(clock::time_point deadline) {
        auto until = std::min(deadline, clock_.now() + cfg_.retry_period / 4);
        auto t = timer_at(until);
        co_await t.async_wait(use_tuple);
    }

    // Loss first: the signal, the waiters and the callback, at once; then
    // (if configured) a release.
    void lose(error_code why, loss_cause cause, const std::string& what) {
        log(log_level::warning, "lost: " + what);
        if (cfg_.metrics) cfg_.metrics->lost(cfg_.name, cause);
        loss_reason_ = "lease " + cfg_.name + " lost: " + what;
        election_.relinquish();
        stop_watching();
        ++generation_;
        {
            std::lock_guard lock(view_mutex_);
            view_.lost = true;
            view_.lost_at = clock::now();
        }
        publish();
        loss_signal_.emit(asio::cancellation_type::terminal);
        // on_lost before the waiters are resumed: one that reacts on
        // another thread may rely on what on_lost was told (the elector
        // on error::preempted).
        if (cfg_.on_lost) cfg_.on_lost(why);
        end_hold(make_error_code(error::lock_lost));
        lock_->record_event(identity() + " stopped leading");
        if (cfg_.release_on_cancel) asio::co_spawn(strand_, release_in_background(shared_from_this()), asio::detached);
    }

    // Coordinated leader election prefers another holder: the lock ends
    // now, as a loss (the work stops before anyone else can be named), and
    // is not renewed again; the lease runs out or a release hands it on.
    void step_down_for(const std::string& preferred) {
        lose(make_error_code(error::preempted), loss_cause::preempted, "preferredHolder is " + preferred + ": stepping down");
    }

    void stop_renewing() {
        ++generation_;
        renew_stop_.emit(asio::cancellation_type::terminal);
        stop_watching();
    }

    // Completes everyone waiting for a loss. The first reason stands: a
    // release after a loss (release_on_cancel) must not turn lock_lost
    // into a plain end for a waiter not yet resumed.
    void end_hold(error_code ec) {
        for (auto& w : lost_waiters_) {
            if (!w.result) w.result = ec;
            w.timer.cancel();
        }
    }

    struct lost_waiter {
        asio::steady_timer timer;
        error_code result;
    };

    static awaitable<error_code> wait_lost_op(std::shared_ptr<locker_impl> self, diagnostics* diag) {
        co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
        co_await asio::this_coro::throw_if_cancelled(false);
        if (!self->election_.holding()) {
            describe_failure(diag, "lease " + self->cfg_.name + " is not held");
            co_return make_error_code(asio::error::operation_aborted);
        }
        auto& w = self->lost_waiters_.emplace_back(lost_waiter{asio::steady_timer(self->strand_, clock::time_point::max()), {}});
        auto it = std::prev(self->lost_waiters_.end());
        co_await w.timer.async_wait(use_tuple);
        error_code result = w.result ? w.result : make_error_code(asio::error::operation_aborted);
        self->lost_waiters_.erase(it);
        describe_failure(diag, result == error::lock_lost ? self->loss_reason_ : "wait_lost() on " + self->cfg_.name + " ended: " + result.message());
        co_return result;
    }

    // --- releasing ---------------------------------------------------------

    // If the newest version known (the watch keeps it fresh while we hold)
    // names us, write it free over that version: one request. The write is
    // guarded by its resourceVersion, so a stale copy costs a conflict,
    // never somebody else's lease. After a conflict or an error: read
    // afresh and try again (a few times; a renewal of ours may land between).
    // `by_user`: unlock() (a loss is then settled, check() healthy again),
    // not the release after a loss or on destruction.
    //
    // A grant that began while it ran (a lock() after a loss, while the
    // release after the loss was in flight) is not this release's to end:
    // from then on it touches nothing, and writes nothing more.
    awaitable<std::pair<error_code, unlock_result>> release(bool retry_transient, diagnostics* diag, bool by_user = true) {
        stop_renewing();
        const auto generation = generation_;
        auto superseded = [&] { return generation_ != generation; };
        const auto give_up = clock_.now() + cfg_.unlock_retry_period;
        error_code last;
        auto done = [&](unlock_result r) {
            if (!superseded()) finish_release(by_user);
            if (diag) diag->clear();
            return std::pair{error_code{}, r};
        };
        for (int attempt = 0; attempt < 5 || (retry_transient && clock_.now() < give_up); ++attempt) {
            if (attempt > 0 && last != error::conflict) {
                if (!retry_transient || clock_.now() >= give_up) break;
                co_await pause(give_up);
            }
            if (attempt > 0 || !lock_->current()) {
                auto [gec, record, raw] = co_await lock_->get(request_opts(clock::time_point::max(), diag), shielded());
                note_answer(lock_request::read, gec);
                if (superseded()) co_return done(unlock_result::not_held);
                if (gec) {
                    last = gec;
                    if (gec == condition::permanent && !(retry_transient && ride_out(gec, lock_request::read))) break;
                    continue;
                }
            }
            if (superseded()) co_return done(unlock_result::not_held);
            // Decided on the version the write is compared against (the
            // newest known: a watch event may have overtaken the read).
            const auto newest = lock_->current();
            if (!newest || newest->holder_identity != identity()) co_return done(unlock_result::not_held);
            // Release keeps the transitions of the record on the server.
            auto freed = core::election::release(*newest, wall_now());
            auto [uec] = co_await lock_->update(freed, request_opts(clock::time_point::max(), diag), shielded());
            note_answer(lock_request::write, uec);
            if (!uec) {
                log(log_level::info, "released");
                co_return done(unlock_result::released);
            }
            if (superseded()) co_return done(unlock_result::not_held);
            last = uec;
            if (uec == condition::permanent && !(retry_transient && ride_out(uec, lock_request::write))) break;
        }
        // Not released: we may still be named holder until the lease expires.
        if (!superseded()) finish_release(by_user);
        log(log_level::warning, "release failed: " + last.message());
        co_return std::pair{last ? last : make_error_code(error::conflict), unlock_result::not_held};
    }

    void finish_release(bool by_user) {
        election_.relinquish();
        if (by_user) {
            std::lock_guard lock(view_mutex_);
            view_.lost = false;
        }
        publish();
        end_hold(asio::error::operation_aborted);
    }

    // Not cancellable: every request is bounded, and a release cut short
    // would leave the lease named after us until it expires.
    static awaitable<std::pair<error_code, unlock_result>> unlock_op(std::shared_ptr<locker_impl> self, bool retry, diagnostics* diag) {
        co_await asio::this_coro::reset_cancellation_state([](asio::cancellation_type) { return asio::cancellation_type::none; });
        co_await asio::this_coro::throw_if_cancelled(false);
        co_return co_await self->release(retry, diag);
    }

    static awaitable<void> release_in_background(std::shared_ptr<locker_impl> self) {
        co_await self->release(false, nullptr, false);
    }

    lock_config cfg_;
    std::unique_ptr<resource_lock> lock_;
    asio::strand<asio::any_io_executor> strand_;
    local_clock clock_;
    core::election election_;
    std::minstd_rand rng_;
    bool acquiring_ = false;
    bool shut_down_ = false;
    bool join_unknown_ = false; // a join of the queue whose answer was lost
    bool told_coordinated_ = false; // logged once per lock(): the lease is the election controller's
    asio::steady_timer* acquire_timer_ = nullptr; // the acquire loop's wait, if waiting
    std::shared_ptr<asio::cancellation_signal> watch_stop_; // set while a watch loop runs
    bool watch_up_ = false;
    std::optional<std::chrono::steady_clock::time_point> retry_logged_at_; // log_retry
    int retries_unlogged_ = 0;
    bool watch_refused_ = false; // permanently: poll instead
    std::uint64_t generation_ = 0; // bumped when a hold begins or ends
    asio::cancellation_signal renew_stop_;
    asio::cancellation_signal loss_signal_;
    std::list<lost_waiter> lost_waiters_;
    std::string loss_reason_;                         // for wait_lost's diagnostics
    refusal_row refusals_[3]; // per lock_request: the 401/403s being ridden out

    mutable std::mutex view_mutex_;
    snapshot view_;

public:
    error_code check(milliseconds tolerance) const {
        auto v = view();
        const auto now = clock::now();
        if (v.lost && now > v.lost_at + tolerance) return make_error_code(error::lock_lost);
        // Still "held", but no renewal moved validity on: the executor is
        // blocked or renewing stopped, so not even a loss could be noticed
        // (what client-go's Check exists for, kubernetes#70819).
        if (v.held && now > v.valid_until + tolerance) return make_error_code(error::lock_lost);
        return {};
    }
};

} // namespace detail

std::string default_identity() {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    std::random_device rd;
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "%08x", rd());
    return std::string(host) + "_" + suffix;
}

lease_name checked_lease_name(lease_name name) {
    std::transform(name.name.begin(), name.name.end(), name.name.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!detail::is_dns1123_subdomain(name.name))
        throw config_error(make_error_code(error::config_invalid),
                           "lease name \"" + name.name + "\" is not a valid DNS-1123 subdomain (lowercase letters, digits, '-', '.')");
    if (!name.namespace_name.empty() && !detail::is_dns1123_label(name.namespace_name))
        throw config_error(make_error_code(error::config_invalid), "namespace \"" + name.namespace_name + "\" is not a valid DNS-1123 label");
    return name;
}

namespace {

std::unique_ptr<resource_lock> make_lease_lock(client& api, lease_name name, const lock_config& cfg) {
    name = checked_lease_name(std::move(name));
    lease_client leases{api, name.namespace_name};
    return std::make_unique<lease_lock>(leases, name.name, cfg.identity.empty() ? default_identity() : cfg.identity,
                                        lease_lock_options{.record_events = cfg.record_events, .labels = cfg.labels, .log = cfg.log});
}

} // namespace

lease_locker_base::lease_locker_base(client& api, lease_name name, lock_config cfg)
    : lease_locker_base(make_lease_lock(api, std::move(name), cfg), cfg) {} // a copy: argument order is unspecified

lease_locker_base::lease_locker_base(std::unique_ptr<resource_lock> lock, lock_config cfg)
    : impl_(std::make_shared<detail::locker_impl>(std::move(lock), std::move(cfg))) {}

lease_locker_base::~lease_locker_base() {
    if (impl_) impl_->shutdown();
}

// A moved-from locker holds nothing: its accessors say "not held", its
// operations are a precondition violation (as response_stream::read_line
// on a stream never opened).
namespace {
const std::string no_identity;
[[noreturn]] void used_after_move() {
    throw std::logic_error("lease_locker: used after being moved from");
}
} // namespace

boost::asio::any_io_executor lease_locker_base::strand() const noexcept {
    return impl_ ? impl_->strand() : boost::asio::any_io_executor{};
}

boost::asio::cancellation_slot lease_locker_base::lost_slot() {
    if (!impl_) used_after_move();
    return impl_->lost_slot();
}

error_code lease_locker_base::check(std::chrono::milliseconds max_tolerable_expired) const {
    return impl_ ? impl_->check(max_tolerable_expired) : error_code{};
}

bool lease_locker_base::held() const {
    return impl_ && impl_->view().held;
}

std::chrono::steady_clock::time_point lease_locker_base::valid_until() const {
    return impl_ ? impl_->view().valid_until : std::chrono::steady_clock::time_point{};
}

fencing_token lease_locker_base::current_fencing_token() const {
    if (!impl_) return {};
    auto v = impl_->view();
    return v.held ? v.token : fencing_token{};
}

const std::string& lease_locker_base::identity() const noexcept {
    return impl_ ? impl_->identity() : no_identity;
}

std::string lease_locker_base::describe() const {
    return impl_ ? impl_->config().name : std::string();
}

void lease_locker_base::start_lock(detail::locker_impl* impl, diagnostics* diag, boost::asio::any_completion_handler<void(error_code)> h) {
    if (!impl) used_after_move();
    impl->start_lock(diag, std::move(h));
}
void lease_locker_base::start_try_lock(detail::locker_impl* impl, diagnostics* diag,
                                       boost::asio::any_completion_handler<void(error_code, bool)> h) {
    if (!impl) used_after_move();
    impl->start_try_lock(diag, std::move(h));
}
void lease_locker_base::start_unlock(detail::locker_impl* impl, bool retry, diagnostics* diag,
                                     boost::asio::any_completion_handler<void(error_code, unlock_result)> h) {
    if (!impl) used_after_move();
    impl->start_unlock(retry, diag, std::move(h));
}
void lease_locker_base::start_wait_lost(detail::locker_impl* impl, diagnostics* diag, boost::asio::any_completion_handler<void(error_code)> h) {
    if (!impl) used_after_move();
    impl->start_wait_lost(diag, std::move(h));
}

} // namespace leaselocker
