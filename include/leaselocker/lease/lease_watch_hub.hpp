/// @file
/// One watch shared by everyone in the process who follows Leases of one
/// namespace through one client: a thousand lockers hold one connection,
/// not a thousand.
#pragma once

#include <leaselocker/lease/lease_watch.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace leaselocker {

namespace detail {
class watch_hub_impl;
}

/// While one Lease name is followed, the hub watches that name alone (a
/// field selector, so a busy namespace costs nothing); from two names on, it
/// watches the namespace and hands each event to the subscribers of its
/// name (and keeps doing so until nobody follows anything: a second locker
/// that comes and goes must not reopen the watch each time). Switching
/// continues from the last resourceVersion seen.
///
/// A subscriber names the version it already knows and is handed every newer
/// version of its Lease, never an older one (resourceVersions compared as
/// integers, as Kubernetes 1.35 defines them: KEP-5504). Where the shared watch cannot vouch
/// for the time between that version and now (it started later, or it saw
/// a change of that name before the subscriber came), the hub reads the
/// Lease once instead. Versions not yet taken are coalesced: next() yields
/// the newest.
///
/// Threads: shared(), subscribe() and watches_started() may be called from
/// any thread; the hub keeps its state on a strand of the client's executor
/// and starts no thread. A subscription's next() completes on the handler's
/// associated executor (default: that strand), never inside the initiating
/// call. Subscriptions keep what they need of the hub alive; destroying the
/// hub ends them all.
class lease_watch_hub {
public:
    /// The hub of `leases`' client and namespace: one per pair, shared while
    /// anyone holds it.
    static std::shared_ptr<lease_watch_hub> shared(const lease_client& leases, lease_watch_options opts = {});

    /// A hub of its own, not shared (shared() is the usual way); keeps a
    /// copy of `leases`. Nothing is sent until someone subscribes.
    explicit lease_watch_hub(const lease_client& leases, lease_watch_options opts = {});
    /// Ends every subscription (a waiting next() completes with
    /// operation_aborted, and so does every later one) and closes the watch;
    /// never blocks.
    ~lease_watch_hub();
    lease_watch_hub(const lease_watch_hub&) = delete;
    lease_watch_hub& operator=(const lease_watch_hub&) = delete;

    /// One follower's place in the hub: one Lease name, and the newest
    /// version of it handed over. Move-only; destroying it (or assigning
    /// over it) unsubscribes, and a next() waiting then completes with
    /// operation_aborted.
    class subscription {
    public:
        /// Empty: follows nothing (next() throws std::logic_error).
        subscription() = default;
        /// Takes over the place of the other, which is left empty.
        subscription(subscription&&) noexcept = default;
        /// Unsubscribes this one, then takes over the place of the other,
        /// which is left empty.
        subscription& operator=(subscription&&) noexcept;
        ~subscription(); ///< unsubscribes

        /// The next version of the Lease newer than the last one known (a
        /// `deleted` event if it went away). Signature: void(error_code,
        /// watch_event). Errors: those of the shared watch, delivered to
        /// every subscriber, or of the one read the hub makes for this
        /// subscriber (as lease_client::get), after which this subscription
        /// only reports that error (subscribe again); std::logic_error,
        /// thrown by the initiating call, on an empty subscription. The
        /// overload taking `diagnostics&` also returns the server's message
        /// (it must outlive the operation; cleared on success). One next() at a time (a second completes
        /// with asio::error::already_started). Cancellation: any type;
        /// completes with operation_aborted and the subscription stays; so
        /// does a next() waiting when the subscription ends. The handler
        /// holds work on its executor while it waits; any thread.
        template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, watch_event)) CompletionToken = boost::asio::deferred_t>
        auto next(CompletionToken&& token = {}) {
            return boost::asio::async_initiate<CompletionToken, void(error_code, watch_event)>(
                [](auto handler, detail::watch_hub_impl* hub, std::uint64_t id) { start_next(hub, id, nullptr, std::move(handler)); },
                token, hub_.get(), id_);
        }
        /// As above; also fills `diag` (see diagnostics).
        template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, watch_event)) CompletionToken = boost::asio::deferred_t>
        auto next(diagnostics& diag, CompletionToken&& token = {}) {
            return boost::asio::async_initiate<CompletionToken, void(error_code, watch_event)>(
                [](auto handler, detail::watch_hub_impl* hub, std::uint64_t id, diagnostics* d) {
                    start_next(hub, id, d, std::move(handler));
                },
                token, hub_.get(), id_, &diag);
        }

    private:
        friend class lease_watch_hub;
        subscription(std::shared_ptr<detail::watch_hub_impl> hub, std::uint64_t id) : hub_(std::move(hub)), id_(id) {}
        static void start_next(detail::watch_hub_impl* hub, std::uint64_t id, diagnostics* diag,
                               boost::asio::any_completion_handler<void(error_code, watch_event)> h);
        void reset();
        std::shared_ptr<detail::watch_hub_impl> hub_;
        std::uint64_t id_ = 0;
    };

    /// Follows `name` from `resource_version` (empty: knows no version).
    subscription subscribe(std::string name, std::string resource_version);

    /// Watch requests the hub has started (a switch of selector starts one);
    /// for tests and metrics.
    std::size_t watches_started() const;

private:
    std::shared_ptr<detail::watch_hub_impl> impl_;
};

} // namespace leaselocker
