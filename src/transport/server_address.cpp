#include "server_address.hpp"

#include <boost/asio/ip/address.hpp>

#include <charconv>

namespace leaselocker::detail {

server_address parse_server_address(const std::string& url, const std::string& source) {
    auto bad = [&](const std::string& why) {
        return config_error(make_error_code(error::config_invalid), source + ": server \"" + url + "\": " + why);
    };
    server_address a;
    std::string_view rest = url;
    if (rest.starts_with("https://")) {
        rest.remove_prefix(8);
    } else if (rest.starts_with("http://")) {
        a.tls = false;
        a.port = 80;
        rest.remove_prefix(7);
    } else {
        throw bad("not an http(s) URL");
    }
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) {
        a.base_path = std::string(rest.substr(slash));
        while (!a.base_path.empty() && a.base_path.back() == '/') a.base_path.pop_back();
    }
    if (authority.find('@') != std::string_view::npos) throw bad("credentials in the URL are not supported");
    std::string_view port;
    if (authority.starts_with("[")) {
        auto close = authority.find(']');
        if (close == std::string_view::npos) throw bad("unterminated IPv6 literal");
        a.host = std::string(authority.substr(0, close + 1));
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') throw bad("unexpected text after the IPv6 literal");
            port = authority.substr(close + 2);
        }
    } else {
        auto colon = authority.rfind(':');
        a.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (a.host.empty() || a.host == "[]") throw bad("no host");
    if (!port.empty()) {
        unsigned value = 0;
        auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc() || p != port.data() + port.size() || value == 0 || value > 65535) throw bad("invalid port");
        a.port = static_cast<std::uint16_t>(value);
    }
    a.host_header = port.empty() ? a.host : a.host + ":" + std::string(port);
    if (!a.tls) {
        // Plain HTTP only where nobody can listen in: loopback (kubectl proxy).
        boost::system::error_code ec;
        auto ip = boost::asio::ip::make_address(a.host_unbracketed(), ec);
        if (a.host != "localhost" && (ec || !ip.is_loopback()))
            throw bad("http:// is only allowed to a loopback address; use https://");
    }
    return a;
}

} // namespace leaselocker::detail
