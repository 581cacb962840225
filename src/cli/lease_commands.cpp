// leaselocker status, wait-free and release: reading, following and
// freeing a Lease without holding it.
#include "cli/commands.hpp"
#include "cli/session.hpp"

#include <leaselocker/core/election.hpp>

#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <iostream>

namespace leaselocker::cli {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::as_tuple;
using asio::use_awaitable;
using namespace std::chrono;
using namespace asio::experimental::awaitable_operators;

namespace {

// "3m12s", "450ms", "-2s" for people.
std::string human(milliseconds d) {
    std::string sign = d.count() < 0 ? "-" : "";
    d = d.count() < 0 ? -d : d;
    if (d < seconds(1)) return sign + std::to_string(d.count()) + "ms";
    auto s = duration_cast<seconds>(d).count();
    std::string out;
    if (s >= 3600) out += std::to_string(s / 3600) + "h", s %= 3600;
    if (s >= 60 || !out.empty()) out += std::to_string(s / 60) + "m", s %= 60;
    return sign + out + std::to_string(s) + "s";
}

json::value optional_string(const std::optional<std::string>& s) {
    return s && !s->empty() ? json::value(*s) : json::value(nullptr);
}
json::value optional_time(const std::optional<micro_time>& t) {
    return t ? json::value(format_micro_time(*t)) : json::value(nullptr);
}

asio::awaitable<int> print_status(session& s, const status_options& o) {
    const auto name = s.describe(o.lease);
    lease_client leases{*s.api, s.namespace_of(o.lease)};
    diagnostics diag;
    auto [ec, l] = co_await leases.get(o.lease.name, request_options{.timeout = request_timeout, .diag = &diag}, as_tuple(use_awaitable));
    if (ec && ec != error::not_found) co_return s.out.fail("cannot read lease " + name, ec, diag);
    const bool exists = !ec;
    const auto& spec = l.spec;
    const bool held = exists && spec.held();
    const auto now = wall_now();
    // How much longer the holder's lease runs, by this machine's clock
    // (a waiting locker starts its own clock at first sight: never sooner).
    std::optional<milliseconds> valid_for;
    if (held && spec.renew_time && spec.lease_duration_seconds)
        valid_for = duration_cast<milliseconds>(*spec.renew_time + seconds(*spec.lease_duration_seconds) - now);
    if (s.out.json()) {
        json::object st{{"lease", name}, {"exists", exists}, {"held", held}, {"holder", held ? json::value(*spec.holder_identity) : nullptr},
                        {"acquire_time", optional_time(spec.acquire_time)}, {"renew_time", optional_time(spec.renew_time)},
                        {"lease_duration_seconds", spec.lease_duration_seconds ? json::value(*spec.lease_duration_seconds) : nullptr},
                        {"valid_for_ms", valid_for ? json::value(valid_for->count()) : nullptr},
                        {"lease_transitions", spec.lease_transitions ? json::value(*spec.lease_transitions) : nullptr},
                        {"preferred_holder", optional_string(spec.preferred_holder)}, {"strategy", optional_string(spec.strategy)},
                        {"epoch", exists ? json::value(l.metadata.uid) : nullptr},
                        {"resource_version", exists ? json::value(l.metadata.resource_version) : nullptr}};
        std::cout << json::serialize(st) << std::endl;
        co_return exit_code::ok;
    }
    std::cout << "lease        " << name << "\n";
    if (!exists) {
        std::cout << "holder       (no such Lease: free)\n";
        co_return exit_code::ok;
    }
    std::cout << "holder       " << (held ? *spec.holder_identity : "(free)") << "\n";
    const auto when = [&](const std::optional<micro_time>& t) {
        return t ? format_micro_time(*t) + " (" + human(duration_cast<milliseconds>(now - *t)) + " ago)" : std::string("-");
    };
    std::cout << "acquired     " << when(spec.acquire_time) << "\n";
    std::cout << "renewed      " << when(spec.renew_time) << "\n";
    std::cout << "duration     " << (spec.lease_duration_seconds ? std::to_string(*spec.lease_duration_seconds) + "s" : "-") << "\n";
    if (valid_for)
        std::cout << "valid for    " << (valid_for->count() >= 0 ? human(*valid_for) : "expired " + human(-*valid_for) + " ago")
                  << " (by this machine's clock)\n";
    std::cout << "transitions  " << spec.lease_transitions.value_or(0) << "\n";
    if (spec.preferred_holder && !spec.preferred_holder->empty()) std::cout << "preferred    " << *spec.preferred_holder << "\n";
    if (spec.strategy && !spec.strategy->empty()) std::cout << "strategy     " << *spec.strategy << "\n";
    co_return exit_code::ok;
}

// Free once nobody holds it: no Lease, no holder, or the holder's lease
// run out on our steady clock, counted from when we first saw its current
// version (as a waiting locker counts; a renewal starts it again). Changes
// come by watch; a user without the watch right polls. Nothing is judged
// before one read succeeded: a server out of reach is never "free".
asio::awaitable<int> wait_until_free(session& s, const wait_free_options& o) {
    constexpr milliseconds poll_period = seconds(2);
    const auto name = s.describe(o.lease);
    lease_lock lock{lease_client{*s.api, s.namespace_of(o.lease)}, o.lease.name, "leaselocker-wait-free"};
    const auto deadline = o.timeout.count() > 0 ? steady_clock::now() + o.timeout : steady_clock::time_point::max();
    asio::steady_timer timer{s.io};
    bool polling = false, read = true, reported = false, warned = false;
    std::optional<lock_record> seen;
    steady_clock::time_point seen_at{};
    for (;;) {
        if (read) {
            diagnostics diag;
            auto [ec, record, raw] = co_await lock.get(request_options{.timeout = request_timeout, .diag = &diag}, as_tuple(use_awaitable));
            if (ec) {
                const bool transient = ec == condition::transient || ec == condition::timed_out;
                if (!transient || steady_clock::now() >= deadline) co_return s.out.fail("cannot read lease " + name, ec, diag);
                if (!warned) s.out.event("warning", {{"message", "reading " + name + ": " + ec.message() + "; retrying"}},
                                         "reading " + name + ": " + ec.message() + "; retrying");
                warned = true;
                timer.expires_at(std::min(steady_clock::now() + seconds(1), deadline));
                co_await timer.async_wait(as_tuple(use_awaitable));
                continue;
            }
            read = false;
        }
        const auto current = lock.current();
        const auto now = steady_clock::now();
        if (!current || current->holder_identity.empty()) {
            s.out.event("free", {{"lease", name}});
            co_return exit_code::ok;
        }
        if (!seen || *seen != *current) {
            seen = current;
            seen_at = now;
        }
        const auto expires = seen_at + seconds(current->lease_duration_seconds > 0 ? current->lease_duration_seconds : 15);
        if (now >= expires) {
            s.out.event("free", {{"lease", name}, {"expired_holder", current->holder_identity}});
            co_return exit_code::ok;
        }
        if (now >= deadline) {
            s.out.event("conflict", {{"lease", name}}, "gave up waiting: " + name + " is still held by " + current->holder_identity);
            co_return o.conflict_exit_code;
        }
        if (!reported) {
            s.out.event("waiting", {{"lease", name}, {"holder", current->holder_identity}}, "");
            reported = true;
        }
        auto wake = std::min(expires, deadline);
        if (polling) wake = std::min(wake, now + poll_period);
        timer.expires_at(wake);
        if (polling) {
            co_await timer.async_wait(as_tuple(use_awaitable));
            read = true;
            continue;
        }
        auto woken = co_await (lock.next_change(as_tuple(use_awaitable)) || timer.async_wait(as_tuple(use_awaitable)));
        if (woken.index() == 0) {
            auto [ec, record] = std::get<0>(woken);
            if (ec == error::forbidden) {
                polling = true; // no watch right: read every poll_period
                s.out.event("warning", {{"message", "no right to watch " + name + ": polling every 2s"}}, "");
            }
            if (ec && !polling) { // the watch failed for now: read again after a pause
                timer.expires_at(std::min(steady_clock::now() + seconds(1), deadline));
                co_await timer.async_wait(as_tuple(use_awaitable));
            }
            if (ec) read = true;
        }
    }
}

asio::awaitable<int> release_lease(session& s, const release_options& o) {
    const auto name = s.describe(o.lease);
    lease_lock lock{lease_client{*s.api, s.namespace_of(o.lease)}, o.lease.name, o.force ? "leaselocker-release" : o.identity};
    for (int attempt = 0;; ++attempt) {
        diagnostics diag;
        auto [ec, record, raw] = co_await lock.get(request_options{.timeout = request_timeout, .diag = &diag}, as_tuple(use_awaitable));
        if (ec) co_return s.out.fail("cannot read lease " + name, ec, diag);
        if (!record || record->holder_identity.empty()) {
            s.out.event("released", {{"lease", name}, {"held", false}}, "");
            std::cout << name << " is not held: nothing to release\n";
            co_return exit_code::ok;
        }
        if (!o.force && record->holder_identity != o.identity) {
            s.out.event("conflict", {{"lease", name}, {"holder", record->holder_identity}},
                        name + " is held by " + record->holder_identity + ", not " + o.identity + ": not released");
            co_return exit_code::conflict;
        }
        auto [write_ec] = co_await lock.update(core::election::release(*record, wall_now()),
                                               request_options{.timeout = request_timeout, .diag = &diag}, as_tuple(use_awaitable));
        if (write_ec == error::conflict && attempt < 5) continue; // changed since we read it: judge afresh
        if (write_ec) co_return s.out.fail("cannot release lease " + name, write_ec, diag);
        s.out.event("released", {{"lease", name}, {"held", true}, {"holder", record->holder_identity}}, "");
        std::cout << "released " << name << " (was held by " << record->holder_identity << ")\n";
        co_return exit_code::ok;
    }
}

} // namespace

int status_command(const status_options& o) {
    session s{o.conn};
    return s.run(print_status(s, o));
}

int wait_free_command(const wait_free_options& o) {
    session s{o.conn};
    return s.run(wait_until_free(s, o));
}

int release_command(const release_options& o) {
    session s{o.conn};
    return s.run(release_lease(s, o));
}

} // namespace leaselocker::cli
