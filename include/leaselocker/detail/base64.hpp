#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace leaselocker::detail {

// Standard base64 (RFC 4648) with optional padding; whitespace is skipped,
// as in kubeconfig *-data fields wrapped by editors. nullopt on bad input.
std::optional<std::string> base64_decode(std::string_view in);

} // namespace leaselocker::detail
