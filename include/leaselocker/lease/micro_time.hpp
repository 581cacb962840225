/// @file
/// Kubernetes MicroTime: RFC 3339 in UTC with microseconds, as client-go
/// writes it ("2026-08-20T10:29:19.123456Z").
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace leaselocker {

/// A wall-clock time (system_clock, UTC) to the microsecond: the precision
/// of a Lease's acquireTime and renewTime.
using micro_time = std::chrono::sys_time<std::chrono::microseconds>;

/// Always UTC with exactly six fractional digits.
std::string format_micro_time(micro_time t);

/// Lenient: any number of fractional digits (or none), 'Z'/'z' or a numeric
/// offset, 't' or ' ' as separator. nullopt for anything else.
std::optional<micro_time> parse_micro_time(std::string_view text);

/// HTTP's IMF-fixdate, as in a Date header ("Fri, 04 Dec 2026 19:36:07
/// GMT": whole seconds, always GMT). nullopt for anything else (the
/// obsolete RFC 850 and asctime forms included).
std::optional<micro_time> parse_http_date(std::string_view text);

} // namespace leaselocker
