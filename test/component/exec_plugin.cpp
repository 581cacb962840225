// Exec credential plugins run as real child processes (a small shell
// script), read through the executor.
#include "support/printing.hpp"
#include "support/run.hpp"
#include "support/scripted_server.hpp"
#include "support/temp_dir.hpp"

#include <leaselocker/leaselocker.hpp>
#include <transport/exec_credential.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;

namespace {

// Prints token-N for its N-th run; $EXTRA is appended inside status.
const char* plugin_script = R"(#!/bin/sh
n=$(( $(cat "$STATE/count" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$STATE/count"
printf '%s' "$KUBERNETES_EXEC_INFO" > "$STATE/info"
[ -n "$SLEEP" ] && sleep "$SLEEP"
[ -n "$FAIL" ] && { echo "plugin failed" >&2; exit 3; }
printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"token-%s"%s}}' "$API" "$n" "$EXTRA"
)";

struct fixture {
    asio::io_context io;
    test::scripted_server server{io.get_executor()};
    test::temp_dir dir;
    std::string script = dir.write("bin/plugin", plugin_script);

    fixture() { std::filesystem::permissions(script, std::filesystem::perms::owner_all); }

    cluster_config config(std::vector<std::pair<std::string, std::string>> env = {}, std::string api = "client.authentication.k8s.io/v1") {
        auto cfg = server.config();
        exec_config exec{.api_version = api, .command = script};
        exec.env = {{"STATE", dir.path().string()}, {"API", api}};
        exec.env.insert(exec.env.end(), env.begin(), env.end());
        exec.provide_cluster_info = true;
        cfg.exec = exec;
        return cfg;
    }

    int runs() const {
        std::ifstream in(dir.path() / "count");
        int n = 0;
        in >> n;
        return n;
    }

    std::pair<error_code, diagnostics> send(client& c, std::chrono::milliseconds timeout = 5s) {
        return test::run(io, [&]() -> asio::awaitable<std::pair<error_code, diagnostics>> {
            diagnostics d;
            http_request req{.target = "/x", .timeout = timeout, .diag = &d};
            auto [ec, resp] = co_await c.request(std::move(req), asio::as_tuple(asio::use_awaitable));
            if (!ec && resp.status != 200) ec = make_error_code(error::unexpected_status);
            co_return std::pair{ec, d};
        }());
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(exec_plugin)

BOOST_FIXTURE_TEST_CASE(a_token_without_expiry_is_fetched_once, fixture) {
    client c{io.get_executor(), config()};
    BOOST_TEST(!send(c).first);
    BOOST_TEST(!send(c).first);
    BOOST_TEST(runs() == 1);
    BOOST_TEST(server.requests().at(0).authorization == "Bearer token-1");
    BOOST_TEST(server.requests().at(1).authorization == "Bearer token-1");
    std::ifstream info(dir.path() / "info");
    std::string text((std::istreambuf_iterator<char>(info)), {});
    BOOST_TEST(text.find(R"("kind":"ExecCredential")") != std::string::npos, text);
    BOOST_TEST(text.find(R"("interactive":false)") != std::string::npos, text);
    BOOST_TEST(text.find(R"("server":"https://127.0.0.1:)") != std::string::npos, text); // provideClusterInfo
}

BOOST_FIXTURE_TEST_CASE(an_expiring_token_is_fetched_again, fixture) {
    auto soon = format_micro_time(std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now() + 5s));
    client c{io.get_executor(), config({{"EXTRA", R"(,"expirationTimestamp":")" + soon + "\""}}, "client.authentication.k8s.io/v1beta1")};
    send(c);
    send(c);
    BOOST_TEST(runs() == 2); // within 10 s of its expiry a token is renewed
    BOOST_TEST(server.requests().at(1).authorization == "Bearer token-2");
}

BOOST_FIXTURE_TEST_CASE(a_401_runs_the_plugin_again, fixture) {
    server.on_request([](const test::recorded_request& r) {
        return r.authorization == "Bearer token-2" ? test::reply{} : test::reply{.status = 401};
    });
    client c{io.get_executor(), config()};
    auto [ec, d] = send(c);
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(runs() == 2);
}

BOOST_FIXTURE_TEST_CASE(a_failing_plugin_is_a_clear_error, fixture) {
    client c{io.get_executor(), config({{"FAIL", "1"}})};
    auto [ec, d] = send(c);
    BOOST_TEST(ec == error::credential_unavailable, ec.message());
    BOOST_TEST(d.client_message.find("exited with status 3") != std::string::npos, d.client_message);
    BOOST_TEST(server.requests().empty());
}

BOOST_FIXTURE_TEST_CASE(a_hanging_plugin_is_killed_at_the_deadline, fixture) {
    client c{io.get_executor(), config({{"SLEEP", "30"}})};
    auto start = std::chrono::steady_clock::now();
    auto [ec, d] = send(c, 500ms);
    BOOST_TEST(ec == error::timeout, ec.message());
    BOOST_TEST((std::chrono::steady_clock::now() - start < 3s));
}

BOOST_FIXTURE_TEST_CASE(a_request_cancelled_while_another_runs_the_plugin_ends_at_once_unsent, fixture) {
    // a runs the plugin (1 s); b waits for that run and is cancelled while
    // it waits: b ends then, long before the plugin does, and is never sent.
    client c{io.get_executor(), config({{"SLEEP", "1"}})};
    asio::cancellation_signal cancel_b;
    std::vector<std::string> finished;
    error_code a_result, b_result;
    c.request(http_request{.target = "/a", .timeout = 5s}, [&](error_code ec, http_response) {
        a_result = ec;
        finished.push_back("a");
    });
    c.request(http_request{.target = "/b", .timeout = 5s}, asio::bind_cancellation_slot(cancel_b.slot(), [&](error_code ec, http_response) {
        b_result = ec;
        finished.push_back("b");
    }));
    asio::steady_timer soon(io, 200ms);
    soon.async_wait([&](error_code) { cancel_b.emit(asio::cancellation_type::terminal); });
    for (int i = 0; i < 200 && finished.size() < 2; ++i) io.run_one_for(50ms);
    BOOST_TEST_REQUIRE(finished.size() == 2u);
    BOOST_TEST(finished[0] == "b"); // at the cancellation, not after the plugin's run
    BOOST_TEST(b_result == asio::error::operation_aborted, b_result.message());
    BOOST_TEST(!a_result, a_result.message());
    BOOST_TEST_REQUIRE(server.requests().size() == 1u);
    BOOST_TEST(server.requests()[0].target == "/a");
    BOOST_TEST(runs() == 1);
}

BOOST_FIXTURE_TEST_CASE(an_unusable_client_certificate_from_the_plugin_is_a_clear_error, fixture) {
    // Not an exception out of io.run(): credential_unavailable, and no request.
    client c{io.get_executor(), config({{"EXTRA", R"(,"clientCertificateData":"not a certificate","clientKeyData":"not a key")"}})};
    auto [ec, d] = send(c);
    BOOST_TEST(ec == error::credential_unavailable, ec.message());
    BOOST_TEST(d.client_message.find("client certificate") != std::string::npos, d.client_message);
    BOOST_TEST(d.client_message.find("not a key") == std::string::npos, d.client_message); // no secret echoed
    BOOST_TEST(server.requests().empty());
}

BOOST_FIXTURE_TEST_CASE(output_of_another_api_version_is_refused, fixture) {
    auto cfg = config();
    cfg.exec->env.push_back({"API", "client.authentication.k8s.io/v1beta1"}); // later entries win in the environment
    client c{io.get_executor(), cfg};
    auto [ec, d] = send(c);
    BOOST_TEST(ec == error::credential_unavailable, ec.message());
    BOOST_TEST(d.client_message.find("apiVersion") != std::string::npos, d.client_message);
}

BOOST_AUTO_TEST_CASE(parses_exec_credentials) {
    error_code ec;
    std::string failure;
    auto c = detail::parse_exec_credential(
        R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"SECRET-T","expirationTimestamp":"2030-01-01T00:00:00Z"}})",
        "client.authentication.k8s.io/v1", ec, failure);
    BOOST_TEST(!ec);
    BOOST_TEST(c.token.reveal() == "SECRET-T");
    BOOST_TEST(c.expiry.has_value());
    for (auto bad : {R"(not json SECRET-T)", R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1"})",
                     R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"clientKeyData":"SECRET-T"}})",
                     R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"SECRET-T","expirationTimestamp":"soon"}})"}) {
        error_code e;
        std::string f;
        detail::parse_exec_credential(bad, "client.authentication.k8s.io/v1", e, f);
        BOOST_TEST(e == error::credential_unavailable, bad);
        BOOST_TEST(f.find("SECRET-T") == std::string::npos, f);
    }
}

BOOST_AUTO_TEST_SUITE_END()
