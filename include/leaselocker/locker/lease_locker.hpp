/// @file
/// Layer 5: lease_locker, a distributed lock on a Kubernetes Lease.
#pragma once

#include <leaselocker/core/election.hpp>
#include <leaselocker/detail/default_token.hpp>
#include <leaselocker/locker/metrics.hpp>
#include <leaselocker/locker/resource_lock.hpp>

#include <boost/asio/cancellation_signal.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace leaselocker {

namespace detail {
class locker_impl;
}

/// Which Lease a lock, elector, observer or candidate uses.
struct lease_name {
    std::string namespace_name; ///< empty: the client's default namespace
    std::string name;           ///< lowercased, then checked as a DNS-1123 subdomain
};
/// `name` lowercased and checked; throws config_error (error::config_invalid)
/// for a name or namespace Kubernetes would refuse.
lease_name checked_lease_name(lease_name name);

/// How a lease_locker behaves: timing, identity, fair turns, hooks.
/// Checked when the locker is constructed (config_error).
struct lock_config {
    /// How long a lease lasts from its last renewal (written as
    /// leaseDurationSeconds, rounded up to whole seconds).
    /// The three timings default as client-go's. Checked at construction:
    /// lease_duration > renew_deadline > 1.2 × retry_period, lease_duration >= 1 s,
    /// lease_duration × (1 − ρ)/(1 + ρ) > 1 s + retry_period (validity counts
    /// only from renewals client-go's waiters can see: a new renewTime second).
    std::chrono::milliseconds lease_duration{std::chrono::seconds(15)};
    /// A held lock counts as lost when no renewal has succeeded within this
    /// time from the sending of the last accepted write (or when its
    /// validity runs out first); each request is bounded by half of it.
    std::chrono::milliseconds renew_deadline{std::chrono::seconds(10)};
    /// The renewal interval while holding. While waiting: the poll interval
    /// when no watch runs (jittered, up to 2.2 ×), and the first back-off
    /// after an error (doubling up to lease_duration).
    std::chrono::milliseconds retry_period{std::chrono::seconds(2)};
    /// How long unlock_with_retry keeps trying.
    std::chrono::milliseconds unlock_retry_period{std::chrono::seconds(10)};
    /// Release the lease when the locker is cancelled or destroyed while
    /// holding it, and after a loss. Only safe if the guarded work has
    /// stopped by then.
    bool release_on_cancel = false;
    /// Judge other holders' expiry by our steady clock (see core::timing).
    bool use_observed_time = true;
    /// Take a live lease that already carries our identity at start-up.
    bool adopt_own_lease = false;
    /// First sight of a dead lease (docs/leader-election.md, "First sight"). Unset
    /// (the default): another holder's lease is timed from when this locker
    /// first saw it unchanged, so a lease whose holder died long before any
    /// waiter looked still costs a whole lease_duration. Set: a version
    /// read with a GET also counts as old as the server's clock says (its
    /// answer's Date minus the Lease's latest metadata.managedFields time,
    /// less 1 s for their whole seconds, less this margin, shortened by ρ):
    /// a lease dead for lease_duration·(1+ρ)/(1−ρ) + margin + 2 s is taken
    /// at once, one round trip (2 s: the worst of the two whole-second
    /// truncations; often 1 s less), a younger one after what is left of
    /// its duration by that reckoning. The margin covers a step of the API
    /// server's clock between the write and the read and, with several API
    /// servers, the offset between their clocks; safety then rests on them.
    std::optional<std::chrono::milliseconds> first_sight_margin;
    /// Coordinated leader election (KEP-4355; docs/leader-election.md).
    /// Whatever this is, a Lease with a strategy set is the API server's
    /// election controller's to assign: a locker that is not coordinated
    /// never takes it (lock() waits), and a holder whose Lease's
    /// preferredHolder comes to name another steps down: the lock is lost
    /// at once (on_lost gets error::preempted, loss cause `preempted`).
    /// true: a candidate of that controller (register a lease_candidate so
    /// that it is considered): lock() never creates the Lease nor takes a
    /// free or expired one; it completes when the controller names this
    /// identity the holder (and not before the previous holder's lease, as
    /// this locker saw it, ran out: the controller judges by wall clocks);
    /// that grant bumps leaseTransitions like any other (the controller
    /// leaves it), so the fencing token stays strictly increasing.
    bool coordinated = false;
    /// Watch the Lease while waiting (woken by a release at once) and while
    /// holding (a takeover seen at once). false: poll every retry_period as
    /// client-go does (one connection less per lease). A watch refused for
    /// good (403: no watch permission) turns into polling by itself.
    bool use_watch = true;
    /// Empty: "<hostname>_<random>". Two lockers must never share one.
    std::string identity;
    /// For messages; empty: "namespace/name".
    std::string name;
    /// Record Kubernetes Events on acquire and loss (needs create on events).
    bool record_events = false;
    /// Labels set on the Lease when this locker creates it (one that exists
    /// keeps its own).
    std::map<std::string, std::string> labels;
    /// A 401 or 403 (or a proxy's refusal, error::proxy_denied) for a kind of request (read, write, watch) the client
    /// has been let through with on this namespace's Leases before
    /// (resource_lock::authorized_before) is taken for a restarted API
    /// server whose authorizer is not ready yet: lock() keeps trying, and
    /// renewing and watching keep going, for up to this long from the first
    /// such refusal of a row (renewing never past its renew deadline,
    /// unlock_with_retry never past unlock_retry_period). A kind never let
    /// through fails at once (a misconfiguration: e.g. get but no update).
    /// Zero: every 401/403 is final.
    std::chrono::milliseconds auth_grace{std::chrono::seconds(30)};
    /// Fair turns among the lockers that turn this on (docs/fairness.md).
    /// Off, a waiter takes a free lease the moment the watch shows it, and
    /// under continuous contention the quickest waiter wins. On, lock()
    /// that has to wait first joins the queue in the Lease's
    /// leaselocker.io/queue annotation (one write, the spec untouched), and
    /// a free or expired lease goes to the longest-waiting: the k-th in line
    /// gives those ahead k × fair_claim_grace (from the latest of: the lease
    /// seen free or expired, itself seen queued, a yield window's end) to
    /// take it, then takes it and drops them. A cancelled lock() leaves the
    /// queue again (one write); a waiter that died, or whose locker was
    /// destroyed, costs the next in line that grace once. try_lock never
    /// joins: on a free lease with others queued it returns false unless it
    /// is its turn. Needs the watch to keep the order (use_watch = false:
    /// the grace must exceed 2.2 × retry_period). Lockers without fair
    /// turns, client-go and the Go reference ignore the queue (and keep it).
    bool fair_turns = false;
    /// With fair_turns: how long each waiter ahead in the queue has to take
    /// a free or expired lease before the next in line may (see above).
    std::chrono::milliseconds fair_claim_grace{std::chrono::seconds(1)};
    /// For peers that poll and cannot queue (client-go, the Go reference):
    /// with fair turns, a lease freed after every yield_every-th grant (by
    /// leaseTransitions) stays free for yield_window before our lockers
    /// take it, so a peer that polls at least once in the window gets it.
    /// Set yield_window above the peers' longest poll interval (client-go:
    /// 2.2 × its retry period, plus a request). Costs that window on every
    /// yield_every-th handoff. Both 0 (the default): never; both or neither.
    int yield_every = 0;
    std::chrono::milliseconds yield_window{0}; ///< see yield_every
    /// Called on the locker's strand when a held lock is lost.
    std::function<void(error_code)> on_lost;
    /// Told of grants, renewals, slow paths and losses on the locker's
    /// strand (metrics.hpp: metrics_registry renders them for Prometheus).
    std::shared_ptr<metrics_sink> metrics;
    /// Where the locker logs: grants and releases at info, losses, retries
    /// and failed releases at warning, a lock() that fails for good at error.
    logger log;
    /// Bound ρ on how much the rates of this host's and the other holders'
    /// clocks differ: a held lock is trusted for lease_duration·(1−ρ)/(1+ρ)
    /// from when its last renewal was sent.
    double max_clock_rate_error = 0.01;
    /// For tests of clock-rate error: the locker's view of time runs this
    /// many times as fast as steady_clock (timers too). valid_until() is
    /// still on the real steady_clock.
    double clock_rate = 1.0;
};

/// (lease uid, leaseTransitions) of the write that granted the lock:
/// strictly increasing per grant on one Lease. A protected resource accepts
/// a write only with a token not older than the newest it has seen; a new
/// uid means the Lease was recreated: a new epoch.
struct fencing_token {
    std::string epoch;          ///< the Lease's uid
    std::int64_t sequence = -1; ///< its leaseTransitions after the grant; -1: no grant

    /// Whether this names a grant (sequence >= 0); an invalid token comes
    /// from a locker that does not hold the lock.
    bool valid() const noexcept { return sequence >= 0; }
    /// The same grant: the same epoch and sequence.
    friend bool operator==(const fencing_token&, const fencing_token&) = default;
};

/// What unlock did. released: the lease was written free. not_held: it was
/// not ours (free, or someone else's: nothing written), or, with an error,
/// the release failed.
enum class unlock_result { released, not_held };

/// The part of a lease locker that does not depend on its executor type:
/// construction, the loss signal and the accessors. Used as
/// basic_lease_locker (lease_locker), which adds the operations.
class lease_locker_base {
public:
    /// Cancels all work at once, never blocks. With release_on_cancel a held
    /// lease is released in the background: the client must outlive that
    /// (keep running its io_context). A moved-from locker does nothing.
    ~lease_locker_base();
    lease_locker_base(const lease_locker_base&) = delete;
    lease_locker_base& operator=(const lease_locker_base&) = delete;
    lease_locker_base& operator=(lease_locker_base&&) = delete;

    /// Emits terminal cancellation the moment a held lock is lost: bind the
    /// guarded work's completion to it. One operation at a time may be bound
    /// (until its handler has run). It is emitted on the locker's strand
    /// (get_executor()): bind an operation that runs there, or on an
    /// io_context run by one thread; slots are not thread-safe.
    boost::asio::cancellation_slot lost_slot();

    /// Health (client-go's Check): error::lock_lost if a lock we held was
    /// lost more than max_tolerable_expired ago and not taken again or
    /// unlocked since, or if it still reads as held but valid_until() passed
    /// more than max_tolerable_expired ago: renewals have stopped (a blocked
    /// executor), so nothing could even notice a loss. Any thread.
    error_code check(std::chrono::milliseconds max_tolerable_expired) const;

    /// Whether the lock is held now (as the locker last knew it). Any thread.
    bool held() const;
    /// Until when the lease is ours for sure (see core::election); the epoch
    /// of steady_clock when not held.
    std::chrono::steady_clock::time_point valid_until() const;
    /// The fencing token of the current grant; invalid when not held. Any
    /// thread.
    fencing_token current_fencing_token() const;
    /// The identity written as holder: lock_config::identity or
    /// default_identity() (over a resource_lock: its identity).
    const std::string& identity() const noexcept;
    /// The name used in messages and metrics: lock_config::name, or
    /// "namespace/name".
    std::string describe() const;

protected:
    /// @cond INTERNAL
    lease_locker_base(client& api, lease_name name, lock_config cfg);
    lease_locker_base(std::unique_ptr<resource_lock> lock, lock_config cfg);
    /// Takes the other's locker over; the other may then only be destroyed.
    lease_locker_base(lease_locker_base&&) noexcept = default;
    /// The strand everything runs on.
    boost::asio::any_io_executor strand() const noexcept;

    static void start_lock(detail::locker_impl* impl, diagnostics* diag, boost::asio::any_completion_handler<void(error_code)> h);
    static void start_try_lock(detail::locker_impl* impl, diagnostics* diag, boost::asio::any_completion_handler<void(error_code, bool)> h);
    static void start_unlock(detail::locker_impl* impl, bool retry, diagnostics* diag,
                             boost::asio::any_completion_handler<void(error_code, unlock_result)> h);
    static void start_wait_lost(detail::locker_impl* impl, diagnostics* diag, boost::asio::any_completion_handler<void(error_code)> h);

    std::shared_ptr<detail::locker_impl> impl_;
    /// @endcond
};

/// A distributed lock on one Kubernetes Lease.
///
/// @code
///   leaselocker::lease_locker locker{api, {"billing", "nightly-invoices"}};
///   co_await locker.lock(asio::use_awaitable);
///   ... guarded work, bound to locker.lost_slot() ...
///   co_await locker.unlock(asio::use_awaitable);
/// @endcode
///
/// Threads: every operation may be started from any thread; all of them run
/// on a strand of the client's executor, and the locker starts no thread.
/// Its handlers run on their associated executor (default: that strand),
/// never inside the initiating call, and hold work there until they run.
/// The accessors (held, valid_until, current_fencing_token, check) may be
/// called from any thread. Renewal runs in the background while the lock is
/// held.
///
/// Cancellation, per operation (Asio's types; a type an operation cannot
/// honour is ignored, as Asio requires):
///
/// @code{.unparsed}
///   operation          terminal / partial                      total
///   lock, try_lock     before the granting write: ends, no     the same before the write;
///                      request was written. After it: the      after a granting write it
///                      lease is released before completing     cannot be honoured and is
///                      with operation_aborted (the Lease's     ignored: completes with
///                      leaseTransitions and acquireTime show   success, the lock is held.
///                      the brief grant). A refused write:      A refused write: ends, no
///                      ends, nothing changed.                  trace.
///   unlock,            not cancellable: always finishes (each request is bounded).
///   unlock_with_retry
///   wait_lost          any type: completes with operation_aborted; nothing else changes.
/// @endcode
///
/// With lock_config::fair_turns, a lock() that had to wait joined the queue
/// of waiters (one write); cancelled (any type), it leaves it again before
/// completing: one more write, best effort, bounded by renew_deadline / 2
/// (a cancelled try_lock leaves an entry an earlier lock() could not).
/// If that fails, or the locker is destroyed instead, the entry stays until
/// the next in line drops it after fair_claim_grace.
///
/// Completion tokens: any. Without one, an operation uses the executor's
/// default, so asio::as_default_on works:
/// `asio::use_awaitable_t<>::as_default_on_t<lease_locker> locker{api, name};
/// co_await locker.lock();` (with the plain any_io_executor: deferred).
///
/// Errors: a Kubernetes error for a non-2xx answer (error::forbidden, ...),
/// a transport error (error::timeout, error::connection, error::tls, ...),
/// or one of the locker's (error::lock_lost, error::already_locking). The
/// overloads taking `diagnostics&` also return the server's message (for a
/// 403 it names the verb, the resource and the user) apart from ours; the
/// object must outlive the operation and is cleared on success.
template <class Executor = boost::asio::any_io_executor>
class basic_lease_locker : public lease_locker_base {
public:
    /// The type of get_executor(): any_io_executor, or one that carries a
    /// default completion token (asio::as_default_on); it must be
    /// constructible from any_io_executor.
    using executor_type = Executor;

    /// The same locker type with another executor type (for asio::as_default_on).
    template <class OtherExecutor>
    struct rebind_executor {
        /// The locker type when rebound to OtherExecutor.
        using other = basic_lease_locker<OtherExecutor>;
    };

    /// Throws config_error (error::config_invalid) for a bad name or timing;
    /// nothing is sent then.
    basic_lease_locker(client& api, lease_name name, lock_config cfg = {})
        : lease_locker_base(api, std::move(name), std::move(cfg)), executor_(strand()) {}
    /// Over any resource lock (its identity is the locker's).
    basic_lease_locker(std::unique_ptr<resource_lock> lock, lock_config cfg = {})
        : lease_locker_base(std::move(lock), std::move(cfg)), executor_(strand()) {}
    /// Takes over a locker of another executor type (what asio::as_default_on
    /// does). A moved-from locker reads as not held; lost_slot() or starting
    /// an operation on it throws std::logic_error.
    template <class OtherExecutor>
    basic_lease_locker(basic_lease_locker<OtherExecutor>&& other) noexcept
        : lease_locker_base(static_cast<lease_locker_base&&>(other)), executor_(strand()) {}

    /// The locker's strand: where it runs, where lost_slot() emits, and where
    /// handlers run by default. Operations called without a completion token
    /// use this executor's default (asio::default_completion_token; deferred
    /// if it names none).
    executor_type get_executor() const noexcept { return executor_; }

    /// Waits until the lock is held: watch-driven, woken by a release or at
    /// the observed expiry of the holder's lease (with fair_turns: in
    /// waiting order, see lock_config). Completes at once if held.
    /// Signature: void(error_code).
    /// Errors: permanent ones complete it (forbidden, unauthorized, invalid,
    /// not_found for a missing namespace; a 401/403 rides out auth_grace if
    /// that kind of request was let through before); transient ones (conflict, 429,
    /// 5xx, timeouts, connection loss) are retried with back-off.
    /// error::already_locking while another lock/try_lock of this locker
    /// runs; operation_aborted when cancelled or the locker is destroyed.
    /// Cancellation: terminal, partial, total; see the table above.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code)) CompletionToken = detail::default_token_t<Executor>>
    auto lock(CompletionToken&& token = detail::default_token_t<Executor>()) {
        return boost::asio::async_initiate<CompletionToken, void(error_code)>(
            [](auto h, detail::locker_impl* impl) { start_lock(impl, nullptr, std::move(h)); }, token, impl_.get());
    }
    /// As above; also fills `diag` (see diagnostics).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code)) CompletionToken = detail::default_token_t<Executor>>
    auto lock(diagnostics& diag, CompletionToken&& token = detail::default_token_t<Executor>()) {
        return boost::asio::async_initiate<CompletionToken, void(error_code)>(
            [](auto h, detail::locker_impl* impl, diagnostics* d) { start_lock(impl, d, std::move(h)); }, token, impl_.get(), &diag);
    }

    /// One attempt: one read and, if the lease is free, expired or ours, one
    /// write; no retry, no wait (with fair_turns: never joins the queue, and
    /// a free lease with others queued is taken only in its turn, see
    /// lock_config). Signature: void(error_code, bool held).
    /// Completes with true if now held (at once, without a request, if
    /// already held); false if another holds it or wrote between our read
    /// and our write. Errors: as lock's, none retried.
    /// Cancellation: as lock (see the table above).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, bool)) CompletionToken = detail::default_token_t<Executor>>
    auto try_lock(CompletionToken&& token = detail::default_token_t<Executor>()) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, bool)>(
            [](auto h, detail::locker_impl* impl) { start_try_lock(impl, nullptr, std::move(h)); }, token, impl_.get());
    }
    /// As above; also fills `diag` (see diagnostics).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, bool)) CompletionToken = detail::default_token_t<Executor>>
    auto try_lock(diagnostics& diag, CompletionToken&& token = detail::default_token_t<Executor>()) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, bool)>(
            [](auto h, detail::locker_impl* impl, diagnostics* d) { start_try_lock(impl, d, std::move(h)); }, token, impl_.get(), &diag);
    }

    /// Stops renewing and, if the newest version of the lease it knows names
    /// us, writes it free over that version: one request (the watch keeps
    /// that version fresh while holding). On a conflict it reads afresh and
    /// tries again (a few times). Never clears somebody else's lease: every
    /// write is guarded by the version it was decided on. Signature: void(error_code,
    /// unlock_result): released; not_held (someone else's or free: nothing
    /// written); or an error with not_held, after which we may still be
    /// named holder until the lease expires. Errors: those of the read or
    /// the write (a Kubernetes or transport error, e.g. error::forbidden,
    /// error::timeout; error::conflict if every try met one); none is
    /// retried but a conflict. Cancellation: none (each request is bounded
    /// by renew_deadline / 2).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, unlock_result)) CompletionToken = detail::default_token_t<Executor>>
    auto unlock(CompletionToken&& token = detail::default_token_t<Executor>()) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, unlock_result)>(
            [](auto h, detail::locker_impl* impl) { start_unlock(impl, false, nullptr, std::move(h)); }, token, impl_.get());
    }
    /// As above; also fills `diag` (see diagnostics).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, unlock_result)) CompletionToken = detail::default_token_t<Executor>>
    auto unlock(diagnostics& diag, CompletionToken&& token = detail::default_token_t<Executor>()) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, unlock_result)>(
            [](auto h, detail::locker_impl* impl, diagnostics* d) { start_unlock(impl, false, d, std::move(h)); }, token, impl_.get(), &diag);
    }

    /// unlock, with transient errors retried for unlock_retry_period (and a
    /// 401/403 ridden out as lock_config::auth_grace says). Signature:
    /// void(error_code, unlock_result). Errors: as unlock's, once retrying
    /// has given up. Cancellation: none.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, unlock_result)) CompletionToken = detail::default_token_t<Executor>>
    auto unlock_with_retry(CompletionToken&& token = detail::default_token_t<Executor>()) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, unlock_result)>(
            [](auto h, detail::locker_impl* impl) { start_unlock(impl, true, nullptr, std::move(h)); }, token, impl_.get());
    }
    /// As above; also fills `diag` (see diagnostics).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, unlock_result)) CompletionToken = detail::default_token_t<Executor>>
    auto unlock_with_retry(diagnostics& diag, CompletionToken&& token = detail::default_token_t<Executor>()) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, unlock_result)>(
            [](auto h, detail::locker_impl* impl, diagnostics* d) { start_unlock(impl, true, d, std::move(h)); }, token, impl_.get(), &diag);
    }

    /// Completes with error::lock_lost when the held lock is lost (the
    /// diagnostics say how: taken over by whom, or no renewal in time), or
    /// operation_aborted when it is unlocked (or was not held). Signature:
    /// void(error_code). Cancellation: terminal, partial, total (completes
    /// with operation_aborted; the lock is not affected).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code)) CompletionToken = detail::default_token_t<Executor>>
    auto wait_lost(CompletionToken&& token = detail::default_token_t<Executor>()) {
        return boost::asio::async_initiate<CompletionToken, void(error_code)>(
            [](auto h, detail::locker_impl* impl) { start_wait_lost(impl, nullptr, std::move(h)); }, token, impl_.get());
    }
    /// As above; also fills `diag` (see diagnostics): for a loss, how it
    /// was lost.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code)) CompletionToken = detail::default_token_t<Executor>>
    auto wait_lost(diagnostics& diag, CompletionToken&& token = detail::default_token_t<Executor>()) {
        return boost::asio::async_initiate<CompletionToken, void(error_code)>(
            [](auto h, detail::locker_impl* impl, diagnostics* d) { start_wait_lost(impl, d, std::move(h)); }, token, impl_.get(), &diag);
    }

private:
    Executor executor_;
};

/// The lease locker for an any_io_executor, operations deferred by default.
using lease_locker = basic_lease_locker<>;

/// The default identity: "<hostname>_<8 random hex digits>".
std::string default_identity();

} // namespace leaselocker
