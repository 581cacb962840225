#include <leaselocker/leader/leader_elector.hpp>

#include "../detail/spawn.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace leaselocker {

namespace asio = boost::asio;

namespace detail {

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
}

class elector_impl : public std::enable_shared_from_this<elector_impl> {
public:
    elector_impl(client& api, lease_name name, elector_config cfg)
        : api_(api), name_(checked_lease_name(std::move(name))), cfg_(std::move(cfg)), strand_(asio::make_strand(api.get_executor())) {
        if (!cfg_.on_started_leading) throw config_error(make_error_code(error::config_invalid), "leader_elector needs on_started_leading");
        if (cfg_.lock.fair_turns) throw config_error(make_error_code(error::config_invalid), "fair_turns is not for leader electors");
        if (cfg_.lock.identity.empty()) cfg_.lock.identity = default_identity(); // one identity for every campaign
        lease_locker check{api_, name_, cfg_.lock};                                // timing checked now, nothing sent
    }

    const asio::strand<asio::any_io_executor>& strand() const { return strand_; }
    const std::string& identity() const { return cfg_.lock.identity; }

    void start_run(asio::any_completion_handler<void(error_code)> h) {
        auto cancel = spawn_for(strand_, run_op(shared_from_this()), std::move(h));
        asio::dispatch(strand_, [self = shared_from_this(), cancel] { self->run_cancel_.push_back(cancel); });
    }

    // The elector is going away: every run() stops as if cancelled.
    void shutdown() {
        asio::dispatch(strand_, [self = shared_from_this()] {
            self->shut_down_ = true;
            for (auto& c : self->run_cancel_)
                if (!c->done) c->signal.emit(asio::cancellation_type::terminal);
            self->run_cancel_.clear();
        });
    }

    std::shared_ptr<lease_locker> locker() const {
        std::lock_guard lock(mutex_);
        return locker_;
    }
    std::string current_leader() const {
        std::lock_guard lock(mutex_);
        if (!observer_) return {};
        auto i = observer_->current();
        return i ? i->holder : std::string();
    }

private:
    // One leadership: the work's stop signal and what ended it.
    struct term {
        explicit term(const asio::strand<asio::any_io_executor>& s) : wake(s, asio::steady_timer::time_point::max()) {}
        asio::cancellation_signal stop;
        asio::steady_timer wake; // cancelled whenever one of the flags below is set
        bool work_done = false;
        bool lost = false;
        bool stopped = false;       // the stop was emitted
        bool stop_reported = false; // on_stopped_leading ran
        std::exception_ptr error;      // passed to done
        std::exception_ptr hook_error; // thrown by on_started_leading
    };

    // Tells the term the work has ended, once: when `done` is called, or
    // when it is destroyed uncalled (dropped by the hook, or its io_context
    // went away), which would otherwise leave us leading for ever.
    struct work_end {
        work_end(std::shared_ptr<term> term, asio::strand<asio::any_io_executor> s) : t(std::move(term)), strand(std::move(s)) {}
        work_end(const work_end&) = delete;
        work_end& operator=(const work_end&) = delete;
        std::shared_ptr<term> t;
        asio::strand<asio::any_io_executor> strand;
        bool reported = false;
        void report(std::exception_ptr e) {
            reported = true;
            // dispatch: on the strand (the work runs on leadership::executor)
            // the term learns of it before anything else can emit the stop.
            asio::dispatch(strand, [t = t, e] {
                if (t->work_done) return;
                t->work_done = true;
                t->error = e;
                t->wake.cancel();
            });
        }
        ~work_end() {
            if (!reported) report(std::make_exception_ptr(std::runtime_error("the leader's work was dropped without completing")));
        }
    };

    static bool cancelled(const asio::cancellation_state& cs) { return cs.cancelled() != asio::cancellation_type::none; }

    // Cancelling run() and destroying the elector both reach the coroutine
    // as its cancellation (see start_run, shutdown).
    static asio::awaitable<error_code> run_op(std::shared_ptr<elector_impl> self) {
        co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
        co_await asio::this_coro::throw_if_cancelled(false);
        if (self->running_) co_return make_error_code(asio::error::already_started);
        if (self->shut_down_) co_return make_error_code(asio::error::operation_aborted);
        self->running_ = true;
        self->start_reporting();
        auto result = co_await self->campaign();
        co_await self->stop_reporting();
        self->running_ = false;
        std::erase_if(self->run_cancel_, [](const auto& c) { return c->done; });
        if (self->work_error_) std::rethrow_exception(std::exchange(self->work_error_, nullptr));
        co_return result;
    }

    asio::awaitable<error_code> campaign() {
        // The elector releases itself, once the work has ended: a locker
        // releasing on its own after a loss would let the next leader in
        // while our work is still stopping.
        auto lock_cfg = cfg_.lock;
        lock_cfg.release_on_cancel = false;
        // Told before the loss reaches us (on_lost runs as the locker signals it).
        auto preempted = std::make_shared<std::atomic<bool>>(false);
        lock_cfg.on_lost = [user = cfg_.lock.on_lost, preempted](error_code why) {
            if (why == error::preempted) *preempted = true;
            if (user) user(why);
        };
        for (;;) {
            auto locker = std::make_shared<lease_locker>(api_, name_, lock_cfg);
            {
                std::lock_guard lock(mutex_);
                locker_ = locker;
            }
            *preempted = false;
            auto [ec] = co_await locker->lock(use_tuple);
            if (ec) co_return ec; // cancelled, or a permanent error
            if (co_await stopping()) { // granted as the cancellation came: step down at once
                co_await step_down(*locker, true);
                co_return make_error_code(asio::error::operation_aborted);
            }
            auto t = std::make_shared<term>(strand_);
            // A loss between the grant and this wait completes it at once
            // with operation_aborted: not held any more is a loss too.
            // (A weak reference: the locker must go when we drop it, or it renews on.)
            locker->wait_lost(asio::bind_executor(strand_, [t, weak = std::weak_ptr<lease_locker>(locker)](error_code lec) {
                const auto l = weak.lock();
                if (lec == error::lock_lost || (l && !l->held())) t->lost = true;
                t->wake.cancel();
            }));
            if (!locker->held()) { // lost before the work could start: nothing to stop
                if (*preempted) co_await locker->unlock(use_tuple); // hand it to the preferred holder
                const bool stop = co_await stopping();
                if (cfg_.recampaign && !stop) continue;
                co_return stop ? make_error_code(asio::error::operation_aborted) : make_error_code(error::lock_lost);
            }
            start_work(t, leadership{locker->current_fencing_token(), identity(), strand_});
            while (!t->work_done && !t->hook_error && !t->lost && !co_await stopping()) co_await t->wake.async_wait(use_tuple);

            if (t->lost && !t->work_done && !t->hook_error) { // loss first: stop the work and say so, then wait for it
                stop_work(*t);
                report_stopped(*t);
                co_await work_ended(*t);
                if (work_error_) co_return error_code{};
                // As client-go's ReleaseOnCancel: once the work has ended the
                // lease, if it still names us, is handed on at once. Always
                // after stepping down for a preferred holder: the election
                // controller names it the moment it sees the lease free.
                if (cfg_.lock.release_on_cancel || *preempted) co_await locker->unlock(use_tuple);
                const bool stop = co_await stopping();
                if (cfg_.recampaign && !stop) continue;
                co_return stop ? make_error_code(asio::error::operation_aborted) : make_error_code(error::lock_lost);
            }
            // Stepping down: the work ended by itself (or its hook threw), or run() was cancelled.
            const bool by_itself = t->work_done || t->hook_error;
            stop_work(*t);
            co_await work_ended(*t); // a loss meanwhile is reported at once
            if (t->hook_error) work_error_ = t->hook_error;
            report_stopped(*t);
            // The work has ended: releasing is safe. Cancelled, only if asked (client-go's ReleaseOnCancel).
            co_await step_down(*locker, by_itself || cfg_.lock.release_on_cancel);
            co_return by_itself ? error_code{} : make_error_code(asio::error::operation_aborted);
        }
    }

    asio::awaitable<bool> stopping() const { co_return shut_down_ || cancelled(co_await asio::this_coro::cancellation_state); }

    // Once the work has completed its slot is not ours to emit into any more.
    static void stop_work(term& t) {
        if (t.work_done || t.stopped) return;
        t.stopped = true;
        t.stop.emit(asio::cancellation_type::terminal);
    }

    // on_stopped_leading, once per term.
    void report_stopped(term& t) {
        if (std::exchange(t.stop_reported, true)) return;
        call_hook("on_stopped_leading", [&] {
            if (cfg_.on_stopped_leading) cfg_.on_stopped_leading();
        });
    }

    // A hook that throws is a bug of the caller's; it must not wedge the
    // elector: logged, and the elector goes on.
    template <class F>
    void call_hook(const char* which, F&& f) const {
        try {
            f();
        } catch (const std::exception& e) {
            cfg_.lock.log(log_level::error, [&] { return std::string("leader_elector: ") + which + " threw: " + e.what(); });
        } catch (...) {
            cfg_.lock.log(log_level::error, [&] { return std::string("leader_elector: ") + which + " threw"; });
        }
    }

    void start_work(const std::shared_ptr<term>& t, leadership l) {
        auto end = std::make_shared<work_end>(t, strand_);
        auto done = asio::bind_cancellation_slot(t->stop.slot(), [end](std::exception_ptr e) { end->report(e); });
        end.reset(); // the handler owns it now
        try {
            cfg_.on_started_leading(std::move(l), asio::any_completion_handler<void(std::exception_ptr)>(std::move(done)));
        } catch (...) {
            // The hook may have started the work before it threw: it is
            // stopped and waited for (if `done` was dropped, that counts as
            // its end), then the exception leaves run().
            t->hook_error = std::current_exception();
        }
    }

    // Waits for the work whatever else happens (a second cancellation
    // included); a loss meanwhile is reported at once. The work's exception
    // is kept for run() to rethrow, unless it is the operation_aborted with
    // which a coroutine ends on the stop.
    asio::awaitable<void> work_ended(term& t) {
        while (!t.work_done) {
            if (t.lost) report_stopped(t);
            co_await t.wake.async_wait(use_tuple);
        }
        if (t.error && !(t.stopped && is_abort(t.error))) work_error_ = t.error;
    }

    static bool is_abort(const std::exception_ptr& e) {
        try {
            std::rethrow_exception(e);
        } catch (const boost::system::system_error& se) {
            return se.code() == asio::error::operation_aborted;
        } catch (...) {
            return false;
        }
    }

    asio::awaitable<void> step_down(lease_locker& locker, bool release) {
        if (release) co_await locker.unlock(use_tuple);
        std::lock_guard lock(mutex_);
        locker_.reset(); // without a release the lease is left to expire: renewing stops with the locker
    }

    // The observer behind on_new_leader and current_leader(), while run() runs.
    void start_reporting() {
        {
            std::lock_guard lock(mutex_);
            observer_ = std::make_shared<lease_observer>(api_, name_);
        }
        reporter_ = std::make_shared<reporter>(strand_);
        asio::co_spawn(strand_, report_leaders(shared_from_this(), observer_),
                       asio::bind_cancellation_slot(reporter_->stop.slot(), [r = reporter_](std::exception_ptr) {
                           r->exited = true;
                           r->exit.cancel();
                       }));
    }

    asio::awaitable<void> stop_reporting() {
        auto r = reporter_;
        if (!r->exited) r->stop.emit(asio::cancellation_type::terminal);
        while (!r->exited) co_await r->exit.async_wait(use_tuple); // no on_new_leader after run() completes
        std::lock_guard lock(mutex_);
        observer_.reset();
    }

    static asio::awaitable<void> report_leaders(std::shared_ptr<elector_impl> self, std::shared_ptr<lease_observer> observer) {
        co_await asio::this_coro::throw_if_cancelled(false);
        std::string reported; // as client-go: an empty holder is reported only after a leader
        for (;;) {
            // Not structured bindings: the lambdas below capture them (clang 14 cannot).
            auto next = co_await observer->next_change(use_tuple);
            const error_code ec = std::get<0>(next);
            const leader_info& info = std::get<1>(next);
            if (cancelled(co_await asio::this_coro::cancellation_state)) co_return;
            if (ec) { // a permanent error of the watch (e.g. no watch permission): try again later
                self->cfg_.lock.log(log_level::warning, [&] { return "leader_elector: following the lease: " + ec.message(); });
                asio::steady_timer t(self->strand_, self->cfg_.lock.retry_period);
                co_await t.async_wait(use_tuple);
                if (cancelled(co_await asio::this_coro::cancellation_state)) co_return;
                continue;
            }
            if (reported != info.holder && !self->shut_down_) { // none after the elector is gone
                reported = info.holder;
                self->call_hook("on_new_leader", [&] {
                    if (self->cfg_.on_new_leader) self->cfg_.on_new_leader(info.holder);
                });
            }
        }
    }

    client& api_;
    lease_name name_;
    elector_config cfg_;
    asio::strand<asio::any_io_executor> strand_;
    std::vector<std::shared_ptr<spawn_cancellation>> run_cancel_; // of the run() calls not yet finished
    // The loop behind on_new_leader; a fresh one per run (co_spawn leaves
    // its handler in the signal).
    struct reporter {
        explicit reporter(const asio::strand<asio::any_io_executor>& s) : exit(s, asio::steady_timer::time_point::max()) {}
        asio::cancellation_signal stop;
        asio::steady_timer exit; // cancelled when it has exited
        bool exited = false;
    };
    std::shared_ptr<reporter> reporter_;
    bool running_ = false;
    bool shut_down_ = false;
    std::exception_ptr work_error_;
    mutable std::mutex mutex_; // guards locker_ and observer_ for the accessors
    std::shared_ptr<lease_locker> locker_;
    std::shared_ptr<lease_observer> observer_;
};

} // namespace detail

leader_elector_base::leader_elector_base(client& api, lease_name name, elector_config cfg)
    : impl_(std::make_shared<detail::elector_impl>(api, std::move(name), std::move(cfg))) {}

leader_elector_base::~leader_elector_base() {
    if (impl_) impl_->shutdown();
}

// A moved-from elector: not leading, no leader known; run() is a
// precondition violation.
namespace {
const std::string no_identity;
} // namespace

asio::any_io_executor leader_elector_base::strand() const noexcept {
    return impl_ ? impl_->strand() : asio::any_io_executor{};
}

std::string leader_elector_base::current_leader() const {
    return impl_ ? impl_->current_leader() : std::string();
}

bool leader_elector_base::is_leader() const {
    if (!impl_) return false;
    auto l = impl_->locker();
    return l && l->held();
}

fencing_token leader_elector_base::current_fencing_token() const {
    if (!impl_) return {};
    auto l = impl_->locker();
    return l ? l->current_fencing_token() : fencing_token{};
}

std::chrono::steady_clock::time_point leader_elector_base::valid_until() const {
    if (!impl_) return {};
    auto l = impl_->locker();
    return l ? l->valid_until() : std::chrono::steady_clock::time_point{};
}

const std::string& leader_elector_base::identity() const noexcept {
    return impl_ ? impl_->identity() : no_identity;
}

error_code leader_elector_base::check(std::chrono::milliseconds tolerance) const {
    if (!impl_) return {};
    auto l = impl_->locker();
    return l && l->held() ? l->check(tolerance) : error_code{};
}

void leader_elector_base::start_run(detail::elector_impl* impl, asio::any_completion_handler<void(error_code)> h) {
    if (!impl) throw std::logic_error("leader_elector: used after being moved from");
    impl->start_run(std::move(h));
}

void healthz_adaptor::set_elector(const leader_elector_base* elector) {
    elector_.store(elector);
}

error_code healthz_adaptor::check() const {
    const auto* e = elector_.load();
    return e ? e->check(tolerance_) : error_code{};
}

} // namespace leaselocker
