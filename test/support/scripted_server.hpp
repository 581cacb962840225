// An in-process HTTP(S) server on 127.0.0.1 for what a real API server will
// not do on demand: 429 with Retry-After, 5xx storms, resets mid-body, slow
// bodies, malformed or oversized responses, closed keep-alive connections.
#pragma once

#include <leaselocker/config/cluster_config.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace leaselocker::test {

struct recorded_request {
    std::string method;
    std::string target;
    std::string authorization;
    std::string body;
};

// What the server does with one request.
struct reply {
    enum class mode {
        normal,              // send the response, keep the connection
        close_after,         // send it, then close the connection
        reset_mid_body,      // send the head and half the body, then reset
        slow_body,           // send the body one byte per byte_interval
        close_without_reply, // close as soon as the request is read
    };
    unsigned status = 200;
    std::string body = "{}";
    std::vector<std::pair<std::string, std::string>> headers;
    mode how = mode::normal;
    std::chrono::milliseconds delay{0};
    std::chrono::milliseconds byte_interval{0};
    // If set, called on the server's executor with a function that lets
    // this reply go (from any thread); the reply waits for it (at most 10 s).
    // Tests use it to send several replies at one moment.
    std::function<void(std::function<void()> release)> hold;
};

class scripted_server {
public:
    // Listens on 127.0.0.1 on a free port, with TLS (test_pki) or plain HTTP.
    explicit scripted_server(boost::asio::any_io_executor ex, bool tls = true);
    // With TLS, serving this certificate chain and key (PEM) instead of
    // test_pki's (e.g. the cluster CA's expired or wrong-name ones).
    scripted_server(boost::asio::any_io_executor ex, const std::string& cert_pem, const std::string& key_pem);
    ~scripted_server();

    // The cluster config that reaches this server and trusts its certificate.
    cluster_config config() const;
    unsigned short port() const;

    // Replies are taken from the queue first, then from the handler (if
    // none: 200 "{}").
    void push(reply r);
    void on_request(std::function<reply(const recorded_request&)> handler);

    const std::vector<recorded_request>& requests() const;
    // Off: requests are not kept (a benchmark sends millions).
    void keep_requests(bool keep);
    std::size_t connections_accepted() const;

private:
    struct state;
    std::shared_ptr<state> state_;
};

} // namespace leaselocker::test
