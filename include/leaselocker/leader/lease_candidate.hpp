/// @file
/// Layer 6: lease_candidate, this process as a candidate of the API server's
/// coordinated leader election (KEP-4355).
#pragma once

#include <leaselocker/detail/default_token.hpp>

#include <leaselocker/locker/lease_locker.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace leaselocker {

namespace detail {
class candidate_impl;
}

/// What a lease_candidate stands for, and how it keeps its candidacy.
struct candidate_config {
    /// The Lease the candidacy is for (namespace empty: the client's default).
    lease_name lease;
    /// The LeaseCandidate's name: the identity the locker or elector uses
    /// (lock_config::identity). Required; a ConfigMap key ([-._a-zA-Z0-9]+).
    std::string identity;
    /// Semantic versions ("1.4.2", no leading v) of this binary and of the
    /// behaviour it emulates (emulation <= binary; required by the strategy
    /// OldestEmulationVersion).
    std::string binary_version;
    std::string emulation_version; ///< see binary_version
    /// "OldestEmulationVersion", or a strategy of one's own ("example.com/x").
    std::string strategy = "OldestEmulationVersion";
    /// How often renewTime is refreshed without a ping (the controller
    /// ignores candidates whose renewTime is over 30 minutes old).
    std::chrono::milliseconds renew_interval{std::chrono::minutes(5)};
    /// After a failed request or a broken watch, the wait before trying again.
    std::chrono::milliseconds retry_period{std::chrono::seconds(2)};
    /// Delete the LeaseCandidate when run() ends: the one this run wrote
    /// (by uid), never one of that name it found for another Lease.
    bool remove_on_exit = true;
    /// Where failed requests are logged: permanent errors at error level,
    /// others at warning.
    logger log;
};

/// The part of a lease_candidate that does not depend on its executor type (see
/// basic_lease_candidate).
class lease_candidate_base {
public:
    /// Cancels run() (which then deletes the candidate if configured, in the
    /// background: keep the client's io_context running); never blocks.
    ~lease_candidate_base();
    lease_candidate_base(const lease_candidate_base&) = delete;
    lease_candidate_base& operator=(const lease_candidate_base&) = delete;
    lease_candidate_base& operator=(lease_candidate_base&&) = delete;

    /// How many pings of the controller this candidate has answered. Any thread.
    std::size_t pings_answered() const;

protected:
    /// @cond INTERNAL
    lease_candidate_base(client& api, candidate_config cfg);
    /// Takes the other's over; the other may then only be destroyed.
    lease_candidate_base(lease_candidate_base&&) noexcept = default;
    /// The strand everything runs on.
    boost::asio::any_io_executor strand() const noexcept;

    static void start_run(detail::candidate_impl* impl, boost::asio::any_completion_handler<void(error_code)> h);
    std::shared_ptr<detail::candidate_impl> impl_;
    /// @endcond
};

/// This process as a candidate of the API server's coordinated leader
/// election for one Lease.
///
/// With the CoordinatedLeaderElection feature (beta, off by default since
/// Kubernetes 1.33: `--feature-gates=CoordinatedLeaderElection=true` and
/// `--runtime-config=coordination.k8s.io/v1beta1=true` on kube-apiserver), the
/// server's election controller picks the holder of a Lease among the
/// coordination.k8s.io/v1beta1 LeaseCandidates that name it: by strategy
/// OldestEmulationVersion the lowest emulation version, then the lowest
/// binary version, then the oldest candidate. It writes the winner into the
/// Lease (creating it if need be) and, when a better candidate appears,
/// sets the Lease's preferredHolder so that the holder steps down.
///
/// @code
///   leaselocker::lease_candidate candidate{api, {.lease = {"kube-system", "my-controller"},
///                                                .identity = identity,
///                                                .binary_version = "1.4.2",
///                                                .emulation_version = "1.4.0"}};
///   candidate.run(asio::detached);        // keeps the LeaseCandidate fresh
///   elector_config cfg{...};
///   cfg.lock.identity = identity;         // the same identity
///   cfg.lock.coordinated = true;          // take the Lease only when named
/// @endcode
///
/// What run() does: creates (or updates) the LeaseCandidate named after the
/// identity, then watches it: each ping of the controller (a pingTime after
/// the renewTime) is answered at once by a fresh renewTime (the controller
/// leaves a candidate out that has not answered within 5 s), renewTime is
/// refreshed every renew_interval unasked, and a deleted candidate is
/// created again. Cancelled, it deletes the LeaseCandidate (unless
/// remove_on_exit is false), so the controller stops considering it. RBAC:
/// get, create, update, watch and delete on leasecandidates in the namespace.
///
/// Threads: run() may be started from any thread; it runs on a strand of
/// the client's executor and completes on the handler's associated executor
/// (default: that strand), never inside the initiating call. It starts no
/// thread.
template <class Executor = boost::asio::any_io_executor>
class basic_lease_candidate : public lease_candidate_base {
public:
    /// The type of get_executor(): any_io_executor, or one that carries a
    /// default completion token (asio::as_default_on); it must be
    /// constructible from any_io_executor.
    using executor_type = Executor;

    /// The same type with another executor type (for asio::as_default_on).
    template <class OtherExecutor>
    struct rebind_executor {
        /// The type when rebound to OtherExecutor.
        using other = basic_lease_candidate<OtherExecutor>;
    };

    /// Throws config_error (error::config_invalid) for a bad lease name, an
    /// empty identity or an empty binary version; nothing is sent until run().
    basic_lease_candidate(client& api, candidate_config cfg)
        : lease_candidate_base(api, std::move(cfg)), executor_(strand()) {}
    /// Takes over one of another executor type (what asio::as_default_on
    /// does). A moved-from object reads as idle (nothing held, nobody
    /// seen); starting an operation on it throws std::logic_error.
    template <class OtherExecutor>
    basic_lease_candidate(basic_lease_candidate<OtherExecutor>&& other) noexcept
        : lease_candidate_base(static_cast<lease_candidate_base&&>(other)), executor_(strand()) {}

    /// Its strand: where it runs, and where handlers run by
    /// default. Operations called without a completion token use this
    /// executor's default (asio::default_completion_token; deferred if it
    /// names none).
    executor_type get_executor() const noexcept { return executor_; }

    /// Keeps the candidacy until cancelled (see above).
    /// Signature: void(error_code).
    /// Errors: operation_aborted when cancelled or the candidate destroyed
    /// (after the LeaseCandidate was deleted, if remove_on_exit); a permanent
    /// error of the server completes it at once, for reading, writing or
    /// watching the LeaseCandidate: error::not_found (the v1beta1
    /// LeaseCandidate API is not served), error::forbidden (a verb missing),
    /// error::invalid (e.g. a version that is not semver, or a LeaseCandidate
    /// of that name for another Lease: the reason is logged at error level);
    /// asio::error::already_started if
    /// another run() of this candidate is going on. Transient errors are
    /// retried every retry_period.
    /// Cancellation: terminal, partial, total: run() stops, deletes the
    /// LeaseCandidate it wrote (if remove_on_exit; best effort, bounded) and
    /// completes with operation_aborted.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code)) CompletionToken = detail::default_token_t<Executor>>
    auto run(CompletionToken&& token = detail::default_token_t<Executor>()) {
        return boost::asio::async_initiate<CompletionToken, void(error_code)>(
            [](auto h, detail::candidate_impl* impl) { start_run(impl, std::move(h)); }, token, impl_.get());
    }

private:
    Executor executor_;
};

/// For an any_io_executor, operations deferred by default.
using lease_candidate = basic_lease_candidate<>;

} // namespace leaselocker
