// libFuzzer target: mapping a non-2xx response (status code + body) to an
// error and the server's message.
#include <leaselocker/detail/status.hpp>

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const unsigned status = 100 + (data[0] | (data[1] << 8)) % 500; // 100..599
    std::string message;
    auto ec = leaselocker::detail::status_to_error(status, std::string_view(reinterpret_cast<const char*>(data + 2), size - 2), message);
    if (!ec && status >= 300) std::abort(); // a failure status must be an error
    return 0;
}
