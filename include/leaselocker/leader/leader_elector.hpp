/// @file
/// Layer 6: leader_elector, one replica leads while the others stand by.
#pragma once

#include <leaselocker/detail/default_token.hpp>

#include <leaselocker/leader/lease_observer.hpp>
#include <leaselocker/locker/lease_locker.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>

#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <string>

namespace leaselocker {

namespace detail {
class elector_impl;
}

/// Handed to the leader's work when leadership begins.
struct leadership {
    fencing_token token; ///< of the grant: check it at the resource the leader guards
    std::string identity; ///< this elector's identity: the holder the Lease names
    /// The elector's strand: run the work here. The stop is emitted on it,
    /// and Asio's cancellation slots are not thread-safe.
    boost::asio::any_io_executor executor;
};

/// The leader's work (client-go's OnStartedLeading): start it on
/// leadership::executor and call `done` once it has ended. `done` carries a
/// cancellation slot (Asio's associated slot, which co_spawn picks up) that
/// emits terminal cancellation the moment leadership is lost or run() is
/// cancelled; a wrapper around `done` must keep that slot. Work that ends
/// by itself makes the elector step down (release the lease) and run()
/// complete. An exception passed to `done` (other than the
/// operation_aborted a coroutine ends with on the stop), or thrown by
/// on_started_leading, is rethrown after the step-down from the elector's
/// strand: out of the io_context's run(), as co_spawn with detached does,
/// and run()'s handler is not called.
using leader_work = std::function<void(leadership, boost::asio::any_completion_handler<void(std::exception_ptr)>)>;

/// How a leader_elector behaves: the lock's settings and the hooks.
struct elector_config {
    /// Timing, identity, release_on_cancel (client-go's ReleaseOnCancel:
    /// release when run() is cancelled, and after a loss, each time once the
    /// work has ended; without it the lease is left to expire), metrics,
    /// log, coordinated (a candidate of the API server's coordinated leader
    /// election: register a lease_candidate with the same identity). A term
    /// that ends because the Lease's preferredHolder names another is a loss
    /// (on_lost gets error::preempted), and the lease is released once the
    /// work has ended, whatever release_on_cancel says. fair_turns is not
    /// for electors.
    lock_config lock;
    /// After a loss, campaign again (false: run() completes with
    /// error::lock_lost once the work has ended).
    bool recampaign = true;
    /// The leader's work (see leader_work); required.
    leader_work on_started_leading;
    /// Once per leadership, on the elector's strand (see the order in
    /// leader_elector).
    /// Hooks must not throw: if one does, it is logged and ignored.
    std::function<void()> on_stopped_leading;
    /// Whenever the holder named on the Lease changes (us included; empty:
    /// released, after a leader was seen), as client-go's OnNewLeader;
    /// renewals are not changes.
    std::function<void(const std::string& identity)> on_new_leader;
};

/// The part of a leader_elector that does not depend on its executor type (see
/// basic_leader_elector).
class leader_elector_base {
public:
    /// Cancels run() (as terminal cancellation would, without waiting) and
    /// never blocks: the work's stop, on_stopped_leading, the release and
    /// run()'s handler come after it returns (on_new_leader does not), so
    /// what they capture, and the client, must outlive that.
    ~leader_elector_base();
    leader_elector_base(const leader_elector_base&) = delete;
    leader_elector_base& operator=(const leader_elector_base&) = delete;
    leader_elector_base& operator=(leader_elector_base&&) = delete;

    /// The holder the Lease names, as the shared watch last showed it while
    /// run() runs (empty: nobody, or not known yet). Any thread.
    std::string current_leader() const;
    /// Whether this elector leads now. Any thread.
    bool is_leader() const;
    /// The term's fencing token (invalid when not leading). Any thread.
    fencing_token current_fencing_token() const;
    /// Until when leadership is certain, on steady_clock (as
    /// lease_locker::valid_until: check it before a guarded write); epoch
    /// when not leading. Any thread.
    std::chrono::steady_clock::time_point valid_until() const;
    /// The identity written as holder: elector_config::lock's identity, or
    /// default_identity(). Any thread.
    const std::string& identity() const noexcept;

    /// Health (client-go's HealthzAdaptor.Check): error::lock_lost if we
    /// lead but renewals have stopped moving the lease's validity on for
    /// longer than `tolerance` (a blocked executor: nothing could even notice
    /// a loss); success otherwise, also when not leading. Any thread.
    error_code check(std::chrono::milliseconds tolerance) const;

protected:
    /// @cond INTERNAL
    leader_elector_base(client& api, lease_name name, elector_config cfg);
    /// Takes the other's over; the other may then only be destroyed.
    leader_elector_base(leader_elector_base&&) noexcept = default;
    /// The strand everything runs on.
    boost::asio::any_io_executor strand() const noexcept;

    static void start_run(detail::elector_impl* impl, boost::asio::any_completion_handler<void(error_code)> h);
    std::shared_ptr<detail::elector_impl> impl_;
    /// @endcond
};

/// One replica leads while the others stand by: client-go's
/// tools/leaderelection in the Asio idiom, on lease_locker.
///
/// @code
///   leaselocker::elector_config cfg;
///   cfg.on_started_leading = [](leaselocker::leadership l, auto done) {
///       asio::co_spawn(l.executor, serve_as_leader(l.token), std::move(done)); // cancelled the moment leadership is lost
///   };
///   cfg.on_new_leader = [](const std::string& who) { std::cout << who << " leads\n"; };
///   leaselocker::leader_elector elector{api, {"billing", "scheduler"}, cfg};
///   co_await elector.run(asio::use_awaitable);
/// @endcode
///
/// Order, per elector and across electors of one Lease: on_stopped_leading
/// runs before any other elector's on_started_leading can. On a loss it
/// runs the moment the loss is known (the locker reports it before the
/// lease can have expired for anyone else), while the leader's work is
/// being cancelled; on a step-down (run cancelled, or the work ended) it
/// runs after the work has ended and before the lease is released.
///
/// Threads: run may be started from any thread; the elector runs on a
/// strand (get_executor()) of the client's executor and starts no thread.
/// The hooks run on that strand. The leader's work is told to stop by
/// terminal cancellation emitted on that strand: run the work there
/// (leadership::executor). The accessors may be called from any thread.
template <class Executor = boost::asio::any_io_executor>
class basic_leader_elector : public leader_elector_base {
public:
    /// The type of get_executor(): any_io_executor, or one that carries a
    /// default completion token (asio::as_default_on); it must be
    /// constructible from any_io_executor.
    using executor_type = Executor;

    /// The same type with another executor type (for asio::as_default_on).
    template <class OtherExecutor>
    struct rebind_executor {
        /// The type when rebound to OtherExecutor.
        using other = basic_leader_elector<OtherExecutor>;
    };

    /// Throws config_error (error::config_invalid) for a bad name or timing,
    /// or without on_started_leading; nothing is sent then.
    basic_leader_elector(client& api, lease_name name, elector_config cfg)
        : leader_elector_base(api, std::move(name), std::move(cfg)), executor_(strand()) {}
    /// Takes over one of another executor type (what asio::as_default_on
    /// does). A moved-from object reads as idle (nothing held, nobody
    /// seen); starting an operation on it throws std::logic_error.
    template <class OtherExecutor>
    basic_leader_elector(basic_leader_elector<OtherExecutor>&& other) noexcept
        : leader_elector_base(static_cast<leader_elector_base&&>(other)), executor_(strand()) {}

    /// Its strand: where it runs, where the hooks run and the leader's work is
    /// told to stop (leadership::executor), and where handlers run by
    /// default. Operations called without a completion token use this
    /// executor's default (asio::default_completion_token; deferred if it
    /// names none).
    executor_type get_executor() const noexcept { return executor_; }

    /// Campaigns until cancelled: waits for the lease (watch-driven), leads
    /// (runs on_started_leading) until leadership ends, and after a loss
    /// campaigns again (recampaign). Signature: void(error_code).
    /// Completes with success after the leader's work ended by itself (the
    /// lease released). Errors: operation_aborted when cancelled or the elector is
    /// destroyed (if leading: after the work has ended, on_stopped_leading
    /// ran and, with release_on_cancel, the lease was released);
    /// error::lock_lost after a loss without recampaign; a permanent error
    /// of the lock (error::forbidden, ...); asio::error::already_started
    /// if run() is running already. Cancellation: terminal, partial, total,
    /// all meaning "stop campaigning and step down"; emit it where the
    /// handler runs (its associated executor; default: the elector's strand).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code)) CompletionToken = detail::default_token_t<Executor>>
    auto run(CompletionToken&& token = detail::default_token_t<Executor>()) {
        return boost::asio::async_initiate<CompletionToken, void(error_code)>(
            [](auto h, detail::elector_impl* impl) { start_run(impl, std::move(h)); }, token, impl_.get());
    }

private:
    Executor executor_;
};

/// For an any_io_executor, operations deferred by default.
using leader_elector = basic_leader_elector<>;

/// client-go's HealthzAdaptor: a health check that may be created before the
/// elector is (set_elector later) and fails only if the elector leads with
/// stalled renewals for longer than the tolerance. Every member may be
/// called from any thread.
class healthz_adaptor {
public:
    /// `tolerance`: how long renewals may have stalled before check() fails.
    explicit healthz_adaptor(std::chrono::milliseconds tolerance) : tolerance_(tolerance) {}
    /// The elector must outlive the adaptor's use (or be set to nullptr first).
    void set_elector(const leader_elector_base* elector);
    /// The check's name, "leaderElection" (as client-go's).
    const char* name() const noexcept { return "leaderElection"; }
    /// leader_elector::check with the tolerance: error::lock_lost if the
    /// elector leads with renewals stalled for longer; success otherwise, and
    /// while no elector is set.
    error_code check() const;

private:
    std::chrono::milliseconds tolerance_;
    std::atomic<const leader_elector_base*> elector_{nullptr};
};

} // namespace leaselocker
