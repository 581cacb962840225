// libFuzzer target: the Lease JSON codec. Whatever decodes must encode and
// decode again to the same model.
#include <leaselocker/lease/lease.hpp>

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace leaselocker;
    std::string why;
    auto l = decode_lease(std::string_view(reinterpret_cast<const char*>(data), size), &why);
    if (!l) return 0;
    auto again = decode_lease(encode_lease(*l), &why);
    if (!again || again->spec.holder_identity != l->spec.holder_identity || again->spec.lease_transitions != l->spec.lease_transitions ||
        again->spec.renew_time != l->spec.renew_time || again->metadata.resource_version != l->metadata.resource_version)
        std::abort(); // the round trip lost something
    return 0;
}
