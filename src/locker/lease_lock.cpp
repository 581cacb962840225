#include <leaselocker/locker/resource_lock.hpp>

#include <leaselocker/detail/continuation.hpp>
#include <leaselocker/lease/lease_watch_hub.hpp>

#include <boost/asio/append.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <mutex>

namespace leaselocker {

namespace asio = boost::asio;

lease_spec to_lease_spec(const lock_record& r) {
    lease_spec s;
    s.holder_identity = r.holder_identity;
    s.lease_duration_seconds = r.lease_duration_seconds;
    s.acquire_time = r.acquire_time;
    s.renew_time = r.renew_time;
    s.lease_transitions = r.lease_transitions;
    if (!r.strategy.empty()) s.strategy = r.strategy;
    if (!r.preferred_holder.empty()) s.preferred_holder = r.preferred_holder;
    return s;
}

lock_record to_lock_record(const lease_spec& s) {
    lock_record r;
    r.holder_identity = s.holder_identity.value_or("");
    r.lease_duration_seconds = s.lease_duration_seconds.value_or(0);
    r.acquire_time = s.acquire_time.value_or(micro_time{});
    r.renew_time = s.renew_time.value_or(micro_time{});
    r.lease_transitions = s.lease_transitions.value_or(0);
    r.strategy = s.strategy.value_or("");
    r.preferred_holder = s.preferred_holder.value_or("");
    return r;
}

lock_record to_lock_record(const lease& l) {
    auto r = to_lock_record(l.spec);
    auto it = l.metadata.annotations.find(queue_annotation);
    if (it == l.metadata.annotations.end()) return r;
    boost::system::error_code ec;
    auto v = boost::json::parse(it->second, ec);
    if (ec || !v.is_array()) return r;
    for (const auto& id : v.get_array())
        if (id.is_string() && !id.get_string().empty()) r.queue.emplace_back(id.get_string());
    return r;
}

void set_queue(object_meta& meta, const std::vector<std::string>& queue) {
    if (queue.empty()) {
        meta.annotations.erase(queue_annotation);
        return;
    }
    boost::json::array a;
    for (const auto& id : queue) a.emplace_back(id);
    meta.annotations[queue_annotation] = boost::json::serialize(a);
}

struct lease_lock::state {
    mutable std::mutex mutex;
    std::optional<lease> cached;
    // The process's shared watch of the namespace, and our place in it:
    // subscribed on next_change from the version cached then, dropped after
    // an error or a cancellation so the next call starts from the newest.
    std::shared_ptr<lease_watch_hub> hub;
    std::optional<lease_watch_hub::subscription> subscription;
    std::uint64_t subscriptions = 0; // a late completion drops only its own

    std::uint64_t changes = 0; // bumped whenever `cached` changes

    // What the cache's change count is when a request is sent.
    std::uint64_t mark() const {
        std::lock_guard lock(mutex);
        return changes;
    }
    // An answer to a request sent at `sent`: taken unless the cache changed
    // meanwhile to a newer version (a read answered after a newer watch
    // event, or the other way round, must not make the lock forget the
    // newer one). Nothing changed meanwhile: taken whatever its version
    // (etcd restored from a backup goes back; opaque versions compare to
    // nothing). `l` empty: the Lease was not found.
    void store(std::uint64_t sent, std::optional<lease> l) {
        std::lock_guard lock(mutex);
        if (changes != sent && cached) {
            if (!l) return; // an object arrived after the 404 was sent
            if (compare_resource_versions(cached->metadata.resource_version, l->metadata.resource_version) == 1) return;
        }
        cached = std::move(l);
        ++changes;
    }
    // A watch event; false if it is older than what is known (our own
    // write, or a read, overtook it). A deletion is stale when the cache
    // holds a newer version or another incarnation of the Lease.
    bool deliver(const watch_event& ev) {
        std::lock_guard lock(mutex);
        if (cached) {
            const auto& known = cached->metadata;
            const auto& got = ev.object.metadata;
            if (ev.type == watch_event_type::deleted) {
                if (!known.uid.empty() && !got.uid.empty() && known.uid != got.uid) return false;
                if (compare_resource_versions(known.resource_version, got.resource_version) == 1) return false;
            } else if (!newer_resource_version(got.resource_version, known.resource_version)) {
                return false;
            }
        } else if (ev.type == watch_event_type::deleted) {
            return true; // already known to be gone
        }
        if (ev.type == watch_event_type::deleted) cached.reset();
        else cached = ev.object;
        ++changes;
        return true;
    }
};

lease_lock::lease_lock(const lease_client& leases, std::string name, std::string identity, lease_lock_options opts)
    : leases_(leases), name_(std::move(name)), identity_(std::move(identity)), opts_(std::move(opts)), state_(std::make_shared<state>()) {}

std::optional<lease> lease_lock::cached() const {
    std::lock_guard lock(state_->mutex);
    return state_->cached;
}

std::optional<lock_record> lease_lock::current() const {
    std::lock_guard lock(state_->mutex);
    if (!state_->cached) return std::nullopt;
    return to_lock_record(*state_->cached);
}

std::optional<std::chrono::milliseconds> lease_lock::server_age() const {
    std::lock_guard lock(state_->mutex);
    const auto& l = state_->cached;
    if (!l || !l->served_at || !l->metadata.last_changed) return std::nullopt;
    // Both are whole seconds, truncated: the true age is more than their
    // difference less one second.
    const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(*l->served_at - *l->metadata.last_changed) - std::chrono::seconds(1);
    return std::max(age, std::chrono::milliseconds::zero());
}

std::string lease_lock::epoch() const {
    std::lock_guard lock(state_->mutex);
    return state_->cached ? state_->cached->metadata.uid : std::string();
}

bool lease_lock::authorized_before(lock_request kind) const {
    const auto& api = leases_.get_client();
    const auto leases = leases_.path();
    switch (kind) {
    case lock_request::read: return api.authorized_before(http_method::get, leases);
    case lock_request::write: return api.authorized_before(http_method::post, leases) || api.authorized_before(http_method::put, leases);
    case lock_request::watch: return api.authorized_before(http_method::get, leases, true);
    }
    return false;
}

void lease_lock::do_get(request_options opts,
                        asio::any_completion_handler<void(error_code, std::optional<lock_record>, std::string)> h) {
    leases_.get(name_, opts, detail::continuation(std::move(h), get_executor(), [s = state_, sent = state_->mark()](auto& h, error_code ec, lease l) {
        if (ec == error::not_found) {
            s->store(sent, std::nullopt);
            return std::move(h)(error_code{}, std::nullopt, std::string{});
        }
        if (ec) return std::move(h)(ec, std::nullopt, std::string{});
        s->store(sent, l);
        std::move(h)(ec, to_lock_record(l), l.raw);
    }));
}

void lease_lock::do_create(lock_record r, request_options opts, asio::any_completion_handler<void(error_code)> h) {
    lease l;
    l.metadata.name = name_;
    l.metadata.labels = opts_.labels;
    l.spec = to_lease_spec(r);
    set_queue(l.metadata, r.queue);
    leases_.create(std::move(l), opts, detail::continuation(std::move(h), get_executor(), [s = state_, sent = state_->mark()](auto& h, error_code ec, lease stored) {
        if (!ec) s->store(sent, std::move(stored));
        std::move(h)(ec);
    }));
}

void lease_lock::do_update(lock_record r, request_options opts, asio::any_completion_handler<void(error_code)> h) {
    const auto sent = state_->mark();
    auto current = cached();
    if (!current) { // nothing read yet: there is no version to write over
        return asio::post(get_executor(), asio::append(std::move(h), make_error_code(error::conflict)));
    }
    // A write that changes only the queue (joining it) leaves the spec as
    // it is, byte for byte: a field the record reads as a default (an
    // absent leaseDurationSeconds as 0) must not be written as one.
    auto held = r;
    held.queue = {};
    if (held != to_lock_record(current->spec)) current->spec = to_lease_spec(r);
    set_queue(current->metadata, r.queue);
    leases_.replace(std::move(*current), opts, detail::continuation(std::move(h), get_executor(), [s = state_, sent](auto& h, error_code ec, lease stored) {
        if (!ec) s->store(sent, std::move(stored));
        std::move(h)(ec);
    }));
}

void resource_lock::do_next_change(asio::any_completion_handler<void(error_code, std::optional<lock_record>)> h) {
    asio::post(get_executor(), asio::append(std::move(h), make_error_code(asio::error::operation_not_supported), std::optional<lock_record>{}));
}

void lease_lock::do_next_change(asio::any_completion_handler<void(error_code, std::optional<lock_record>)> h) {
    if (!state_->subscription) {
        if (!state_->hub) state_->hub = lease_watch_hub::shared(leases_);
        auto current = cached();
        state_->subscription = state_->hub->subscribe(name_, current ? current->metadata.resource_version : std::string());
        ++state_->subscriptions;
    }
    const auto mine = state_->subscriptions;
    state_->subscription->next(detail::continuation(std::move(h), get_executor(), [this, s = state_, mine](auto& h, error_code ec, watch_event ev) {
        if (ec) {
            if (s->subscriptions == mine) s->subscription.reset();
            return std::move(h)(ec, std::nullopt);
        }
        if (s->deliver(ev)) return std::move(h)(ec, ev.type == watch_event_type::deleted ? std::nullopt : std::optional(to_lock_record(ev.object)));
        // Stale: wait for the next one (subscribing reads the cache);
        // unless watching stopped meanwhile: then this wait is over.
        if (!s->subscription || s->subscriptions != mine) return std::move(h)(make_error_code(asio::error::operation_aborted), std::nullopt);
        do_next_change(std::move(h));
    }));
}

void lease_lock::stop_watching() {
    state_->subscription.reset();
}

void lease_lock::record_event(std::string_view message) {
    if (!opts_.record_events) return;
    auto l = cached();
    namespace json = boost::json;
    const auto now = format_micro_time(std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now()));
    const auto seconds_now = now.substr(0, 19) + "Z"; // Event timestamps are whole seconds
    json::object involved{{"apiVersion", "coordination.k8s.io/v1"}, {"kind", "Lease"}, {"name", name_},
                          {"namespace", leases_.namespace_name()}};
    if (l) involved["uid"] = l->metadata.uid;
    json::object event{{"apiVersion", "v1"},
                       {"kind", "Event"},
                       {"metadata", json::object{{"generateName", name_ + "."}}},
                       {"involvedObject", std::move(involved)},
                       {"reason", "LeaderElection"},
                       {"message", std::string(message)},
                       {"type", "Normal"},
                       {"source", json::object{{"component", identity_}}},
                       {"firstTimestamp", seconds_now},
                       {"lastTimestamp", seconds_now},
                       {"count", 1}};
    http_request req{.method = http_method::post, .target = "/api/v1/namespaces/" + leases_.namespace_name() + "/events",
                     .body = json::serialize(event)};
    leases_.get_client().request(std::move(req), [log = opts_.log, what = std::string(message)](error_code ec, http_response resp) {
        if (ec || resp.status >= 300)
            log(log_level::warning, [&] {
                return "recording event \"" + what + "\" failed: " + (ec ? ec.message() : "HTTP " + std::to_string(resp.status));
            });
    });
}

} // namespace leaselocker
