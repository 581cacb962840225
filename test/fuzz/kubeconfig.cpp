// libFuzzer target: the kubeconfig parser (YAML, contexts, clusters, users,
// base64 data fields). Bad input must end in config_error, nothing else.
#include <leaselocker/config/kubeconfig.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        leaselocker::parse_kubeconfig(std::string(reinterpret_cast<const char*>(data), size), {}, "/nonexistent-fuzz-dir");
    } catch (const leaselocker::config_error&) {
    }
    return 0;
}
