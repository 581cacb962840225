#include <leaselocker/leader/lease_observer.hpp>

#include "../detail/spawn.hpp"

#include <leaselocker/lease/lease_client.hpp>
#include <leaselocker/lease/lease_watch_hub.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <mutex>
#include <stdexcept>

namespace leaselocker {

namespace asio = boost::asio;

leader_info to_leader_info(const lease& l) {
    leader_info i;
    i.exists = true;
    i.holder = l.spec.held() ? *l.spec.holder_identity : std::string();
    i.lease_transitions = l.spec.lease_transitions.value_or(0);
    i.epoch = l.metadata.uid;
    i.lease_duration_seconds = l.spec.lease_duration_seconds.value_or(0);
    i.acquire_time = l.spec.acquire_time;
    i.renew_time = l.spec.renew_time;
    i.resource_version = l.metadata.resource_version;
    return i;
}

namespace detail {

class observer_impl : public std::enable_shared_from_this<observer_impl> {
public:
    observer_impl(client& api, lease_name name, observer_config cfg)
        : leases_(api, name.namespace_name), name_(std::move(name.name)), cfg_(cfg), strand_(asio::make_strand(api.get_executor())) {}

    asio::any_io_executor strand() const { return strand_; }
    void start(asio::any_completion_handler<void(error_code, leader_info)> h) { spawn_for(strand_, next_change_op(shared_from_this()), std::move(h)); }

    void shutdown() {
        asio::dispatch(strand_, [self = shared_from_this()] {
            self->shut_down_ = true;
            self->subscription_.reset(); // a pending next() completes with operation_aborted
            if (self->pause_) self->pause_->cancel();
        });
    }

    std::optional<leader_info> current() const {
        std::lock_guard lock(mutex_);
        return latest_;
    }

private:
    using result = std::pair<error_code, leader_info>;

    static asio::awaitable<result> next_change_op(std::shared_ptr<observer_impl> self) {
        co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
        co_await asio::this_coro::throw_if_cancelled(false);
        if (self->busy_) co_return result{asio::error::already_started, {}};
        self->busy_ = true;
        auto r = co_await self->follow();
        self->busy_ = false;
        co_return r;
    }

    bool cancelled_or_gone(const asio::cancellation_state& cs) const { return shut_down_ || cs.cancelled() != asio::cancellation_type::none; }

    asio::awaitable<result> follow() {
        constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
        for (;;) {
            // Checked on every turn: a cancellation that ended a pause is
            // not emitted again for the next wait.
            if (cancelled_or_gone(co_await asio::this_coro::cancellation_state)) co_return result{asio::error::operation_aborted, {}};
            {
                std::lock_guard lock(mutex_);
                if (latest_ && (!reported_ || !latest_->same_term(*reported_))) {
                    reported_ = latest_;
                    co_return result{{}, *latest_};
                }
            }
            if (!subscription_) {
                std::string known;
                if (!latest_) { // the first look: one read (a Lease that does not exist delivers nothing on the watch)
                    auto [ec, l] = co_await leases_.get(name_, use_tuple);
                    if (!ec || ec == error::not_found) set_latest(ec ? leader_info{} : to_leader_info(l));
                    if (cancelled_or_gone(co_await asio::this_coro::cancellation_state)) co_return result{asio::error::operation_aborted, {}};
                    if (ec && ec != error::not_found) {
                        if (ec == condition::permanent) co_return result{ec, {}};
                        co_await pause();
                        continue;
                    }
                    continue;
                }
                if (!hub_) hub_ = lease_watch_hub::shared(leases_);
                subscription_ = hub_->subscribe(name_, latest_->resource_version);
            }
            auto [ec, ev] = co_await subscription_->next(use_tuple);
            // Kept even if cancelled meanwhile: the hub counts it as delivered.
            if (!ec) set_latest(ev.type == watch_event_type::deleted ? leader_info{} : to_leader_info(ev.object));
            if (cancelled_or_gone(co_await asio::this_coro::cancellation_state)) co_return result{asio::error::operation_aborted, {}};
            if (ec) {
                subscription_.reset(); // it only reports that error from now on
                if (ec == condition::permanent) co_return result{ec, {}};
                co_await pause();
                continue;
            }
        }
    }

    void set_latest(leader_info i) {
        std::lock_guard lock(mutex_);
        latest_ = std::move(i);
    }

    asio::awaitable<void> pause() {
        asio::steady_timer t(strand_, cfg_.retry_period);
        pause_ = &t;
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        pause_ = nullptr;
    }

    lease_client leases_;
    std::string name_;
    observer_config cfg_;
    asio::strand<asio::any_io_executor> strand_;
    std::shared_ptr<lease_watch_hub> hub_;
    std::optional<lease_watch_hub::subscription> subscription_;
    asio::steady_timer* pause_ = nullptr;
    bool busy_ = false;
    bool shut_down_ = false;
    std::optional<leader_info> reported_;
    mutable std::mutex mutex_;
    std::optional<leader_info> latest_;
};

} // namespace detail

lease_observer_base::lease_observer_base(client& api, lease_name name, observer_config cfg)
    : impl_(std::make_shared<detail::observer_impl>(api, checked_lease_name(std::move(name)), cfg)) {}

asio::any_io_executor lease_observer_base::strand() const noexcept {
    return impl_ ? impl_->strand() : asio::any_io_executor{};
}

lease_observer_base::~lease_observer_base() {
    if (impl_) impl_->shutdown();
}

std::optional<leader_info> lease_observer_base::current() const {
    return impl_ ? impl_->current() : std::nullopt; // moved from: nothing seen
}

void lease_observer_base::start_next_change(detail::observer_impl* impl, asio::any_completion_handler<void(error_code, leader_info)> h) {
    if (!impl) throw std::logic_error("lease_observer: used after being moved from");
    impl->start(std::move(h));
}

} // namespace leaselocker
