// The watch's recovery paths, which a real server will not produce on
// demand: the server ending the stream, bookmarks, 410 Gone.
#include "support/printing.hpp"
#include "support/run.hpp"
#include "support/scripted_server.hpp"

#include <leaselocker/leaselocker.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <functional>
#include <optional>

namespace asio = boost::asio;
using namespace leaselocker;
using test::reply;

namespace {

std::string lease_json(const std::string& rv, const std::string& holder) {
    return R"({"kind":"Lease","apiVersion":"coordination.k8s.io/v1","metadata":{"name":"w","namespace":"ns","resourceVersion":")" + rv +
           R"("},"spec":{"holderIdentity":")" + holder + R"("}})";
}
std::string event(const std::string& type, const std::string& object) {
    return R"({"type":")" + type + R"(","object":)" + object + "}\n";
}

} // namespace

BOOST_AUTO_TEST_SUITE(lease_watch_faults)

BOOST_AUTO_TEST_CASE(resumes_from_bookmarks_and_relists_after_410) {
    asio::io_context io;
    test::scripted_server server{io.get_executor()};
    int watches = 0;
    server.on_request([&](const test::recorded_request& r) -> reply {
        if (r.target.find("watch=true") == std::string::npos) return {.body = lease_json("20", "after-gone")};
        switch (++watches) {
        case 1: // an event, a bookmark, then the server ends the watch
            return {.body = event("MODIFIED", lease_json("10", "a")) +
                            event("BOOKMARK", R"({"kind":"Lease","metadata":{"resourceVersion":"12"}})")};
        case 2: // continuing from the bookmark is too old by now
            return {.body = event("ERROR", R"({"kind":"Status","code":410,"reason":"Expired","message":"too old resource version"})")};
        default:
            return {.body = event("DELETED", lease_json("21", "after-gone"))};
        }
    });
    client api{io.get_executor(), server.config()};
    lease_client leases{api, "ns"};
    lease_watch watch{leases, "w"};
    auto events = test::run(io, [&]() -> asio::awaitable<std::vector<watch_event>> {
        std::vector<watch_event> out;
        for (int i = 0; i < 3; ++i) {
            auto [ec, ev] = co_await watch.next(asio::as_tuple(asio::use_awaitable));
            BOOST_TEST_REQUIRE(!ec, ec.message());
            out.push_back(ev);
        }
        co_return out;
    }());
    BOOST_TEST((events[0].type == watch_event_type::modified));
    BOOST_TEST(*events[0].object.spec.holder_identity == "a");
    BOOST_TEST(!events[0].relisted);
    BOOST_TEST((events[1].type == watch_event_type::modified)); // from the re-list GET
    BOOST_TEST(events[1].relisted); // what happened between was not seen
    BOOST_TEST(*events[1].object.spec.holder_identity == "after-gone");
    BOOST_TEST(!events[2].relisted);
    BOOST_TEST((events[2].type == watch_event_type::deleted));
    BOOST_TEST(watch.resource_version() == "21");

    const auto& reqs = server.requests();
    BOOST_TEST_REQUIRE(reqs.size() == 4u);
    BOOST_TEST(reqs[0].target.find("fieldSelector=metadata.name%3Dw") != std::string::npos, reqs[0].target);
    BOOST_TEST(reqs[0].target.find("allowWatchBookmarks=true") != std::string::npos);
    BOOST_TEST(reqs[0].target.find("resourceVersion=") == std::string::npos);
    BOOST_TEST(reqs[1].target.find("resourceVersion=12") != std::string::npos, reqs[1].target); // from the bookmark
    BOOST_TEST(reqs[2].target == "/apis/coordination.k8s.io/v1/namespaces/ns/leases/w");
    BOOST_TEST(reqs[3].target.find("resourceVersion=20") != std::string::npos, reqs[3].target);
}

BOOST_AUTO_TEST_CASE(a_410_on_open_relists_and_a_vanished_lease_is_deleted) {
    asio::io_context io;
    test::scripted_server server{io.get_executor()};
    server.push({.status = 410, .body = R"({"kind":"Status","code":410,"reason":"Expired"})"});
    server.push({.status = 404, .body = R"({"kind":"Status","code":404,"reason":"NotFound"})"});
    client api{io.get_executor(), server.config()};
    lease_client leases{api, "ns"};
    lease_watch watch{leases, "w", "5"};
    auto [ec, ev] = test::run(io, watch.next(asio::as_tuple(asio::use_awaitable)));
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST((ev.type == watch_event_type::deleted));
    BOOST_TEST(ev.relisted);
    BOOST_TEST(ev.object.metadata.name == "w");
    BOOST_TEST(watch.resource_version().empty()); // watch from now on
}

BOOST_AUTO_TEST_CASE(a_410_on_the_shared_namespace_watch_fails_every_subscriber_with_gone) {
    // Two names followed: the hub watches the namespace, which cannot be
    // re-read with one GET; its subscribers get error::gone and re-read
    // their own Lease (the locker polls once, then subscribes again).
    asio::io_context io;
    test::scripted_server server{io.get_executor()};
    int namespace_watches = 0;
    server.on_request([&](const test::recorded_request& r) -> reply {
        if (r.target.find("fieldSelector") != std::string::npos) // the first name alone: quiet
            return {.body = event("BOOKMARK", R"({"kind":"Lease","metadata":{"resourceVersion":"8"}})"), .how = reply::mode::slow_body,
                    .byte_interval = std::chrono::milliseconds(100)};
        ++namespace_watches;
        return {.body = event("ERROR", R"({"kind":"Status","code":410,"reason":"Expired"})")};
    });
    client api{io.get_executor(), server.config()};
    lease_client leases{api, "ns"};
    lease_watch_hub hub{leases};
    auto a = hub.subscribe("a", "5");
    auto b = hub.subscribe("b", "7");
    auto [ea, eb] = test::run(io, [&]() -> asio::awaitable<std::pair<error_code, error_code>> {
        auto [e1, ev1] = co_await a.next(asio::as_tuple(asio::use_awaitable));
        auto [e2, ev2] = co_await b.next(asio::as_tuple(asio::use_awaitable));
        co_return std::pair{e1, e2};
    }());
    BOOST_TEST(ea == error::gone, ea.message());
    BOOST_TEST(eb == error::gone, eb.message());
    BOOST_TEST(namespace_watches == 1);
    BOOST_TEST(hub.watches_started() == 2u); // "a" alone, then the namespace
}

BOOST_AUTO_TEST_CASE(a_waiting_follower_can_be_cancelled_or_let_go_and_loses_nothing) {
    // The hub keeps a waiting next() as a stored handler: cancelling it,
    // a second next() meanwhile, and ending the subscription must each
    // complete it at once, and a cancelled wait must not lose the version
    // that comes later.
    asio::io_context io;
    test::scripted_server server{io.get_executor()};
    int watches = 0;
    server.on_request([&](const test::recorded_request& r) -> reply {
        if (++watches == 1) return {.body = event("MODIFIED", lease_json("6", "x")), .delay = std::chrono::milliseconds(2000)};
        return {.body = event("BOOKMARK", R"({"kind":"Lease","metadata":{"resourceVersion":"6"}})"), .how = reply::mode::slow_body,
                .byte_interval = std::chrono::milliseconds(100)};
    });
    client api{io.get_executor(), server.config()};
    lease_client leases{api, "ns"};
    lease_watch_hub hub{leases};
    auto a = hub.subscribe("w", "5");
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    auto elapsed = [&] { return clock::now() - start; };
    test::run(io, [&]() -> asio::awaitable<void> {
        constexpr auto tuple = asio::as_tuple(asio::use_awaitable);
        asio::cancellation_signal cancel;
        asio::steady_timer timer(io, std::chrono::milliseconds(200));
        timer.async_wait([&](error_code) { cancel.emit(asio::cancellation_type::terminal); });
        auto [e1, ev1] = co_await a.next(asio::bind_cancellation_slot(cancel.slot(), tuple));
        BOOST_TEST(e1 == asio::error::operation_aborted, e1.message());
        BOOST_TEST((elapsed() < std::chrono::milliseconds(1500))); // not held until the event (2 s)

        auto [e2, ev2] = co_await a.next(tuple); // the version that came after the cancelled wait
        BOOST_TEST(!e2, e2.message());
        BOOST_TEST(ev2.object.metadata.resource_version == "6");

        // Nothing newer comes: a second next() is refused at once, and
        // ending the subscription completes the one that waits.
        std::optional<error_code> first;
        a.next([&](error_code ec, watch_event) { first = ec; });
        auto [e3, ev3] = co_await a.next(tuple);
        BOOST_TEST(e3 == asio::error::already_started, e3.message());
        BOOST_TEST(!first.has_value());
        a = lease_watch_hub::subscription{};
        asio::steady_timer settle(io, std::chrono::milliseconds(50));
        co_await settle.async_wait(tuple);
        BOOST_TEST_REQUIRE(first.has_value());
        BOOST_TEST(*first == asio::error::operation_aborted, first->message());
    }());
}

BOOST_AUTO_TEST_CASE(a_waiting_locker_reopens_an_interrupted_watch) {
    // The holder's lease runs 60 s. The waiter's first watch fails (the
    // connection closes before any reply); it must open the watch again a
    // retry period later and take the lock on the release, long before
    // the lease would have expired.
    asio::io_context io;
    test::scripted_server server{io.get_executor()};
    const auto now = format_micro_time(std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now()));
    auto held_by = [&](const std::string& rv, const std::string& holder) {
        return R"({"kind":"Lease","apiVersion":"coordination.k8s.io/v1","metadata":{"name":"w","namespace":"default","uid":"u1",)"
               R"("resourceVersion":")" + rv + R"("},"spec":{"holderIdentity":")" + holder + R"(","leaseDurationSeconds":60,"acquireTime":")" +
               now + R"(","renewTime":")" + now + R"(","leaseTransitions":3}})";
    };
    int watches = 0;
    bool released = false;
    server.on_request([&](const test::recorded_request& r) -> reply {
        if (r.method == "PUT") return {.body = r.body}; // stored as sent
        if (r.target.find("watch=true") == std::string::npos) return {.body = released ? held_by("6", "") : held_by("5", "other")};
        if (++watches == 1) return {.how = reply::mode::close_without_reply};
        released = true;
        return {.body = event("MODIFIED", held_by("6", "")), .how = reply::mode::slow_body, .byte_interval = std::chrono::milliseconds(1)};
    });
    client api{io.get_executor(), server.config()};
    lease_locker locker{api, lease_name{"", "w"},
                        lock_config{.lease_duration = std::chrono::seconds(6), .renew_deadline = std::chrono::seconds(4),
                                    .retry_period = std::chrono::seconds(1), .identity = "waiter"}};
    const auto start = std::chrono::steady_clock::now();
    test::run(io, [&]() -> asio::awaitable<void> {
        co_await locker.lock(asio::use_awaitable);
        BOOST_TEST((std::chrono::steady_clock::now() - start < std::chrono::seconds(10))); // not the 60 s expiry
        BOOST_TEST(locker.current_fencing_token().sequence == 4); // leaseTransitions 3 + 1: a new grant
        co_await locker.unlock(asio::use_awaitable);
    }());
    BOOST_TEST(watches >= 2); // opened again after the failure
}

BOOST_AUTO_TEST_CASE(a_malformed_event_is_an_error_not_a_crash) {
    asio::io_context io;
    test::scripted_server server{io.get_executor()};
    server.push({.body = "{\"type\":\"MODIFIED\",\"object\":[]}\nnot json\n"});
    client api{io.get_executor(), server.config()};
    lease_client leases{api, "ns"};
    lease_watch watch{leases, "w"};
    auto [ec, ev] = test::run(io, watch.next(asio::as_tuple(asio::use_awaitable)));
    BOOST_TEST(ec == error::malformed_response, ec.message());
}

BOOST_AUTO_TEST_CASE(cancelling_next_closes_the_watch) {
    asio::io_context io;
    test::scripted_server server{io.get_executor()};
    server.push({.body = event("MODIFIED", lease_json("1", "a")), .how = reply::mode::slow_body,
                 .byte_interval = std::chrono::milliseconds(500)});
    client api{io.get_executor(), server.config()};
    lease_client leases{api, "ns"};
    lease_watch watch{leases, "w"};
    asio::cancellation_signal cancel;
    asio::steady_timer timer(io, std::chrono::milliseconds(300));
    timer.async_wait([&](error_code) { cancel.emit(asio::cancellation_type::terminal); });
    auto start = std::chrono::steady_clock::now();
    auto [ec, ev] = test::run(io, watch.next(asio::bind_cancellation_slot(cancel.slot(), asio::as_tuple(asio::use_awaitable))));
    BOOST_TEST(ec == asio::error::operation_aborted, ec.message());
    BOOST_TEST((std::chrono::steady_clock::now() - start < std::chrono::seconds(2)));
}

BOOST_AUTO_TEST_CASE(cancelling_next_while_the_watch_opens_ends_it) {
    // The cancellation comes while the watch request is on its way; its
    // answer (a stream that stays quiet) arrives afterwards. next() must end
    // then, not read the quiet stream until the idle timeout.
    asio::io_context io;
    test::scripted_server server{io.get_executor()};
    std::function<void()> release;
    server.on_request([&](const test::recorded_request&) {
        reply r{.body = event("MODIFIED", lease_json("1", "a")), .how = reply::mode::slow_body,
                .byte_interval = std::chrono::milliseconds(500)};
        r.hold = [&](std::function<void()> go) { release = std::move(go); };
        return r;
    });
    client api{io.get_executor(), server.config()};
    lease_client leases{api, "ns"};
    lease_watch watch{leases, "w"};
    asio::cancellation_signal cancel;
    std::optional<error_code> result;
    watch.next(asio::bind_cancellation_slot(cancel.slot(), [&](error_code ec, watch_event) { result = ec; }));
    for (int i = 0; i < 200 && !release; ++i) io.run_one_for(std::chrono::milliseconds(10));
    BOOST_TEST_REQUIRE(bool(release));
    cancel.emit(asio::cancellation_type::terminal);
    io.poll();
    release();
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 300 && !result; ++i) io.run_one_for(std::chrono::milliseconds(10));
    BOOST_TEST_REQUIRE(result.has_value());
    BOOST_TEST(*result == asio::error::operation_aborted, result->message());
    BOOST_TEST((std::chrono::steady_clock::now() - start < std::chrono::seconds(2)));
}

BOOST_AUTO_TEST_SUITE_END()
