// Certificates made at test time (OpenSSL), for the scripted HTTPS server.
#pragma once

#include <string>

namespace leaselocker::test {

struct test_pki {
    std::string ca_pem;   // trust this
    std::string cert_pem; // server certificate for 127.0.0.1 and localhost, signed by the CA
    std::string key_pem;  // its private key
};

// Made once per process (key generation is slow under sanitizers).
const test_pki& pki();

} // namespace leaselocker::test
