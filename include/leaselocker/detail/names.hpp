#pragma once

#include <string_view>

namespace leaselocker::detail {

// Names as Kubernetes checks them. A Lease's name is a DNS-1123 subdomain:
// at most 253 characters of lowercase alphanumeric labels with inner '-',
// joined by '.'. A namespace is a DNS-1123 label: at most 63 such
// characters, no '.'.
bool is_dns1123_subdomain(std::string_view s) noexcept;
bool is_dns1123_label(std::string_view s) noexcept;

} // namespace leaselocker::detail
