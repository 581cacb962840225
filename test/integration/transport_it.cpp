// The transport and the Lease API against the real local control plane:
// TLS verified against the cluster's CA, both kubeconfig forms, a Lease
// round trip, and the least-privilege identity's limits.
#include "support/cluster_env.hpp"
#include "support/printing.hpp"
#include "support/run.hpp"
#include "support/scripted_server.hpp"
#include "support/temp_dir.hpp"

#include <leaselocker/leaselocker.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;
using test::cluster;
using test::cluster_config_for;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

asio::awaitable<std::pair<error_code, http_response>> get_version(client& c, diagnostics* diag = nullptr) {
    // Named: GCC 12 mishandles class temporaries inside a co_await operand.
    http_request req{.method = http_method::get, .target = "/version", .diag = diag};
    auto [ec, resp] = co_await c.request(std::move(req), tuple_awaitable);
    co_return std::pair{ec, resp};
}

} // namespace

BOOST_AUTO_TEST_SUITE(transport_it)

BOOST_AUTO_TEST_CASE(reads_version_with_tls_verified_against_the_cluster_ca) {
    for (bool inline_form : {false, true}) {
        asio::io_context io;
        client api{io.get_executor(), cluster_config_for("admin", inline_form)};
        auto [ec, resp] = test::run(io, get_version(api));
        BOOST_TEST_REQUIRE(!ec, ec.message());
        BOOST_TEST(resp.status == 200u);
        auto version = boost::json::parse(resp.body).as_object();
        BOOST_TEST(version.at("gitVersion").as_string().starts_with("v1.36."));
        BOOST_TEST(!resp.date.empty());
    }
}

BOOST_AUTO_TEST_CASE(five_requests_in_a_row_on_one_client) {
    asio::io_context io;
    client api{io.get_executor(), cluster_config_for("lease")};
    auto statuses = test::run(io, [&]() -> asio::awaitable<std::vector<unsigned>> {
        std::vector<unsigned> out;
        for (int i = 0; i < 5; ++i) {
            auto [ec, resp] = co_await get_version(api);
            BOOST_TEST_REQUIRE(!ec, ec.message());
            out.push_back(resp.status);
        }
        co_return out;
    }());
    BOOST_TEST(statuses == std::vector<unsigned>(5, 200u), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(fails_closed_with_a_tls_error_against_the_wrong_ca) {
    asio::io_context io;
    auto cfg = cluster_config_for("admin");
    cfg.certificate_authority_pem = read(cluster().pki("other-ca.crt"));
    client api{io.get_executor(), cfg};
    diagnostics diag;
    auto [ec, resp] = test::run(io, get_version(api, &diag));
    BOOST_TEST(ec == error::tls, ec.message());
    BOOST_TEST(ec == condition::permanent);
    BOOST_TEST(resp.status == 0u);
    BOOST_TEST(diag.client_message.find("certificate verify failed") != std::string::npos, diag.client_message);
}

BOOST_AUTO_TEST_CASE(fails_closed_when_the_name_does_not_match_the_certificate) {
    asio::io_context io;
    auto cfg = cluster_config_for("admin");
    cfg.tls_server_name = "wrong.example"; // the serving cert has 127.0.0.1 and localhost only
    client api{io.get_executor(), cfg};
    diagnostics diag;
    auto [ec, resp] = test::run(io, get_version(api, &diag));
    BOOST_TEST(ec == error::tls, ec.message());
    BOOST_TEST(diag.client_message.find("certificate verify failed") != std::string::npos, diag.client_message);
}

// A server presenting `cert` (signed by the cluster's CA) on 127.0.0.1; the
// client trusts the cluster's CA. The handshake must fail closed.
std::pair<error_code, diagnostics> handshake_with(const std::string& cert, const std::string& key) {
    asio::io_context io;
    test::scripted_server server{io.get_executor(), read(cluster().pki(cert)), read(cluster().pki(key))};
    auto cfg = cluster_config_for("admin");
    cfg.server = "https://127.0.0.1:" + std::to_string(server.port());
    client api{io.get_executor(), cfg};
    diagnostics diag;
    auto [ec, resp] = test::run(io, get_version(api, &diag));
    BOOST_TEST(resp.status == 0u);
    BOOST_TEST(server.requests().empty()); // nothing was sent: no token went out
    return {ec, diag};
}

BOOST_AUTO_TEST_CASE(fails_closed_against_a_certificate_for_another_name) {
    auto [ec, diag] = handshake_with("wrong-san.crt", "wrong-san.key");
    BOOST_TEST(ec == error::tls, ec.message());
    BOOST_TEST(ec == condition::permanent);
    BOOST_TEST(diag.client_message.find("certificate verify failed") != std::string::npos, diag.client_message);
}

BOOST_AUTO_TEST_CASE(fails_closed_against_an_expired_certificate) {
    auto [ec, diag] = handshake_with("expired.crt", "expired.key");
    BOOST_TEST(ec == error::tls, ec.message());
    BOOST_TEST(diag.client_message.find("expired") != std::string::npos, diag.client_message);
}

BOOST_AUTO_TEST_CASE(refuses_a_ca_together_with_insecure_skip_verify) {
    asio::io_context io;
    auto cfg = cluster_config_for("admin");
    cfg.insecure_skip_tls_verify = true; // with the CA still set: which one is meant?
    try {
        client api{io.get_executor(), cfg};
        BOOST_FAIL("a client was built");
    } catch (const config_error& e) {
        BOOST_TEST(e.code() == error::config_invalid);
        BOOST_TEST(std::string(e.what()).find("insecure-skip-tls-verify") != std::string::npos, e.what());
    }
}

BOOST_AUTO_TEST_CASE(tls_server_name_is_the_name_verified) {
    // 127.0.0.1 in the URL, "localhost" (also in the serving certificate)
    // checked and sent as SNI: the handshake succeeds.
    asio::io_context io;
    auto cfg = cluster_config_for("admin");
    cfg.tls_server_name = "localhost";
    client api{io.get_executor(), cfg};
    auto [ec, resp] = test::run(io, get_version(api));
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(resp.status == 200u);
}

// Replaces a file as a Secret volume or cert-manager does: a new file
// renamed over the old one.
void replace_file(const test::temp_dir& dir, const std::string& name, const std::string& content) {
    auto next = dir.write(name + ".next", content);
    std::filesystem::rename(next, dir.path() / name);
}

BOOST_AUTO_TEST_CASE(a_rotated_certificate_authority_file_is_used_without_a_restart) {
    test::temp_dir dir;
    const auto wrong = read(cluster().pki("other-ca.crt")), right = read(cluster().pki("ca.crt"));
    auto cfg = cluster_config_for("admin");
    cfg.certificate_authority_file = dir.write("ca.crt", wrong);
    cfg.certificate_authority_pem = wrong;
    std::vector<std::string> warnings;
    asio::io_context io;
    client local{io.get_executor(), cfg, {.log = {.sink = [&](log_level, std::string_view m) { warnings.emplace_back(m); }}}};
    auto [ec, resp] = test::run(io, get_version(local));
    BOOST_TEST(ec == error::tls, ec.message());

    replace_file(dir, "ca.crt", right); // the CA the server's certificate is signed by
    std::tie(ec, resp) = test::run(io, get_version(local));
    BOOST_TEST_REQUIRE(!ec, ec.message());
    BOOST_TEST(resp.status == 200u);

    // Half-written (not PEM), then truncated to nothing while rewritten in
    // place: the CA in use stays (empty would mean the system's CAs), with
    // one warning per change, not per request.
    replace_file(dir, "ca.crt", "-----BEGIN CERTIFICATE-----\ntruncat");
    local.cancel(); // no idle connection: the next request opens one
    std::tie(ec, resp) = test::run(io, get_version(local));
    BOOST_TEST(!ec, ec.message());
    std::tie(ec, resp) = test::run(io, get_version(local));
    BOOST_TEST_REQUIRE(warnings.size() == 1u);
    BOOST_TEST(warnings[0].find("keeping the TLS settings in use") != std::string::npos, warnings[0]);
    std::ofstream(dir.path() / "ca.crt", std::ios::trunc).flush();
    local.cancel();
    std::tie(ec, resp) = test::run(io, get_version(local));
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST_REQUIRE(warnings.size() == 2u);
    BOOST_TEST(warnings[1].find("empty") != std::string::npos, warnings[1]);

    // Rotated to a CA that does not sign the server's certificate: new
    // connections are refused (the open one was closed by the rotation).
    replace_file(dir, "ca.crt", wrong);
    std::tie(ec, resp) = test::run(io, get_version(local));
    BOOST_TEST(ec == error::tls, ec.message());
}

BOOST_AUTO_TEST_CASE(a_rotated_client_certificate_is_used_without_a_restart) {
    test::temp_dir dir;
    // At first a certificate the API server does not take for a client
    // (a serving certificate: no clientAuth usage).
    const auto bad_cert = read(cluster().pki("wrong-san.crt")), bad_key = read(cluster().pki("wrong-san.key"));
    auto cfg = cluster_config_for("admin");
    cfg.client_certificate_file = dir.write("tls.crt", bad_cert);
    cfg.client_key_file = dir.write("tls.key", bad_key);
    cfg.client_certificate_pem = bad_cert;
    cfg.client_key_pem = secret(bad_key);
    asio::io_context io;
    client api{io.get_executor(), cfg};
    http_request req{.method = http_method::get, .target = "/api/v1/namespaces/" + cluster().namespace_name + "/configmaps"};
    auto [ec, resp] = test::run(io, api.request(req, tuple_awaitable));
    BOOST_TEST((ec || resp.status == 401u || resp.status == 403u), "a serving certificate let through: " << resp.status);

    replace_file(dir, "tls.key", read(cluster().pki("admin.key")));
    replace_file(dir, "tls.crt", read(cluster().pki("admin.crt")));
    std::tie(ec, resp) = test::run(io, api.request(req, tuple_awaitable));
    BOOST_TEST_REQUIRE(!ec, ec.message());
    BOOST_TEST(resp.status == 200u, resp.body);
}

BOOST_AUTO_TEST_CASE(lease_round_trip_create_then_get) {
    asio::io_context io;
    client api{io.get_executor(), cluster_config_for("lease")};
    lease_client leases{api};
    BOOST_TEST(leases.namespace_name() == cluster().namespace_name);

    const auto acquired = micro_time{std::chrono::microseconds(1'790'000'000'123'456)};
    lease wanted;
    wanted.metadata.name = test::unique_name("round-trip");
    wanted.metadata.labels = {{"app", "leaselocker-test"}};
    wanted.spec.holder_identity = "holder-a";
    wanted.spec.lease_duration_seconds = 15;
    wanted.spec.acquire_time = acquired;
    wanted.spec.renew_time = acquired + 1500ms;
    wanted.spec.lease_transitions = 0;

    auto [created, fetched] = test::run(io, [&]() -> asio::awaitable<std::pair<lease, lease>> {
        diagnostics diag;
        request_options opts{.diag = &diag};
        auto [cec, c] = co_await leases.create(wanted, opts, tuple_awaitable);
        BOOST_TEST_REQUIRE(!cec, cec.message() << " " << diag.to_string());
        auto [gec, g] = co_await leases.get(wanted.metadata.name, opts, tuple_awaitable);
        BOOST_TEST_REQUIRE(!gec, gec.message() << " " << diag.to_string());
        co_return std::pair{c, g};
    }());
    BOOST_TEST(!created.metadata.uid.empty());
    BOOST_TEST(!created.metadata.resource_version.empty());
    BOOST_TEST(fetched.metadata.uid == created.metadata.uid);
    BOOST_TEST(fetched.metadata.resource_version == created.metadata.resource_version);
    BOOST_TEST(fetched.metadata.labels.at("app") == "leaselocker-test");
    BOOST_TEST(*fetched.spec.holder_identity == "holder-a");
    BOOST_TEST(*fetched.spec.lease_duration_seconds == 15);
    BOOST_TEST((*fetched.spec.acquire_time == acquired));
    BOOST_TEST((*fetched.spec.renew_time == acquired + 1500ms));
    BOOST_TEST(*fetched.spec.lease_transitions == 0);
    // The server stores what we sent to the microsecond, six digits in UTC.
    BOOST_TEST(fetched.raw.find("\"acquireTime\":\"2026-09-21T") != std::string::npos, fetched.raw);
}

BOOST_AUTO_TEST_CASE(least_privilege_identity_gets_403_on_delete_and_in_another_namespace) {
    asio::io_context io;
    client api{io.get_executor(), cluster_config_for("lease")};
    lease_client mine{api};
    lease_client other{api, "default"};
    auto name = test::unique_name("privilege");
    auto [create_ec, delete_ec, other_ec, diag] = test::run(io, [&]() -> asio::awaitable<std::tuple<error_code, error_code, error_code, diagnostics>> {
        lease l;
        l.metadata.name = name;
        auto [cec, created] = co_await mine.create(l, tuple_awaitable);
        diagnostics d;
        request_options opts{.diag = &d};
        delete_preconditions none;
        auto [dec] = co_await mine.remove(name, none, opts, tuple_awaitable);
        auto [oec, ol] = co_await other.get(name, tuple_awaitable);
        co_return std::tuple{cec, dec, oec, d};
    }());
    BOOST_TEST(!create_ec, create_ec.message());
    BOOST_TEST(delete_ec == error::forbidden, delete_ec.message());
    BOOST_TEST(delete_ec == condition::permanent);
    BOOST_TEST(diag.server_message.find("cannot delete resource \"leases\"") != std::string::npos, diag.server_message);
    BOOST_TEST(other_ec == error::forbidden, other_ec.message());

    // The admin may delete it, so the limit is the identity's, not the server's.
    client admin{io.get_executor(), cluster_config_for("admin")};
    lease_client admin_leases{admin};
    auto [admin_delete] = test::run(io, admin_leases.remove(name, {}, tuple_awaitable));
    BOOST_TEST(!admin_delete, admin_delete.message());
}

BOOST_AUTO_TEST_SUITE_END()
