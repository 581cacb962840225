#include "support/printing.hpp"

#include <leaselocker/detail/names.hpp>
#include <leaselocker/detail/status.hpp>

#include <boost/asio/error.hpp>
#include <boost/test/unit_test.hpp>

using namespace leaselocker;
using detail::status_to_error;

BOOST_AUTO_TEST_SUITE(status)

BOOST_AUTO_TEST_CASE(maps_kubernetes_status_to_errors_with_the_server_message) {
    std::string msg;
    auto ec = status_to_error(409, R"({"kind":"Status","status":"Failure","message":"leases.coordination.k8s.io \"x\" already exists","reason":"AlreadyExists","code":409})", msg);
    BOOST_TEST(ec == error::already_exists);
    BOOST_TEST(msg == "leases.coordination.k8s.io \"x\" already exists");
    msg.clear();
    ec = status_to_error(409, R"({"kind":"Status","message":"the object has been modified","reason":"Conflict","code":409})", msg);
    BOOST_TEST(ec == error::conflict);
    BOOST_TEST(ec == condition::transient);

    struct { unsigned code; error want; } table[] = {
        {400, error::bad_request}, {401, error::unauthorized}, {403, error::forbidden}, {404, error::not_found},
        {405, error::method_not_allowed}, {410, error::gone}, {422, error::invalid}, {429, error::too_many_requests},
        {500, error::internal_error}, {503, error::service_unavailable}, {504, error::server_timeout}, {418, error::unexpected_status}};
    for (auto [code, want] : table) {
        std::string m;
        BOOST_TEST(status_to_error(code, "{}", m) == want, code);
    }
    std::string m;
    BOOST_TEST(status_to_error(500, R"({"reason":"ServerTimeout"})", m) == error::server_timeout);
    // A proxy in front of the API server while the server is down (found by
    // the long chaos run: lock() gave up on it as if it were permanent).
    BOOST_TEST(status_to_error(502, "Bad Gateway", m) == error::bad_gateway);
    BOOST_TEST(m == "Bad Gateway"); // a plain-text body is kept as the server's message
}

BOOST_AUTO_TEST_CASE(conditions_separate_permanent_from_transient) {
    for (auto e : {error::unauthorized, error::forbidden, error::not_found, error::invalid, error::bad_request, error::tls,
                   error::config_invalid, error::malformed_response, error::response_too_large})
        BOOST_TEST(make_error_code(e) == condition::permanent, make_error_code(e).message());
    for (auto e : {error::conflict, error::too_many_requests, error::internal_error, error::bad_gateway, error::service_unavailable,
                   error::connection, error::gone})
        BOOST_TEST(make_error_code(e) == condition::transient, make_error_code(e).message());
    BOOST_TEST(make_error_code(error::timeout) == condition::timed_out);
    BOOST_TEST(make_error_code(error::server_timeout) == condition::timed_out);
    BOOST_TEST(error_code(boost::asio::error::connection_reset) == condition::transient);
    BOOST_TEST(error_code(boost::asio::error::operation_aborted) != condition::transient);
    BOOST_TEST(error_code(boost::asio::error::operation_aborted) != condition::permanent);
}

BOOST_AUTO_TEST_CASE(dns1123_names) {
    using detail::is_dns1123_subdomain;
    BOOST_TEST(is_dns1123_subdomain("nightly-invoices"));
    BOOST_TEST(is_dns1123_subdomain("a.b-c.d0"));
    BOOST_TEST(is_dns1123_subdomain(std::string(253, 'a')));
    BOOST_TEST(!is_dns1123_subdomain(std::string(254, 'a')));
    for (auto bad : {"", "Upper", "-lead", "trail-", "a..b", ".a", "a.", "under_score", "sp ace", "a/b", "a?b"})
        BOOST_TEST(!is_dns1123_subdomain(bad), bad);
}

BOOST_AUTO_TEST_SUITE_END()
