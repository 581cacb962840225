#include <leaselocker/lease/lease_watch_hub.hpp>

#include "../detail/spawn.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <unordered_map>

namespace leaselocker {
namespace detail {

namespace asio = boost::asio;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);


class watch_hub_impl : public std::enable_shared_from_this<watch_hub_impl> {
public:
    using handler = asio::any_completion_handler<void(error_code, watch_event)>;
    // The handler's executor, holding work there from next() until the
    // handler has run.
    using handler_work = asio::any_completion_executor;
    // A next() on its way: its handler, and where the caller wants the
    // diagnostics (null: nowhere).
    struct waiter {
        handler h;
        handler_work work;
        diagnostics* diag = nullptr;
    };

    watch_hub_impl(const lease_client& leases, lease_watch_options opts)
        : leases_(leases), opts_(opts), strand_(asio::make_strand(leases.get_executor())) {}

    std::uint64_t add(std::string name, std::string rv) {
        const auto id = next_id_.fetch_add(1) + 1;
        asio::dispatch(strand_, [self = shared_from_this(), id, name = std::move(name), rv = std::move(rv)]() mutable {
            self->on_add(id, std::move(name), std::move(rv));
        });
        return id;
    }

    void remove(std::uint64_t id) {
        asio::dispatch(strand_, [self = shared_from_this(), id] {
            self->unfollow(id);
            auto it = self->subs_.find(id);
            if (it == self->subs_.end()) return;
            if (it->second.waiting) self->complete(it->second, make_error_code(asio::error::operation_aborted), {});
            self->subs_.erase(it);
            self->reconcile();
        });
    }

    // Posted, so the handler never runs inside the initiating call. The
    // handler waits in its subscriber: no coroutine, timer or frame per
    // waiting follower (a thousand lockers keep a thousand of these).
    // Its cancellation slot is touched only where the caller runs: here,
    // and where the handler is invoked (deliver_to).
    void start_next(std::uint64_t id, diagnostics* diag, handler h) {
        const auto ticket = next_ticket_.fetch_add(1) + 1;
        handler_work work = tracked_executor(h, strand_);
        auto slot = asio::get_associated_cancellation_slot(h);
        if (slot.is_connected())
            slot.assign([weak = weak_from_this(), strand = strand_, id, ticket](asio::cancellation_type) {
                // Any type: nothing has been taken from the subscriber yet.
                asio::dispatch(strand, [weak, id, ticket] {
                    if (auto self = weak.lock()) self->cancel(id, ticket);
                });
            });
        asio::post(strand_, [self = shared_from_this(), id, ticket, w = waiter{std::move(h), std::move(work), diag}]() mutable {
            self->on_next(id, ticket, std::move(w));
        });
    }

    std::size_t watches_started() const { return watches_started_.load(); }

    // Stops the stream when the last handle goes: the pump holds only the
    // watch, never the hub.
    void shutdown() {
        asio::dispatch(strand_, [self = shared_from_this()] {
            for (auto& [id, s] : self->subs_)
                if (s.waiting) self->complete(s, make_error_code(asio::error::operation_aborted), {});
            self->subs_.clear();
            self->followers_.clear();
            self->reconcile();
        });
    }

private:
    struct subscriber {
        std::string name;
        std::string known; // newest version handed over (or the caller's); empty: none
        std::unique_ptr<watch_event> pending; // by pointer: seldom set, and every held lease has a subscriber
        error_code failed;
        handler waiting;                 // set while next() waits
        handler_work work;               // and its executor, held busy
        diagnostics* diag = nullptr;     // and where it wants diagnostics
        std::shared_ptr<const diagnostics> failure; // what `failed` came with
        std::uint64_t wait = 0;          // the ticket of the next() that waits: a late cancellation is for an earlier one
        std::uint64_t cancelled = 0;     // a next() cancelled before it arrived
    };

    // --- subscribers (on the strand) ---------------------------------------

    void on_add(std::uint64_t id, std::string name, std::string rv) {
        auto& s = subs_[id];
        followers_[name].push_back(id);
        s.name = std::move(name);
        s.known = std::move(rv);
        const bool started_here = reconcile(s.known);
        if (started_here || covers(s)) return;
        asio::co_spawn(strand_, catch_up(shared_from_this(), id), asio::detached);
    }

    // Whether the stream delivers every change of s.name after s.known.
    bool covers(const subscriber& s) const {
        auto from = compare_resource_versions(s.known, start_);
        if (!watch_ || !from || *from < 0) return false;
        auto seen = seen_.find(s.name);
        return seen == seen_.end() || !newer_resource_version(seen->second, s.known);
    }

    // Reads the Lease once: what the stream could not vouch for.
    static asio::awaitable<void> catch_up(std::shared_ptr<watch_hub_impl> self, std::uint64_t id) {
        auto found = self->subs_.find(id);
        if (found == self->subs_.end()) co_return;
        auto name = found->second.name;
        auto failure = std::make_shared<diagnostics>();
        const request_options opts{.timeout = self->opts_.open_timeout, .diag = failure.get()};
        auto [ec, l] = co_await self->leases_.get(name, opts, use_tuple);
        auto it = self->subs_.find(id);
        if (it == self->subs_.end()) co_return;
        if (ec == error::not_found) {
            if (it->second.known.empty()) co_return; // it never existed for the subscriber
            watch_event ev{watch_event_type::deleted, {}};
            ev.object.metadata.name = name;
            it->second.known.clear();
            self->hand_over(it->second, std::move(ev));
        } else if (ec) {
            self->unfollow(id);
            self->fail(it->second, ec, std::move(failure));
            self->reconcile();
        } else {
            self->offer(it->second, watch_event{watch_event_type::modified, std::move(l)});
        }
    }

    // Hands `ev` to the subscriber if it is newer than what it knows.
    void offer(subscriber& s, watch_event ev) {
        const auto& v = ev.object.metadata.resource_version;
        if (!newer_resource_version(v, s.known)) return;
        s.known = v;
        hand_over(s, std::move(ev));
    }

    void hand_over(subscriber& s, watch_event ev) {
        if (s.waiting) return complete(s, error_code{}, std::move(ev));
        s.pending = std::make_unique<watch_event>(std::move(ev));
    }

    void unfollow(std::uint64_t id) {
        auto it = subs_.find(id);
        if (it == subs_.end()) return;
        auto f = followers_.find(it->second.name);
        if (f == followers_.end()) return; // failed: no longer followed
        std::erase(f->second, id);
        if (f->second.empty()) followers_.erase(f);
    }

    void fail(subscriber& s, error_code ec, std::shared_ptr<const diagnostics> failure) {
        s.failed = ec;
        s.failure = std::move(failure);
        s.pending.reset();
        if (s.waiting) complete(s, ec, {});
    }

    // A waiting handler holds work on its own executor (which may be
    // another io_context than the client's) until it has run.
    void on_next(std::uint64_t id, std::uint64_t ticket, waiter w) {
        auto deliver_now = [&](error_code ec, watch_event ev = {}, std::shared_ptr<const diagnostics> failure = {}) {
            deliver_to(std::move(w), ec, std::move(ev), std::move(failure));
        };
        auto it = subs_.find(id);
        if (it == subs_.end()) return deliver_now(asio::error::operation_aborted);
        auto& s = it->second;
        if (s.waiting) return deliver_now(asio::error::already_started); // one at a time
        if (s.failed) return deliver_now(s.failed, {}, s.failure);
        if (s.pending) {
            auto ev = std::move(*s.pending);
            s.pending.reset();
            return deliver_now(error_code{}, std::move(ev));
        }
        if (s.cancelled == ticket) return deliver_now(asio::error::operation_aborted);
        s.wait = ticket;
        s.waiting.swap(w.h); // not operator=: Boost 1.81's move assignment copies itself into endless recursion
        s.work = std::move(w.work);
        s.diag = w.diag;
    }

    void cancel(std::uint64_t id, std::uint64_t ticket) {
        auto it = subs_.find(id);
        if (it == subs_.end()) return;
        auto& s = it->second;
        if (s.waiting && s.wait == ticket) return complete(s, make_error_code(asio::error::operation_aborted), {});
        s.cancelled = ticket; // before its next() arrived here: it ends at once
    }

    void complete(subscriber& s, error_code ec, watch_event ev) {
        waiter w{{}, std::exchange(s.work, {}), std::exchange(s.diag, nullptr)};
        w.h.swap(s.waiting);
        deliver_to(std::move(w), ec, std::move(ev), ec && ec == s.failed ? s.failure : nullptr);
    }

    // Never run inline: a handler may end its subscription, which must not
    // change subs_ under a loop over it. So: posted to the strand, from
    // there dispatched to the handler's executor (which cannot be asked to
    // post through the type-erased executor), where its cancellation slot
    // is let go just before it runs.
    // The diagnostics are written here, on the strand, before the handler
    // is dispatched: it sees them.
    void deliver_to(waiter w, error_code ec, watch_event ev, std::shared_ptr<const diagnostics> failure) {
        asio::post(strand_, [w = std::move(w), ec, ev = std::move(ev), failure = std::move(failure)]() mutable {
            if (w.diag) *w.diag = failure ? *failure : diagnostics{};
            asio::dispatch(w.work, [h = std::move(w.h), ec, ev = std::move(ev)]() mutable {
                auto slot = asio::get_associated_cancellation_slot(h);
                if (slot.is_connected()) slot.clear();
                std::move(h)(ec, std::move(ev));
            });
        });
    }

    // --- the stream (on the strand) -----------------------------------------

    // Brings the stream in line with the names followed: none → closed; one
    // → that name; more → the namespace. Returns whether it was just opened
    // from `rv`, which then covers the subscriber that brought it.
    bool reconcile(const std::string& rv = {}) {
        if (followers_.empty()) {
            stop_stream();
            return false;
        }
        const std::string selector = followers_.size() == 1 ? followers_.begin()->first : std::string();
        // Widened at once; never narrowed while it runs, so a second locker
        // that comes and goes does not reopen the watch each time.
        if (watch_ && (selector == selector_ || selector_.empty())) return false;
        const bool fresh = !watch_;
        start_stream(selector, fresh ? rv : watch_->resource_version());
        return fresh;
    }

    void start_stream(const std::string& selector, const std::string& from) {
        stop_stream();
        selector_ = selector;
        watch_ = std::make_shared<lease_watch>(leases_, selector, from, opts_);
        start_ = from;
        stop_ = std::make_shared<asio::cancellation_signal>();
        ++watches_started_;
        asio::co_spawn(strand_, pump(shared_from_this(), watch_, stop_), asio::bind_cancellation_slot(stop_->slot(), asio::detached));
    }

    void stop_stream() {
        if (stop_) stop_->emit(asio::cancellation_type::terminal);
        stop_.reset();
        watch_.reset();
        start_.clear();
        seen_.clear();
    }

    // `stop` lives as long as the coroutine its slot is bound to.
    static asio::awaitable<void> pump(std::shared_ptr<watch_hub_impl> self, std::shared_ptr<lease_watch> watch,
                                      [[maybe_unused]] std::shared_ptr<asio::cancellation_signal> stop) {
        co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
        co_await asio::this_coro::throw_if_cancelled(false);
        for (;;) {
            auto failure = std::make_shared<diagnostics>();
            auto [ec, ev] = co_await watch->next(*failure, use_tuple);
            if (self->watch_ != watch) co_return; // replaced or stopped meanwhile
            if (ec) {
                for (auto& [id, s] : self->subs_) self->fail(s, ec, failure);
                self->followers_.clear();
                self->stop_stream();
                co_return;
            }
            self->deliver(std::move(ev));
        }
    }

    void deliver(watch_event ev) {
        const auto& name = ev.object.metadata.name;
        auto& seen = seen_[name];
        if (newer_resource_version(ev.object.metadata.resource_version, seen)) seen = ev.object.metadata.resource_version;
        auto followers = followers_.find(name);
        if (followers == followers_.end()) return;
        for (auto id : followers->second) offer(subs_.at(id), ev);
    }

    lease_client leases_;
    lease_watch_options opts_;
    asio::strand<asio::any_io_executor> strand_;
    std::atomic<std::uint64_t> next_id_{0};
    std::atomic<std::uint64_t> next_ticket_{0};
    std::atomic<std::size_t> watches_started_{0};
    std::map<std::uint64_t, subscriber> subs_;
    // Name → its live (not failed) subscribers: what the stream must cover.
    std::unordered_map<std::string, std::vector<std::uint64_t>> followers_;
    std::shared_ptr<lease_watch> watch_;
    std::string selector_;                    // the watched name; empty: the namespace
    std::string start_;                       // the stream delivers every change after this version
    std::unordered_map<std::string, std::string> seen_; // newest version per name seen since start_
    std::shared_ptr<asio::cancellation_signal> stop_;
};

} // namespace detail

namespace {

struct hub_registry {
    std::mutex mutex;
    std::map<std::pair<const client*, std::string>, std::weak_ptr<lease_watch_hub>> hubs;
};

hub_registry& registry() {
    static hub_registry r;
    return r;
}

} // namespace

std::shared_ptr<lease_watch_hub> lease_watch_hub::shared(const lease_client& leases, lease_watch_options opts) {
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    std::erase_if(r.hubs, [](auto& entry) { return entry.second.expired(); });
    auto& slot = r.hubs[{&leases.get_client(), leases.namespace_name()}];
    auto hub = slot.lock();
    if (!hub) {
        hub = std::make_shared<lease_watch_hub>(leases, opts);
        slot = hub;
    }
    return hub;
}

lease_watch_hub::lease_watch_hub(const lease_client& leases, lease_watch_options opts)
    : impl_(std::make_shared<detail::watch_hub_impl>(leases, opts)) {}

lease_watch_hub::~lease_watch_hub() {
    impl_->shutdown();
}

lease_watch_hub::subscription lease_watch_hub::subscribe(std::string name, std::string resource_version) {
    return subscription(impl_, impl_->add(std::move(name), std::move(resource_version)));
}

std::size_t lease_watch_hub::watches_started() const {
    return impl_->watches_started();
}

lease_watch_hub::subscription& lease_watch_hub::subscription::operator=(subscription&& other) noexcept {
    if (this != &other) {
        reset();
        hub_ = std::move(other.hub_);
        id_ = other.id_;
    }
    return *this;
}

lease_watch_hub::subscription::~subscription() {
    reset();
}

void lease_watch_hub::subscription::reset() {
    if (hub_) hub_->remove(id_);
    hub_.reset();
}

void lease_watch_hub::subscription::start_next(detail::watch_hub_impl* hub, std::uint64_t id, diagnostics* diag,
                                               boost::asio::any_completion_handler<void(error_code, watch_event)> h) {
    if (!hub) throw std::logic_error("lease_watch_hub::subscription::next on an empty subscription");
    hub->start_next(id, diag, std::move(h));
}

} // namespace leaselocker
