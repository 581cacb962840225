// Logging is a sink the application passes in. Nothing is formatted below
// the enabled level, and no secret is ever formatted at any level.
#pragma once

#include <functional>
#include <string_view>

namespace leaselocker {

enum class log_level { error, warning, info, debug, trace };

std::string_view to_string(log_level level) noexcept;

struct logger {
    log_level level = log_level::warning;
    std::function<void(log_level, std::string_view)> sink;

    bool enabled(log_level l) const noexcept { return sink && l <= level; }

    // Formats only when enabled: pass a callable returning the message.
    template <class MakeMessage>
    void operator()(log_level l, MakeMessage&& make) const {
        if (enabled(l)) sink(l, make());
    }
};

} // namespace leaselocker
