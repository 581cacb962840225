// No secret in any output: tokens and private keys planted in the
// configuration never appear in a log line at the most verbose level, in an
// error message, in diagnostics or in exception text — across whole locker
// runs against the real API server, its refusals, and broken configs.
#include "support/cluster_env.hpp"
#include "support/printing.hpp"
#include "support/run.hpp"

#include <leaselocker/leaselocker.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;
using test::cluster_config_for;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

// Everything the library says, at the most verbose level.
struct transcript {
    std::vector<std::string> lines;
    logger sink() {
        return {.level = log_level::trace, .sink = [this](log_level, std::string_view l) { lines.emplace_back(l); }};
    }
    void add(const std::string& text) { lines.push_back(text); }
    void add(error_code ec) { lines.push_back(ec.message()); }
    // No line holds any of the secrets.
    void check_clean(const std::vector<std::string>& secrets) const {
        for (const auto& s : secrets) {
            BOOST_TEST_REQUIRE(s.size() >= 16u);
            for (const auto& l : lines) BOOST_TEST(l.find(s) == std::string::npos, "secret in: " << l);
        }
    }
};

// Pieces of a PEM private key's body: any of them in an output is a leak.
std::vector<std::string> key_fragments(std::string_view pem) {
    std::vector<std::string> out;
    std::istringstream in{std::string(pem)};
    for (std::string line; std::getline(in, line);)
        if (line.size() >= 40 && line.find("-----") == std::string::npos) out.push_back(line.substr(0, 32));
    return out;
}

lock_config quick(const std::string& identity, transcript& t) {
    return {.lease_duration = 3s, .renew_deadline = 2s, .retry_period = 500ms, .identity = identity, .log = t.sink()};
}

} // namespace

BOOST_AUTO_TEST_SUITE(secrets_it)

BOOST_AUTO_TEST_CASE(no_token_in_any_output_of_a_locker_run_at_trace_level) {
    auto cfg = cluster_config_for("lease");
    const std::vector<std::string> secrets{std::string(cfg.token.reveal())};
    transcript t;
    asio::io_context io;
    client api{io.get_executor(), cfg, client_options{.log = t.sink()}};
    const auto name = test::unique_name("secret");
    lease_locker a{api, {"", name}, quick("sa", t)}, b{api, {"", name}, quick("sb", t)};
    lease_locker elsewhere{api, {"default", name}, quick("sc", t)}; // 403: another namespace
    test::run(io, [&]() -> asio::awaitable<void> {
        co_await a.lock(asio::use_awaitable);
        bool b_done = false;
        b.lock([&](error_code ec) {
            t.add(ec);
            b_done = true;
        });
        asio::steady_timer wait(io, 1200ms);
        co_await wait.async_wait(asio::use_awaitable); // renewals, b waiting on the watch
        co_await a.unlock(asio::use_awaitable);
        while (!b_done) {
            asio::steady_timer tick(io, 10ms);
            co_await tick.async_wait(asio::use_awaitable);
        }
        auto [uec, result] = co_await b.unlock(tuple_awaitable);
        t.add(uec);
        auto [fec] = co_await elsewhere.lock(tuple_awaitable);
        BOOST_TEST(fec == error::forbidden, fec.message());
        t.add(fec);
    }());
    BOOST_TEST(t.lines.size() >= 10u);
    t.check_clean(secrets);
}

BOOST_AUTO_TEST_CASE(no_private_key_in_any_output_with_a_client_certificate) {
    auto cfg = cluster_config_for("admin"); // client certificate authentication
    BOOST_TEST_REQUIRE(!cfg.client_key_pem.empty());
    const auto secrets = key_fragments(cfg.client_key_pem.reveal());
    BOOST_TEST_REQUIRE(!secrets.empty());
    transcript t;
    asio::io_context io;
    client api{io.get_executor(), cfg, client_options{.log = t.sink()}};
    lease_locker locker{api, {"", test::unique_name("secret-key")}, quick("key-holder", t)};
    lease_locker missing{api, {"no-such-namespace", "x"}, quick("key-holder-2", t)};
    test::run(io, [&]() -> asio::awaitable<void> {
        co_await locker.lock(asio::use_awaitable);
        co_await locker.unlock(asio::use_awaitable);
        auto [ec] = co_await missing.lock(tuple_awaitable);
        BOOST_TEST(ec == error::not_found, ec.message());
        t.add(ec);
    }());
    t.check_clean(secrets);
}

BOOST_AUTO_TEST_CASE(a_canary_token_the_server_refuses_appears_nowhere) {
    const std::string canary = "CANARY-TOKEN-9d41c7e2-do-not-print";
    auto cfg = cluster_config_for("lease");
    cfg.token = secret(canary);
    transcript t;
    asio::io_context io;
    client api{io.get_executor(), cfg, client_options{.log = t.sink()}};
    lease_client leases{api};
    lease_locker locker{api, {"", test::unique_name("canary")}, quick("canary-holder", t)};
    test::run(io, [&]() -> asio::awaitable<void> {
        diagnostics diag;
        request_options opts{.diag = &diag};
        auto [gec, l] = co_await leases.get("anything", opts, tuple_awaitable);
        BOOST_TEST(gec == error::unauthorized, gec.message());
        t.add(gec);
        t.add(diag.to_string());
        auto [lec] = co_await locker.lock(tuple_awaitable);
        BOOST_TEST(lec == error::unauthorized, lec.message());
        t.add(lec);
    }());
    t.check_clean({canary});
}

BOOST_AUTO_TEST_CASE(broken_credentials_fail_without_echoing_them) {
    const std::string canary_key = "CANARYKEYMATERIAL0123456789abcdefCANARYKEYMATERIAL0123456789abcdef";
    auto cfg = cluster_config_for("admin");
    cfg.client_key_pem = secret("-----BEGIN PRIVATE KEY-----\n" + canary_key + "\n-----END PRIVATE KEY-----\n");
    asio::io_context io;
    try {
        client api{io.get_executor(), cfg};
        BOOST_FAIL("a client with a broken key was built");
    } catch (const config_error& e) {
        const std::string what = e.what();
        BOOST_TEST(what.find("client-key") != std::string::npos, what); // names the field
        BOOST_TEST(what.find(canary_key.substr(0, 24)) == std::string::npos, what);
    }
}

BOOST_AUTO_TEST_SUITE_END()
