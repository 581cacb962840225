#include <leaselocker/detail/proxy.hpp>
#include <leaselocker/error.hpp>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <string_view>

namespace leaselocker::detail {

namespace ip = boost::asio::ip;

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return std::string(s);
}

std::string env(const char* upper, const char* lower_name) {
    if (const char* v = std::getenv(upper); v && *v) return v;
    if (const char* v = std::getenv(lower_name); v && *v) return v;
    return {};
}

std::optional<ip::address> as_ip(const std::string& host) {
    error_code ec;
    auto a = ip::make_address(host, ec);
    if (ec) return std::nullopt;
    return a;
}

std::string percent_decode(std::string_view s, bool& ok) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        unsigned v = 0;
        if (i + 2 >= s.size() || std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16).ptr != s.data() + i + 3) {
            ok = false;
            return {};
        }
        out += static_cast<char>(v);
        i += 2;
    }
    return out;
}

std::string base64_encode(std::string_view in) {
    static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
        out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], table[v & 63]};
    }
    if (i + 1 == in.size()) {
        unsigned v = (unsigned char)in[i] << 16;
        out += {table[v >> 18], table[(v >> 12) & 63], '=', '='};
    } else if (i + 2 == in.size()) {
        unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
        out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], '='};
    }
    return out;
}

// host[:port] or [v6][:port]; port empty if absent. false if malformed.
bool split_host_port(std::string_view hp, std::string& host, std::string& port) {
    if (hp.starts_with("[")) {
        auto close = hp.find(']');
        if (close == std::string_view::npos) return false;
        host = std::string(hp.substr(1, close - 1));
        auto rest = hp.substr(close + 1);
        if (rest.empty()) return true;
        if (rest[0] != ':') return false;
        port = std::string(rest.substr(1));
        return true;
    }
    auto colon = hp.find(':');
    if (colon != std::string_view::npos && hp.find(':', colon + 1) != std::string_view::npos) {
        host = std::string(hp); // a bare IPv6 address
        return true;
    }
    host = std::string(hp.substr(0, colon));
    if (colon != std::string_view::npos) port = std::string(hp.substr(colon + 1));
    return true;
}

bool cidr_contains(const std::string& cidr, const ip::address& a) {
    error_code ec;
    if (a.is_v4()) {
        auto net = ip::make_network_v4(cidr, ec);
        if (ec) return false;
        return (a.to_v4().to_uint() & net.netmask().to_uint()) == net.network().to_uint();
    }
    auto net = ip::make_network_v6(cidr, ec);
    if (ec) return false;
    auto bytes = a.to_v6().to_bytes();
    auto want = net.network().to_bytes();
    unsigned bits = net.prefix_length();
    for (unsigned i = 0; i < 16 && bits > 0; ++i, bits = bits >= 8 ? bits - 8 : 0) {
        unsigned char mask = bits >= 8 ? 0xff : static_cast<unsigned char>(0xff << (8 - bits));
        if ((bytes[i] & mask) != (want[i] & mask)) return false;
    }
    return true;
}

bool is_cidr(const std::string& s) {
    if (s.find('/') == std::string::npos) return false;
    error_code ec4, ec6;
    ip::make_network_v4(s, ec4);
    if (!ec4) return true;
    ip::make_network_v6(s, ec6);
    return !ec6;
}

} // namespace

proxy_environment proxy_environment::from_process() {
    proxy_environment e;
    e.https_proxy = env("HTTPS_PROXY", "https_proxy");
    e.http_proxy = env("HTTP_PROXY", "http_proxy");
    e.no_proxy = env("NO_PROXY", "no_proxy");
    const char* method = std::getenv("REQUEST_METHOD");
    e.cgi = method && *method; // as Go: set and not empty
    return e;
}

proxy_endpoint parse_proxy_url(const std::string& url, const std::string& field) {
    auto bad = [&](const std::string& why) {
        return config_error(make_error_code(error::config_invalid), field + ": " + why);
    };
    std::string_view rest = url;
    if (auto scheme_end = rest.find("://"); scheme_end != std::string_view::npos) {
        auto scheme = lower(rest.substr(0, scheme_end));
        if (scheme != "http")
            throw bad("proxy scheme \"" + scheme + "\" is not supported (only http:// proxies, which tunnel with CONNECT)");
        rest.remove_prefix(scheme_end + 3);
    }
    rest = rest.substr(0, rest.find_first_of("/?#"));
    proxy_endpoint p;
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        auto userinfo = rest.substr(0, at);
        rest.remove_prefix(at + 1);
        bool ok = true;
        auto colon = userinfo.find(':');
        auto user = percent_decode(userinfo.substr(0, colon), ok);
        auto password = colon == std::string_view::npos ? std::string() : percent_decode(userinfo.substr(colon + 1), ok);
        if (!ok) throw bad("the proxy's credentials are not valid percent-encoding");
        p.authorization = secret("Basic " + base64_encode(user + ":" + password));
    }
    std::string port;
    if (!split_host_port(rest, p.host, port) || p.host.empty()) throw bad("no proxy host in the URL");
    p.port = 80;
    if (!port.empty()) {
        unsigned v = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
        if (ec != std::errc() || end != port.data() + port.size() || v == 0 || v > 65535) throw bad("invalid proxy port");
        p.port = static_cast<std::uint16_t>(v);
    }
    const bool v6 = p.host.find(':') != std::string::npos;
    p.display = "http://" + (v6 ? "[" + p.host + "]" : p.host) + ":" + std::to_string(p.port);
    return p;
}

bool proxy_applies(const std::string& no_proxy, const std::string& raw_host, std::uint16_t port) {
    if (raw_host == "localhost") return false; // compared as written, as Go does
    const auto host = lower(trim(raw_host));
    const auto address = as_ip(host);
    if (address && address->is_loopback()) return false;
    const auto port_text = std::to_string(port);
    std::string_view list = no_proxy;
    while (!list.empty()) {
        auto comma = list.find(',');
        auto entry = lower(trim(list.substr(0, comma)));
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        if (entry.empty()) continue;
        if (entry == "*") return false;
        if (is_cidr(entry)) {
            if (address && cidr_contains(entry, *address)) return false;
            continue;
        }
        std::string phost, pport;
        if (!split_host_port(entry, phost, pport) || phost.empty()) continue;
        if (auto pip = as_ip(phost)) {
            if (address && *address == *pip && (pport.empty() || pport == port_text)) return false;
            continue;
        }
        if (phost.starts_with("*.")) phost.erase(0, 1);
        const bool match_itself = phost[0] != '.';
        if (match_itself) phost = "." + phost;
        const bool matches = host.ends_with(phost) || (match_itself && host == phost.substr(1));
        if (matches && (pport.empty() || pport == port_text)) return false;
    }
    return true;
}

std::optional<proxy_endpoint> choose_proxy(bool tls, const std::string& host, std::uint16_t port, const std::string& proxy_url,
                                           const proxy_environment& env, const std::string& source) {
    if (!proxy_url.empty()) return parse_proxy_url(proxy_url, source + ": proxy-url");
    const std::string& chosen = tls ? env.https_proxy : env.http_proxy;
    if (chosen.empty() || (!tls && env.cgi)) return std::nullopt;
    if (!proxy_applies(env.no_proxy, host, port)) return std::nullopt;
    return parse_proxy_url(chosen, tls ? "HTTPS_PROXY" : "HTTP_PROXY");
}

} // namespace leaselocker::detail
