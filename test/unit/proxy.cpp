// The proxy rules: kubeconfig proxy-url, and HTTPS_PROXY / NO_PROXY as Go's
// net/http/httpproxy reads them (the cases follow its tests).
#include "support/printing.hpp"

#include <leaselocker/detail/proxy.hpp>
#include <leaselocker/error.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <optional>
#include <vector>

using namespace leaselocker;
using namespace leaselocker::detail;

BOOST_AUTO_TEST_SUITE(proxy)

BOOST_AUTO_TEST_CASE(proxy_urls) {
    auto p = parse_proxy_url("http://proxy.corp:3128", "f");
    BOOST_TEST(p.host == "proxy.corp");
    BOOST_TEST(p.port == 3128);
    BOOST_TEST(p.authorization.empty());
    BOOST_TEST(p.display == "http://proxy.corp:3128");
    p = parse_proxy_url("proxy.corp", "f"); // no scheme: http://, port 80 (Go)
    BOOST_TEST(p.host == "proxy.corp");
    BOOST_TEST(p.port == 80);
    p = parse_proxy_url("HTTP://[::1]:8080/", "f");
    BOOST_TEST(p.host == "::1");
    BOOST_TEST(p.display == "http://[::1]:8080");
    // user:password, percent-decoded, as Basic; never in display.
    p = parse_proxy_url("http://al%40ice:s%3Acret@10.1.2.3:3128", "f");
    BOOST_TEST(p.authorization.reveal() == "Basic YWxAaWNlOnM6Y3JldA=="); // "al@ice:s:cret"
    BOOST_TEST(p.display == "http://10.1.2.3:3128");
    for (const char* bad : {"https://proxy:443", "socks5://proxy:1080", "http://:3128", "http://proxy:0", "http://proxy:99999",
                            "http://u:%zz@proxy:1"}) {
        try {
            parse_proxy_url(bad, "clusters[k].proxy-url");
            BOOST_ERROR("accepted " << bad);
        } catch (const config_error& e) {
            BOOST_TEST(std::string(e.what()).starts_with("clusters[k].proxy-url: "), e.what());
            BOOST_TEST(e.code() == error::config_invalid);
        }
    }
    try {
        parse_proxy_url("socks5://user:CANARY-PW@proxy:1080", "f");
        BOOST_ERROR("accepted a socks5 proxy");
    } catch (const config_error& e) {
        BOOST_TEST(std::string(e.what()).find("CANARY-PW") == std::string::npos, e.what());
    }
}

BOOST_AUTO_TEST_CASE(no_proxy_rules_as_go_reads_them) {
    struct no_proxy_case {
        std::string no_proxy, host;
        std::uint16_t port;
        bool proxied;
    };
    const std::vector<no_proxy_case> cases = {
        // never for localhost or loopback, whatever NO_PROXY says
        {"", "localhost", 443, false},
        {"", "LocalHost", 443, true}, // Go compares "localhost" as written
        {"", "127.0.0.1", 443, false},
        {"", "127.1.2.3", 443, false},
        {"", "::1", 443, false},
        {"", "api.example.com", 443, true},
        {"", "10.0.0.1", 443, true},
        // "*": nothing
        {"*", "api.example.com", 443, false},
        {"foo.com, *", "10.0.0.1", 443, false},
        // a domain: itself and its subdomains, case-insensitive, not a suffix of another label
        {"example.com", "example.com", 443, false},
        {"example.com", "API.Example.COM", 443, false},
        {"example.com", "badexample.com", 443, true},
        {"EXAMPLE.com", "a.b.example.com", 443, false},
        // ".domain" and "*.domain": subdomains only
        {".example.com", "example.com", 443, true},
        {".example.com", "api.example.com", 443, false},
        {"*.example.com", "example.com", 443, true},
        {"*.example.com", "api.example.com", 443, false},
        // with a port: only that port
        {"example.com:6443", "api.example.com", 6443, false},
        {"example.com:6443", "api.example.com", 443, true},
        // IPs and CIDRs
        {"10.0.0.1", "10.0.0.1", 443, false},
        {"10.0.0.1", "10.0.0.2", 443, true},
        {"10.0.0.1:6443", "10.0.0.1", 443, true},
        {"10.0.0.1:6443", "10.0.0.1", 6443, false},
        {"10.0.0.0/8", "10.200.3.4", 443, false},
        {"10.0.0.0/8", "11.0.0.1", 443, true},
        {"10.0.0.0/8", "ten.example.com", 443, true}, // a CIDR matches addresses, not names
        {"fd00::/8", "fd12::1", 443, false},
        {"fd00::/8", "fe80::1", 443, true},
        {"[fd00::1]:443", "fd00::1", 443, false},
        {"fd00::1", "fd00::1", 6443, false},
        // spaces and empty entries are skipped
        {" , foo.com ,, 10.0.0.0/8 ", "10.1.1.1", 443, false},
        {" , foo.com ,, ", "bar.com", 443, true},
    };
    for (const auto& c : cases)
        BOOST_TEST(proxy_applies(c.no_proxy, c.host, c.port) == c.proxied,
                   "NO_PROXY=\"" << c.no_proxy << "\" host " << c.host << ":" << c.port << " want proxied=" << c.proxied);
}

BOOST_AUTO_TEST_CASE(the_environment_as_go_reads_it) {
    struct saved_env {
        std::vector<std::pair<std::string, std::optional<std::string>>> old;
        void set(const char* name, const char* value) {
            const char* o = std::getenv(name);
            old.emplace_back(name, o ? std::optional<std::string>(o) : std::nullopt);
            if (value) ::setenv(name, value, 1); else ::unsetenv(name);
        }
        ~saved_env() {
            for (auto it = old.rbegin(); it != old.rend(); ++it)
                if (it->second) ::setenv(it->first.c_str(), it->second->c_str(), 1); else ::unsetenv(it->first.c_str());
        }
    } env;
    env.set("HTTPS_PROXY", "http://upper:1");
    env.set("https_proxy", "http://lower:2");
    env.set("NO_PROXY", nullptr);
    env.set("no_proxy", "lower.example");
    env.set("REQUEST_METHOD", "");
    auto e = proxy_environment::from_process();
    BOOST_TEST(e.https_proxy == "http://upper:1"); // the upper-case one wins
    BOOST_TEST(e.no_proxy == "lower.example");     // else the lower-case one
    BOOST_TEST(!e.cgi);                            // REQUEST_METHOD empty: not CGI, as in Go
    env.set("REQUEST_METHOD", "GET");
    BOOST_TEST(proxy_environment::from_process().cgi);
}

BOOST_AUTO_TEST_CASE(which_proxy_a_client_uses) {
    proxy_environment env{.https_proxy = "http://envproxy:3128", .http_proxy = "http://plainproxy:3128", .no_proxy = ".internal"};
    // proxy-url wins, and is used even for loopback (client-go's ProxyURL)
    auto p = choose_proxy(true, "127.0.0.1", 6443, "http://kcproxy:8080", env, "kc");
    BOOST_REQUIRE(p);
    BOOST_TEST(p->host == "kcproxy");
    // the environment: HTTPS_PROXY for https, NO_PROXY honoured, loopback never
    p = choose_proxy(true, "api.example.com", 6443, "", env, "kc");
    BOOST_REQUIRE(p);
    BOOST_TEST(p->host == "envproxy");
    BOOST_TEST(!choose_proxy(true, "api.internal", 6443, "", env, "kc"));
    BOOST_TEST(!choose_proxy(true, "127.0.0.1", 6443, "", env, "kc"));
    BOOST_TEST(!choose_proxy(true, "api.example.com", 6443, "", proxy_environment{}, "kc"));
    // HTTP_PROXY for http://, but not in a CGI program (Go's httpoxy rule)
    p = choose_proxy(false, "api.example.com", 80, "", env, "kc");
    BOOST_REQUIRE(p);
    BOOST_TEST(p->host == "plainproxy");
    env.cgi = true;
    BOOST_TEST(!choose_proxy(false, "api.example.com", 80, "", env, "kc"));
    // a bad environment proxy names the variable
    env.https_proxy = "socks5://s:1080";
    try {
        choose_proxy(true, "api.example.com", 6443, "", env, "kc");
        BOOST_ERROR("accepted a socks5 HTTPS_PROXY");
    } catch (const config_error& e) {
        BOOST_TEST(std::string(e.what()).starts_with("HTTPS_PROXY: "), e.what());
    }
}

BOOST_AUTO_TEST_SUITE_END()
