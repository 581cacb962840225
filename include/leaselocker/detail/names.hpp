#pragma once

#include <string_view>

namespace leaselocker::detail {

// A DNS-1123 subdomain: at most 253 characters of lowercase alphanumeric
// labels with inner '-', joined by '.'. What Kubernetes requires of a
// Lease's name and a namespace is a stricter label (at most 63, no '.').
bool is_dns1123_subdomain(std::string_view s) noexcept;
bool is_dns1123_label(std::string_view s) noexcept;

} // namespace leaselocker::detail
