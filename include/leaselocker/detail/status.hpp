#pragma once

#include <leaselocker/error.hpp>

#include <string>
#include <string_view>

namespace leaselocker::detail {

// Maps a non-2xx response to our error from its HTTP status and the
// Kubernetes Status in its body (reason, message). The server's message,
// verbatim, goes to server_message.
error_code status_to_error(unsigned http_status, std::string_view body, std::string& server_message);

} // namespace leaselocker::detail
