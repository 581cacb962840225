/// @file
/// A watch on one Lease: its changes as they happen, across reconnects.
#pragma once

#include <leaselocker/lease/lease_client.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace leaselocker {

namespace detail {
class lease_watch_impl;
}

/// What happened to a Lease: the watch's ADDED, MODIFIED and DELETED.
enum class watch_event_type { added, modified, deleted };

/// One change of a Lease, as lease_watch and lease_watch_hub deliver it.
struct watch_event {
    watch_event_type type = watch_event_type::modified; ///< created, changed, or deleted
    lease object; ///< for deleted: the last state (or just the name after a re-list)
    /// Read again after 410 Gone: versions between the last one delivered
    /// and this one were not seen.
    bool relisted = false;
};

/// Timing of a lease_watch (and of lease_watch_hub's shared watch).
struct lease_watch_options {
    /// Asked of the server per watch request; it ends the watch then, and the
    /// watch is opened again from the last resourceVersion.
    std::chrono::seconds server_timeout{300};
    /// No byte for this long (bookmarks arrive about every minute): the
    /// connection is presumed dead and the watch re-opened.
    std::chrono::seconds idle_timeout{90};
    /// Deadline for opening each watch request.
    std::chrono::milliseconds open_timeout{std::chrono::seconds(10)};
};

/// Watches `metadata.name=<name>` in the lease_client's namespace (every Lease
/// there if `name` is empty), with bookmarks. When the server ends the watch, it is re-opened from the last
/// resourceVersion seen (events and bookmarks). When that version is too old
/// (410 Gone) the object is read again with a GET and delivered as
/// `modified` (or `deleted` if it no longer exists), and watching resumes
/// from there. The first event of a watch started without a resourceVersion
/// is the object's current state (`added`), if it exists. A watch on the
/// whole namespace completes with error::gone instead of re-listing (and
/// starts from the newest version on the next call).
///
/// One next() at a time. Cancellation of next(): any type; the watch
/// connection is closed and the next call opens a new one.
///
/// Threads: next() runs on a strand of the lease_client's executor and
/// completes on the handler's associated executor (default: that strand),
/// never inside the initiating call, holding work there until then.
/// resource_version() and cancel() may be called from any thread.
class lease_watch {
public:
    /// Watches Lease `name` (empty: every Lease of the namespace) from
    /// `resource_version` (empty: the current state first). Nothing is sent
    /// until next(). Keeps a reference to `leases`: it must outlive the
    /// watch and any pending next().
    lease_watch(lease_client& leases, std::string name, std::string resource_version = {}, lease_watch_options opts = {});
    /// As cancel().
    ~lease_watch();
    lease_watch(const lease_watch&) = delete;
    lease_watch& operator=(const lease_watch&) = delete;

    /// The next change. Signature: void(error_code, watch_event). Errors:
    /// permanent ones (forbidden, ...) from the server; transport errors only
    /// when re-opening fails (or on the fourth failed read in a row);
    /// error::gone for a watch on the whole namespace whose version is too
    /// old; error::malformed_response for an event that cannot be read;
    /// operation_aborted when cancelled or after cancel(). The overload
    /// taking `diagnostics&` also returns the server's message apart from
    /// ours (it must outlive the operation; cleared on success).
    /// Cancellation: terminal, partial, total: completes with
    /// operation_aborted and closes the watch connection; the next call
    /// opens a new one from resource_version().
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, watch_event)) CompletionToken = boost::asio::deferred_t>
    auto next(CompletionToken&& token = {}) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, watch_event)>(
            [](auto handler, detail::lease_watch_impl* impl) { start_next(impl, nullptr, std::move(handler)); }, token, impl_.get());
    }
    /// As above; also fills `diag` (see diagnostics).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, watch_event)) CompletionToken = boost::asio::deferred_t>
    auto next(diagnostics& diag, CompletionToken&& token = {}) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, watch_event)>(
            [](auto handler, detail::lease_watch_impl* impl, diagnostics* d) { start_next(impl, d, std::move(handler)); }, token,
            impl_.get(), &diag);
    }

    /// The resourceVersion the watch continues from.
    std::string resource_version() const;
    /// Closes the watch connection; a pending next() completes with operation_aborted.
    void cancel();

private:
    static void start_next(detail::lease_watch_impl* impl, diagnostics* diag,
                           boost::asio::any_completion_handler<void(error_code, watch_event)> h);
    std::shared_ptr<detail::lease_watch_impl> impl_;
};

} // namespace leaselocker
