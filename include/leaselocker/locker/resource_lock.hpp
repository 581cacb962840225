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

class resource_lock {
public:
    using executor_type = boost::asio::any_io_executor;
    virtual ~resource_lock() = default;

    /// The current record (nullopt if the object does not exist) and the raw
    /// object as JSON. Errors as lease_client.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, std::optional<lock_record>, std::string)) CompletionToken = boost::asio::deferred_t>
    auto get(request_options opts, CompletionToken&& token = {}) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, std::optional<lock_record>, std::string)>(
            [this](auto h, request_options o) { do_get(o, std::move(h)); }, token, opts);
    }
    /// Creates the object holding `r` (error::already_exists if it exists).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code)) CompletionToken = boost::asio::deferred_t>
    auto create(lock_record r, request_options opts, CompletionToken&& token = {}) {
        return boost::asio::async_initiate<CompletionToken, void(error_code)>(
            [this](auto h, lock_record rec, request_options o) { do_create(std::move(rec), o, std::move(h)); }, token, std::move(r), opts);
    }
    /// Writes `r` over the version last read or written (error::conflict if
    /// the object changed since).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code)) CompletionToken = boost::asio::deferred_t>
    auto update(lock_record r, request_options opts, CompletionToken&& token = {}) {
        return boost::asio::async_initiate<CompletionToken, void(error_code)>(
            [this](auto h, lock_record rec, request_options o) { do_update(std::move(rec), o, std::move(h)); }, token, std::move(r), opts);
    }

    /// Waits for the next version of the object after the one last read,
    /// written or delivered (nullopt: deleted), pushed by the server. That
    /// version becomes the one update() writes over. Only where
    /// supports_watch(); otherwise completes with operation_not_supported.
    /// Cancellation: any type (the watch connection closes).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, std::optional<lock_record>)) CompletionToken = boost::asio::deferred_t>
    auto next_change(CompletionToken&& token = {}) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, std::optional<lock_record>)>(
            [this](auto h) { do_next_change(std::move(h)); }, token);
    }
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
    virtual std::string identity() const = 0;
    /// "namespace/name", for messages.
    virtual std::string describe() const = 0;
    /// The epoch of the stored object (a Lease's uid): with leaseTransitions
    /// it makes the fencing token. Empty before the first read.
    virtual std::string epoch() const = 0;
    virtual executor_type get_executor() const = 0;
    /// Whether the server has let this lock's client through with this kind
    /// of request before. A 401/403 after that is more likely a restarted
    /// server whose authorizer is not ready yet than missing rights, and
    /// lease_locker rides it out (lock_config::auth_grace). Default: never.
    virtual bool authorized_before(lock_request) const { return false; }

protected:
    virtual void do_get(request_options opts,
                        boost::asio::any_completion_handler<void(error_code, std::optional<lock_record>, std::string)> h) = 0;
    virtual void do_create(lock_record r, request_options opts, boost::asio::any_completion_handler<void(error_code)> h) = 0;
    virtual void do_update(lock_record r, request_options opts, boost::asio::any_completion_handler<void(error_code)> h) = 0;
    virtual void do_next_change(boost::asio::any_completion_handler<void(error_code, std::optional<lock_record>)> h);
};

struct lease_lock_options {
    /// Record Kubernetes Events (needs create on events in the namespace).
    bool record_events = false;
    /// Labels set on the Lease when this lock creates it (a Lease that
    /// already exists keeps its own).
    std::map<std::string, std::string> labels;
    logger log;
};

/// A lock stored in a coordination.k8s.io/v1 Lease. Keeps the newest version
/// it read, wrote or was delivered (never an older one after a newer), so
/// update() is one PUT guarded by its resourceVersion, and unknown fields,
/// labels and annotations survive.
/// next_change() follows the Lease on the process's shared watch of the
/// namespace (lease_watch_hub).
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
