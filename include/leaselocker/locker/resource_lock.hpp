/// @file
/// The resource-lock interface (the seed's Interface): what lease_locker
/// needs of the object that stores the lock, and its Lease implementation.
#pragma once

#include <leaselocker/core/lock_record.hpp>
#include <leaselocker/lease/lease_client.hpp>
#include <leaselocker/lease/lease_watch.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace leaselocker {

/// lock_record <-> Lease spec (an empty strategy or preferred holder: the
/// field absent).
lease_spec to_lease_spec(const lock_record& r);
/// The record in a Lease spec (absent fields: empty or zero); the queue is
/// left empty, as it lives in an annotation (see the overload taking a lease).
lock_record to_lock_record(const lease_spec& spec);
/// The annotation that keeps the queue of fair turns: a JSON array of
/// identities, longest-waiting first (absent: nobody queued).
inline constexpr const char* queue_annotation = "leaselocker.io/queue";
/// The whole record of a Lease: its spec and the queue (a malformed
/// annotation reads as an empty queue).
lock_record to_lock_record(const lease& l);
/// Sets (or, for an empty queue, removes) the queue annotation.
void set_queue(object_meta& meta, const std::vector<std::string>& queue);

/// The kinds of request a resource lock makes of its server, as its
/// permissions come: reading, writing (create or update), watching. Create
/// and update count as one: a lock that created its object has not updated
/// it yet when its first renewal meets a restarting server (a role with
/// create but no update is found only after auth_grace).
enum class lock_request { read, write, watch };

/// What lease_locker needs of the object that stores a lock: reads, writes
/// guarded by the version last seen, and (optionally) changes pushed by the
/// server. lease_lock stores it in a Lease; another store implements the
/// do_ functions (do_next_change with supports_watch() and stop_watching()).
///
/// Errors and cancellation below are lease_lock's; another implementation
/// should keep to them.
///
/// Threads: lease_locker calls every member on its strand (made on
/// get_executor()). Operations complete on the handler's associated
/// executor (lease_lock's default: the client's executor), never inside the
/// initiating call.
class resource_lock {
public:
    /// The type of get_executor().
    using executor_type = boost::asio::any_io_executor;
    virtual ~resource_lock() = default;

    /// The current record (nullopt if the object does not exist) and the raw
    /// object as JSON. Signature: void(error_code, std::optional<lock_record>,
    /// std::string raw). Errors as lease_client::get, but a missing object
    /// is no error. Cancellation: any type aborts the request
    /// (operation_aborted).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, std::optional<lock_record>, std::string)) CompletionToken = boost::asio::deferred_t>
    auto get(request_options opts, CompletionToken&& token = {}) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, std::optional<lock_record>, std::string)>(
            [this](auto h, request_options o) { do_get(o, std::move(h)); }, token, opts);
    }
    /// Creates the object holding `r`. Signature: void(error_code).
    /// Errors: error::already_exists if it exists; otherwise as
    /// lease_client::create. Cancellation: any type aborts the request
    /// (operation_aborted; the object may have been created all the same).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code)) CompletionToken = boost::asio::deferred_t>
    auto create(lock_record r, request_options opts, CompletionToken&& token = {}) {
        return boost::asio::async_initiate<CompletionToken, void(error_code)>(
            [this](auto h, lock_record rec, request_options o) { do_create(std::move(rec), o, std::move(h)); }, token, std::move(r), opts);
    }
    /// Writes `r` over the version last read or written (error::conflict if
    /// the object changed since). Signature: void(error_code).
    /// Errors: error::conflict as said, and (lease_lock) when nothing was
    /// read yet; otherwise as lease_client::replace. Cancellation: any type
    /// aborts the request (operation_aborted; the write may have been made
    /// all the same).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code)) CompletionToken = boost::asio::deferred_t>
    auto update(lock_record r, request_options opts, CompletionToken&& token = {}) {
        return boost::asio::async_initiate<CompletionToken, void(error_code)>(
            [this](auto h, lock_record rec, request_options o) { do_update(std::move(rec), o, std::move(h)); }, token, std::move(r), opts);
    }

    /// Waits for the next version of the object after the one last read,
    /// written or delivered (nullopt: deleted), pushed by the server. That
    /// version becomes the one update() writes over. Only where
    /// supports_watch(); otherwise completes with operation_not_supported.
    /// Signature: void(error_code, std::optional<lock_record>).
    /// Errors: asio::error::operation_not_supported as said; lease_lock:
    /// those of lease_watch_hub::subscription::next, and operation_aborted
    /// when cancelled or after stop_watching().
    /// Cancellation: any type: completes with operation_aborted; lease_lock
    /// then stops following, as stop_watching() does (closing the shared
    /// watch if nobody else follows the namespace).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, std::optional<lock_record>)) CompletionToken = boost::asio::deferred_t>
    auto next_change(CompletionToken&& token = {}) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, std::optional<lock_record>)>(
            [this](auto h) { do_next_change(std::move(h)); }, token);
    }
    /// Whether next_change() works (default: false; lease_lock: true).
    virtual bool supports_watch() const { return false; }
    /// Stops following changes (a pending next_change completes with
    /// operation_aborted); the next next_change starts again from the
    /// version known then. Without it a shared watch would stay open.
    virtual void stop_watching() {}

    /// Records an event about the lock ("<identity> became leader"); best
    /// effort, never blocks, never fails the caller.
    virtual void record_event(std::string_view message) = 0;
    /// The record of the version update() writes over: the newest of what
    /// get, create, update and next_change brought (nullopt: the object does
    /// not exist). lease_locker decides every write on it, so that a write
    /// is never compared against a version it did not judge (a read and a
    /// watch event crossing would otherwise let a grant land on somebody
    /// else's newer one). Called on the locker's strand.
    virtual std::optional<lock_record> current() const = 0;
    /// A lower bound on how long before the server sent current() it had
    /// last changed, on the server's clock (lock_config::first_sight_margin
    /// uses it). nullopt when not known (the default; a version from a
    /// watch).
    virtual std::optional<std::chrono::milliseconds> server_age() const { return std::nullopt; }
    /// The identity this lock writes as holder (the locker's identity).
    virtual std::string identity() const = 0;
    /// "namespace/name", for messages.
    virtual std::string describe() const = 0;
    /// The epoch of the stored object (a Lease's uid): with leaseTransitions
    /// it makes the fencing token. Empty before the first read.
    virtual std::string epoch() const = 0;
    /// The executor the lock's requests run on; lease_locker makes its
    /// strand on it.
    virtual executor_type get_executor() const = 0;
    /// Whether the server has let this lock's client through with this kind
    /// of request before. A 401/403 after that is more likely a restarted
    /// server whose authorizer is not ready yet than missing rights, and
    /// lease_locker rides it out (lock_config::auth_grace). Default: never.
    virtual bool authorized_before(lock_request) const { return false; }

protected:
    /// Implements get(): reads the object, keeps that version for update(),
    /// and completes `h` as get() says (never inside this call).
    virtual void do_get(request_options opts,
                        boost::asio::any_completion_handler<void(error_code, std::optional<lock_record>, std::string)> h) = 0;
    /// Implements create(); the version created is kept for update().
    virtual void do_create(lock_record r, request_options opts, boost::asio::any_completion_handler<void(error_code)> h) = 0;
    /// Implements update(); the version written is kept for the next one.
    virtual void do_update(lock_record r, request_options opts, boost::asio::any_completion_handler<void(error_code)> h) = 0;
    /// Implements next_change(); the default completes with
    /// asio::error::operation_not_supported (posted to get_executor()).
    virtual void do_next_change(boost::asio::any_completion_handler<void(error_code, std::optional<lock_record>)> h);
};

/// Options of a lease_lock (lease_locker fills them in from lock_config).
struct lease_lock_options {
    /// Record Kubernetes Events (needs create on events in the namespace).
    bool record_events = false;
    /// Labels set on the Lease when this lock creates it (a Lease that
    /// already exists keeps its own).
    std::map<std::string, std::string> labels;
    /// Where a failure to record an event is logged (warning).
    logger log;
};

/// A lock stored in a coordination.k8s.io/v1 Lease. Keeps the newest version
/// it read, wrote or was delivered (never an older one after a newer), so
/// update() is one PUT guarded by its resourceVersion, and unknown fields,
/// labels and annotations survive.
/// next_change() follows the Lease on the process's shared watch of the
/// namespace (lease_watch_hub).
///
/// Threads: next_change() and stop_watching() must not run at the same
/// time (lease_locker calls them on its strand); every other member may be
/// called from any thread.
class lease_lock final : public resource_lock {
public:
    /// Keeps a copy of `leases` (a client reference and a namespace).
    lease_lock(const lease_client& leases, std::string name, std::string identity, lease_lock_options opts = {});

    void record_event(std::string_view message) override;
    std::optional<lock_record> current() const override;
    /// The answer's Date minus the Lease's metadata.managedFields time, less
    /// 1 s for their whole seconds; nullopt for a version from the watch.
    std::optional<std::chrono::milliseconds> server_age() const override;
    std::string identity() const override { return identity_; }
    std::string describe() const override { return leases_.namespace_name() + "/" + name_; }
    std::string epoch() const override;
    executor_type get_executor() const override { return leases_.get_executor(); }
    /// From the client: a GET (read), a POST or PUT (write), a watch stream,
    /// on Leases in this namespace.
    bool authorized_before(lock_request kind) const override;

    /// The Lease's name (in the namespace of the lease_client given).
    const std::string& name() const noexcept { return name_; }
    /// The Lease as last read or written.
    std::optional<lease> cached() const;

private:
    void do_get(request_options opts, boost::asio::any_completion_handler<void(error_code, std::optional<lock_record>, std::string)> h) override;
    void do_create(lock_record r, request_options opts, boost::asio::any_completion_handler<void(error_code)> h) override;
    void do_update(lock_record r, request_options opts, boost::asio::any_completion_handler<void(error_code)> h) override;
    void do_next_change(boost::asio::any_completion_handler<void(error_code, std::optional<lock_record>)> h) override;
    bool supports_watch() const override { return true; }
    void stop_watching() override;

    struct state;
    lease_client leases_;
    std::string name_;
    std::string identity_;
    lease_lock_options opts_;
    std::shared_ptr<state> state_;
};

} // namespace leaselocker
