/// @file
/// One HTTP exchange with the API server, as the transport sees it.
#pragma once

#include <leaselocker/error.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace leaselocker {

/// The request method (`delete_`: DELETE, as `delete` is a keyword).
enum class http_method { get, post, put, patch, delete_ };

/// One request to the API server, for client::request or client::open_stream.
struct http_request {
    http_method method = http_method::get; ///< GET by default
    /// Path and query below the server URL, e.g. "/apis/coordination.k8s.io/v1/...".
    std::string target;
    std::string body;                              ///< JSON; empty for none
    std::string content_type = "application/json"; ///< sent when body is not empty
    /// Deadline for the whole exchange (connect, TLS, write, read, and any
    /// retry on a stale keep-alive connection); zero means the client's default.
    std::chrono::milliseconds timeout{0};
    /// Filled on failure with what went wrong; must outlive the operation.
    diagnostics* diag = nullptr;
};

/// A whole response, as client::request completes with it (whatever its
/// status).
struct http_response {
    unsigned status = 0;      ///< the HTTP status code (200, 404, ...)
    std::string body;         ///< the whole body (for a non-2xx status, usually a Kubernetes Status)
    std::string content_type; ///< the Content-Type header; empty if absent
    std::string date; ///< the Date header: the server's clock, 1 s resolution
    /// From Retry-After on 429/503 (seconds form).
    std::optional<std::chrono::seconds> retry_after;
};

} // namespace leaselocker
