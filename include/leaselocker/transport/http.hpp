/// @file
/// One HTTP exchange with the API server, as the transport sees it.
#pragma once

#include <leaselocker/error.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace leaselocker {

enum class http_method { get, post, put, patch, delete_ };

struct http_request {
    http_method method = http_method::get;
    /// Path and query below the server URL, e.g. "/apis/coordination.k8s.io/v1/...".
    std::string target;
    std::string body;                              ///< JSON; empty for none
    std::string content_type = "application/json"; // sent when body is not empty
    /// Deadline for the whole exchange (connect, TLS, write, read, and any
    /// retry on a stale keep-alive connection); zero means the client's default.
    std::chrono::milliseconds timeout{0};
    /// Filled on failure with what went wrong; must outlive the operation.
    diagnostics* diag = nullptr;
};

struct http_response {
    unsigned status = 0;
    std::string body;
    std::string content_type;
    std::string date; ///< the Date header: the server's clock, 1 s resolution
    /// From Retry-After on 429/503 (seconds form).
    std::optional<std::chrono::seconds> retry_after;
};

} // namespace leaselocker
