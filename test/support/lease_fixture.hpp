// The integration tests' common start: an io_context, a client as the
// least-privilege identity, its Lease API, and a lease name of their own.
#pragma once

#include "support/cluster_env.hpp"

#include <leaselocker/lease/lease_client.hpp>
#include <leaselocker/transport/client.hpp>

#include <boost/asio/io_context.hpp>

namespace leaselocker::test {

struct lease_fixture {
    boost::asio::io_context io;
    client api{io.get_executor(), cluster_config_for("lease")};
    lease_client leases{api};
    std::string name = unique_name("it");
};

} // namespace leaselocker::test
