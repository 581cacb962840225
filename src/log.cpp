#include <leaselocker/log.hpp>

#include <cstdio>
#include <string>

namespace leaselocker {

std::string_view to_string(log_level level) noexcept {
    switch (level) {
    case log_level::error: return "error";
    case log_level::warning: return "warning";
    case log_level::info: return "info";
    case log_level::debug: return "debug";
    case log_level::trace: return "trace";
    }
    return "?";
}

void write_to_stderr(log_level level, std::string_view message) {
    std::string line = "leaselocker: ";
    line += to_string(level);
    line += ": ";
    line += message;
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
}

} // namespace leaselocker
