/// @file
/// Layer 6: lease_observer, who holds a Lease and each change, without
/// competing for it.
#pragma once

#include <leaselocker/detail/default_token.hpp>

#include <leaselocker/lease/micro_time.hpp>
#include <leaselocker/locker/lease_locker.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace leaselocker {

namespace detail {
class observer_impl;
}

/// A Lease as far as who leads goes.
struct leader_info {
    bool exists = false;                 ///< false: no such Lease (yet, or deleted)
    std::string holder;                  ///< empty: nobody holds it (released, or no Lease)
    std::int32_t lease_transitions = 0;  ///< a new term (grant) adds one
    std::string epoch;                   ///< the Lease's uid
    std::int32_t lease_duration_seconds = 0; ///< the Lease's leaseDurationSeconds (0: absent)
    std::optional<micro_time> acquire_time;  ///< the Lease's acquireTime
    std::optional<micro_time> renew_time;    ///< the Lease's renewTime (moves with every renewal)
    std::string resource_version;            ///< the version this was read from

    /// The same holder in the same term of the same Lease: a renewal is no change.
    bool same_term(const leader_info& o) const {
        return exists == o.exists && holder == o.holder && lease_transitions == o.lease_transitions && epoch == o.epoch;
    }
};

/// How a lease_observer behaves.
struct observer_config {
    /// After the shared watch failed (transiently), wait this long before
    /// following it again.
    std::chrono::milliseconds retry_period{std::chrono::seconds(2)};
};

/// The part of a lease_observer that does not depend on its executor type (see
/// basic_lease_observer).
class lease_observer_base {
public:
    /// Cancels a pending next_change (operation_aborted); never blocks.
    ~lease_observer_base();
    lease_observer_base(const lease_observer_base&) = delete;
    lease_observer_base& operator=(const lease_observer_base&) = delete;
    lease_observer_base& operator=(lease_observer_base&&) = delete;

    /// The newest state seen (reported or not); nullopt before the first
    /// read. Any thread.
    std::optional<leader_info> current() const;

protected:
    /// @cond INTERNAL
    lease_observer_base(client& api, lease_name name, observer_config cfg);
    /// Takes the other's over; the other may then only be destroyed.
    lease_observer_base(lease_observer_base&&) noexcept = default;
    /// The strand everything runs on.
    boost::asio::any_io_executor strand() const noexcept;

    static void start_next_change(detail::observer_impl* impl, boost::asio::any_completion_handler<void(error_code, leader_info)> h);
    std::shared_ptr<detail::observer_impl> impl_;
    /// @endcond
};

/// Who holds a Lease, and each change of holder or term, without competing
/// for it.
///
/// @code
///   leaselocker::lease_observer observer{api, {"billing", "scheduler"}};
///   for (;;) {
///       auto leader = co_await observer.next_change(asio::use_awaitable);
///       std::cout << (leader.holder.empty() ? "nobody" : leader.holder) << " leads\n";
///   }
/// @endcode
///
/// Costs: at most two reads when it starts, then nothing but the process's
/// shared watch on the namespace (lease_watch_hub: one connection for every
/// locker and observer of a client and namespace); zero requests while
/// nothing changes.
///
/// Threads: next_change may be started from any thread; it runs on a strand
/// of the client's executor and completes on the handler's associated
/// executor (default: that strand), never inside the initiating call,
/// holding work there while it waits. current() may be called from any
/// thread. The observer starts no thread.
template <class Executor = boost::asio::any_io_executor>
class basic_lease_observer : public lease_observer_base {
public:
    /// The type of get_executor(): any_io_executor, or one that carries a
    /// default completion token (asio::as_default_on); it must be
    /// constructible from any_io_executor.
    using executor_type = Executor;

    /// The same type with another executor type (for asio::as_default_on).
    template <class OtherExecutor>
    struct rebind_executor {
        /// The type when rebound to OtherExecutor.
        using other = basic_lease_observer<OtherExecutor>;
    };

    /// Throws config_error for a bad name; nothing is sent until next_change.
    basic_lease_observer(client& api, lease_name name, observer_config cfg = {})
        : lease_observer_base(api, std::move(name), std::move(cfg)), executor_(strand()) {}
    /// Takes over one of another executor type (what asio::as_default_on
    /// does). A moved-from object reads as idle (nothing held, nobody
    /// seen); starting an operation on it throws std::logic_error.
    template <class OtherExecutor>
    basic_lease_observer(basic_lease_observer<OtherExecutor>&& other) noexcept
        : lease_observer_base(static_cast<lease_observer_base&&>(other)), executor_(strand()) {}

    /// Its strand: where it runs, and where handlers run by
    /// default. Operations called without a completion token use this
    /// executor's default (asio::default_completion_token; deferred if it
    /// names none).
    executor_type get_executor() const noexcept { return executor_; }

    /// Completes with the Lease as soon as its holder or term differs from
    /// what this observer reported last (the first call: at once, with the
    /// state after one read). A change is another holder (or none), a new
    /// term (leaseTransitions), or the Lease created or deleted; renewals are
    /// not. Changes that come and go between two calls are coalesced: the
    /// newest state is reported, and only if it differs.
    /// Signature: void(error_code, leader_info).
    /// Errors: permanent ones of the read or the watch (error::forbidden,
    /// error::unauthorized, ...) complete it and the next call starts over;
    /// transient ones (connection loss, 5xx, timeouts) are ridden out,
    /// following the watch again after retry_period. asio::error::
    /// already_started if another next_change of this observer is pending;
    /// operation_aborted when cancelled or the observer is destroyed.
    /// Cancellation: terminal, partial, total: completes with
    /// operation_aborted and loses nothing (the next call reports the change).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, leader_info)) CompletionToken = detail::default_token_t<Executor>>
    auto next_change(CompletionToken&& token = detail::default_token_t<Executor>()) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, leader_info)>(
            [](auto h, detail::observer_impl* impl) { start_next_change(impl, std::move(h)); }, token, impl_.get());
    }

private:
    Executor executor_;
};

/// For an any_io_executor, operations deferred by default.
using lease_observer = basic_lease_observer<>;

/// The leader_info of a Lease as read (exists = true).
leader_info to_leader_info(const lease& l);

} // namespace leaselocker
