#include <leaselocker/detail/status.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace leaselocker::detail {

error_code status_to_error(unsigned http_status, std::string_view body, std::string& server_message) {
    std::string reason;
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (!ec && v.is_object()) {
        const auto& o = v.get_object();
        if (auto* r = o.if_contains("reason"); r && r->is_string()) reason = r->get_string();
        if (auto* m = o.if_contains("message"); m && m->is_string()) server_message = m->get_string();
    }
    if (server_message.empty() && !body.empty() && body.size() < 512 && ec)
        server_message = std::string(body); // plain-text errors (proxies, some 5xx)
    switch (http_status) {
    case 400: return error::bad_request;
    case 401: return error::unauthorized;
    case 403: return error::forbidden;
    case 404: return error::not_found;
    case 405: return error::method_not_allowed;
    case 409: return reason == "AlreadyExists" ? error::already_exists : error::conflict;
    case 410: return error::gone;
    case 422: return error::invalid;
    case 429: return error::too_many_requests;
    case 500: return reason == "ServerTimeout" || reason == "Timeout" ? error::server_timeout : error::internal_error;
    case 502: return error::bad_gateway;
    case 503: return error::service_unavailable;
    case 504: return error::server_timeout;
    default: return error::unexpected_status;
    }
}

} // namespace leaselocker::detail
