// Which HTTP CONNECT proxy, if any, a client goes through: a kubeconfig's
// proxy-url, else the environment as Go's net/http/httpproxy reads it (what
// kubectl and client-go do). Pure functions, so the rules are unit-tested.
#pragma once

#include <leaselocker/config/secret.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace leaselocker::detail {

struct proxy_endpoint {
    std::string host; // unbracketed
    std::uint16_t port = 0;
    // "Basic …" from the URL's user:password (percent-decoded), or empty.
    secret authorization;
    // "http://host:port": never the credentials.
    std::string display;
};

// HTTPS_PROXY, HTTP_PROXY and NO_PROXY (each also lower case; the upper-case
// one wins, as in Go), and whether this is a CGI program (REQUEST_METHOD
// set: HTTP_PROXY is then not trusted, as in Go).
struct proxy_environment {
    std::string https_proxy, http_proxy, no_proxy;
    bool cgi = false;

    static proxy_environment from_process();
};

// Parses a proxy URL: http://[user[:password]@]host[:port][/], a bare
// host[:port] taken as http:// (as Go does). Throws config_error naming
// `field` for anything else: other schemes (https://, socks5://) are not
// supported. Never puts the URL's credentials into a message.
proxy_endpoint parse_proxy_url(const std::string& url, const std::string& field);

// Go's useProxy: false for "localhost" and loopback IPs, and for hosts
// NO_PROXY matches: "*"; an IP or CIDR; a domain "example.com" (itself and
// its subdomains), ".example.com" or "*.example.com" (subdomains only);
// each optionally with ":port". Host compared case-insensitively.
bool proxy_applies(const std::string& no_proxy, const std::string& host, std::uint16_t port);

// The proxy for a server (host unbracketed): `proxy_url` if set (always
// used, also for loopback, as client-go's proxy-url), else the
// environment's. `source` names where proxy_url came from, for errors.
std::optional<proxy_endpoint> choose_proxy(bool tls, const std::string& host, std::uint16_t port, const std::string& proxy_url,
                                           const proxy_environment& env, const std::string& source);

} // namespace leaselocker::detail
