/// @file
/// Logging is a sink the application passes in; by default warnings and
/// errors go to stderr, as client-go's klog does. Nothing is formatted below
/// the enabled level, and no secret is ever formatted at any level.
///
/// @code
///   cfg.log = {};                                   // the default: warnings to stderr
///   cfg.log = {.sink = nullptr};                    // silent
///   cfg.log = {.level = log_level::debug, .sink = [](leaselocker::log_level l, std::string_view m) { ... }};
/// @endcode
#pragma once

#include <functional>
#include <string_view>

namespace leaselocker {

/// Severity of a log message, most severe first: a logger passes messages
/// at its level and above (`l <= level`).
enum class log_level { error, warning, info, debug, trace };

/// The level's name in lowercase ("error", "warning", "info", "debug",
/// "trace").
std::string_view to_string(log_level level) noexcept;

/// `"leaselocker: <level>: <message>\n"` to stderr, one write per line (lines
/// from several threads do not mix). Any thread. Like any write to stderr, it
/// raises SIGPIPE if stderr is a pipe nobody reads any more (ignore SIGPIPE,
/// or pass a sink of your own).
void write_to_stderr(log_level level, std::string_view message);

/// Where a component's log messages go, and from which level on
/// (client_options, lock_config, ...; default: warnings and errors to
/// stderr).
struct logger {
    /// The least severe level passed to the sink (default: warning).
    log_level level = log_level::warning;
    /// Empty: nothing is logged.
    std::function<void(log_level, std::string_view)> sink = write_to_stderr;

    /// Whether a message at `l` would reach a sink.
    bool enabled(log_level l) const noexcept { return sink && l <= level; }

    /// Formats only when enabled: pass a callable returning the message.
    template <class MakeMessage>
    void operator()(log_level l, MakeMessage&& make) const {
        if (enabled(l)) sink(l, make());
    }
};

} // namespace leaselocker
