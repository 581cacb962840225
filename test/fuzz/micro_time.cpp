// libFuzzer target: MicroTime parsing; what parses must format and parse
// back to the same instant.
#include <leaselocker/lease/micro_time.hpp>

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace leaselocker;
    auto t = parse_micro_time(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!t) return 0;
    auto back = parse_micro_time(format_micro_time(*t));
    if (!back || *back != *t) std::abort();
    return 0;
}
