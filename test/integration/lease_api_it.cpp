// The Lease API against the real kube-apiserver, as the least-privilege
// identity: CRUD, conflicts, validation, watch, token-file rotation.
#include "support/cluster_env.hpp"
#include "support/lease_fixture.hpp"
#include "support/printing.hpp"
#include "support/run.hpp"
#include "support/temp_dir.hpp"

#include <leaselocker/leaselocker.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;
using test::cluster_config_for;
using fixture = test::lease_fixture;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

lease new_lease(const std::string& name, const std::string& holder) {
    lease l;
    l.metadata.name = name;
    l.spec.holder_identity = holder;
    l.spec.lease_duration_seconds = 10;
    l.spec.lease_transitions = 0;
    return l;
}

} // namespace

BOOST_AUTO_TEST_SUITE(lease_api_it)

BOOST_FIXTURE_TEST_CASE(create_get_replace_and_stale_conflict, fixture) {
    test::run(io, [&]() -> asio::awaitable<void> {
        auto wanted = new_lease(name, "a");
        auto [cec, created] = co_await leases.create(wanted, tuple_awaitable);
        BOOST_TEST_REQUIRE(!cec, cec.message());
        auto [dup, ignored] = co_await leases.create(wanted, tuple_awaitable);
        BOOST_TEST(dup == error::already_exists, dup.message());

        auto next = created;
        next.spec.holder_identity = "b";
        next.spec.lease_transitions = 1;
        auto [rec, replaced] = co_await leases.replace(next, tuple_awaitable);
        BOOST_TEST_REQUIRE(!rec, rec.message());
        BOOST_TEST(*replaced.spec.holder_identity == "b");
        BOOST_TEST(replaced.metadata.resource_version != created.metadata.resource_version);

        // The same write again carries the old resourceVersion: 409.
        diagnostics diag;
        request_options opts{.diag = &diag};
        auto [stale, s] = co_await leases.replace(next, opts, tuple_awaitable);
        BOOST_TEST(stale == error::conflict, stale.message());
        BOOST_TEST(stale == condition::transient);
        BOOST_TEST(diag.server_message.find("the object has been modified") != std::string::npos, diag.server_message);

        auto [gec, got] = co_await leases.get(name, tuple_awaitable);
        BOOST_TEST(*got.spec.holder_identity == "b");
        BOOST_TEST(*got.spec.lease_transitions == 1);
    }());
}

BOOST_FIXTURE_TEST_CASE(missing_and_invalid, fixture) {
    test::run(io, [&]() -> asio::awaitable<void> {
        auto [nf, l] = co_await leases.get(name, tuple_awaitable);
        BOOST_TEST(nf == error::not_found, nf.message());
        BOOST_TEST(nf == condition::permanent);

        auto bad = new_lease(name, "a");
        bad.spec.lease_duration_seconds = 0; // the server requires > 0
        bad.spec.lease_transitions = -1;     // and >= 0
        diagnostics diag;
        request_options opts{.diag = &diag};
        auto [inv, created] = co_await leases.create(bad, opts, tuple_awaitable);
        BOOST_TEST(inv == error::invalid, inv.message());
        BOOST_TEST(diag.server_message.find("leaseDurationSeconds") != std::string::npos, diag.server_message);

        // A name that is no DNS-1123 subdomain never reaches the server.
        auto [bad_name, x] = co_await leases.get("Not_A_Name", tuple_awaitable);
        BOOST_TEST(bad_name == error::invalid);

        lease_client nowhere{api, "no-such-namespace"};
        auto [forbidden, y] = co_await nowhere.get(name, tuple_awaitable);
        BOOST_TEST(forbidden == error::forbidden, forbidden.message()); // RBAC answers before existence
    }());
}

BOOST_FIXTURE_TEST_CASE(delete_honours_preconditions, fixture) {
    client admin{io.get_executor(), cluster_config_for("admin")};
    lease_client admin_leases{admin};
    test::run(io, [&]() -> asio::awaitable<void> {
        auto wanted = new_lease(name, "a");
        auto [cec, created] = co_await leases.create(wanted, tuple_awaitable);
        BOOST_TEST_REQUIRE(!cec, cec.message());
        delete_preconditions wrong{.uid = "00000000-0000-0000-0000-000000000000"};
        auto [wec] = co_await admin_leases.remove(name, wrong, tuple_awaitable);
        BOOST_TEST(wec == error::conflict, wec.message());
        delete_preconditions right{.uid = created.metadata.uid, .resource_version = created.metadata.resource_version};
        auto [rec] = co_await admin_leases.remove(name, right, tuple_awaitable);
        BOOST_TEST(!rec, rec.message());
        auto [gone, l] = co_await leases.get(name, tuple_awaitable);
        BOOST_TEST(gone == error::not_found);
    }());
}

BOOST_FIXTURE_TEST_CASE(watch_sees_create_modify_delete, fixture) {
    client admin{io.get_executor(), cluster_config_for("admin")};
    lease_client admin_leases{admin};
    lease_watch watch{leases, name};
    std::vector<watch_event> events;
    // The reader runs first and opens the watch; the writer starts a second
    // later, so every change happens while the watch is open.
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 3; ++i) {
            auto [wec, ev] = co_await watch.next(tuple_awaitable);
            BOOST_TEST_REQUIRE(!wec, wec.message());
            events.push_back(ev);
        }
    }, asio::detached);
    test::run(io, [&]() -> asio::awaitable<void> {
        asio::steady_timer settle(io, 1s);
        co_await settle.async_wait(asio::use_awaitable);
        auto wanted = new_lease(name, "a");
        auto [cec, created] = co_await leases.create(wanted, tuple_awaitable);
        BOOST_TEST_REQUIRE(!cec, cec.message());
        auto next = created;
        next.spec.holder_identity = "b";
        auto [rec, replaced] = co_await leases.replace(next, tuple_awaitable);
        BOOST_TEST_REQUIRE(!rec, rec.message());
        delete_preconditions none; // named: see the GCC 12 note in README
        auto [dec] = co_await admin_leases.remove(name, none, tuple_awaitable);
        BOOST_TEST_REQUIRE(!dec, dec.message());
        for (int i = 0; i < 50 && events.size() < 3; ++i) {
            asio::steady_timer poll(io, 100ms);
            co_await poll.async_wait(asio::use_awaitable);
        }
    }());
    BOOST_TEST_REQUIRE(events.size() == 3u);
    BOOST_TEST((events[0].type == watch_event_type::added));
    BOOST_TEST(*events[0].object.spec.holder_identity == "a");
    BOOST_TEST((events[1].type == watch_event_type::modified));
    BOOST_TEST(*events[1].object.spec.holder_identity == "b");
    BOOST_TEST((events[2].type == watch_event_type::deleted));
    BOOST_TEST(watch.resource_version() == events[2].object.metadata.resource_version);
}

BOOST_AUTO_TEST_CASE(watch_is_refused_outside_the_granted_namespace) {
    asio::io_context io;
    client api{io.get_executor(), cluster_config_for("lease")};
    lease_client other{api, "default"};
    lease_watch watch{other, "anything"};
    diagnostics diag;
    auto [ec, ev] = test::run(io, watch.next(diag, tuple_awaitable));
    BOOST_TEST(ec == error::forbidden, ec.message());
    BOOST_TEST(diag.server_message.find("cannot watch resource \"leases\"") != std::string::npos, diag.server_message);
    BOOST_TEST(diag.client_message.find("default/anything") != std::string::npos, diag.client_message);
}

BOOST_AUTO_TEST_CASE(a_rotated_token_file_is_picked_up_after_a_401) {
    test::temp_dir dir;
    auto token_file = dir.write("token", "not-a-valid-token\n");
    auto cfg = cluster_config_for("lease-tokenfile");
    cfg.token_file = token_file;
    asio::io_context io;
    client api{io.get_executor(), cfg};
    lease_client leases{api};
    auto name = test::unique_name("rotation");
    auto [first, l1] = test::run(io, leases.get(name, tuple_awaitable));
    BOOST_TEST(first == error::unauthorized, first.message());
    // Rotated to a valid token: the cached invalid one gets a 401, the file
    // is read again at once and the request succeeds (404: no such lease).
    std::ifstream valid(test::cluster().pki("lease.token"));
    std::string token;
    std::getline(valid, token);
    dir.write("token", token + "\n");
    auto [second, l2] = test::run(io, leases.get(name, tuple_awaitable));
    BOOST_TEST(second == error::not_found, second.message());
}

BOOST_AUTO_TEST_CASE(the_real_token_never_appears_in_logs_or_errors) {
    auto cfg = cluster_config_for("lease");
    const std::string token(cfg.token.reveal());
    BOOST_TEST_REQUIRE(token.size() > 16u);
    std::vector<std::string> lines;
    client_options opts;
    opts.log = {.level = log_level::trace, .sink = [&](log_level, std::string_view l) { lines.emplace_back(l); }};
    asio::io_context io;
    client api{io.get_executor(), cfg, opts};
    lease_client mine{api}, other{api, "default"};
    auto name = test::unique_name("canary");
    std::vector<std::string> errors;
    test::run(io, [&]() -> asio::awaitable<void> {
        diagnostics d;
        request_options o{.diag = &d};
        auto record = [&](error_code ec) { errors.push_back(ec.message() + " | " + d.to_string()); };
        auto [e1, l1] = co_await mine.get(name, o, tuple_awaitable); // 404
        record(e1);
        auto wanted = new_lease(name, "a");
        auto [e2, created] = co_await mine.create(wanted, o, tuple_awaitable);
        record(e2);
        auto [e3, l3] = co_await mine.create(wanted, o, tuple_awaitable); // 409
        record(e3);
        delete_preconditions none;
        auto [e4] = co_await mine.remove(name, none, o, tuple_awaitable); // 403
        record(e4);
        auto [e5, l5] = co_await other.get(name, o, tuple_awaitable); // 403
        record(e5);
    }());
    BOOST_TEST(lines.size() >= 5u);
    for (const auto& l : lines) BOOST_TEST(l.find(token) == std::string::npos, l);
    for (const auto& e : errors) BOOST_TEST(e.find(token) == std::string::npos, e);
}

BOOST_AUTO_TEST_SUITE_END()
