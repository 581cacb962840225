// A program built against the installed package with nothing but
// `c++ $(pkg-config --cflags --libs leaselocker)` (test/cli/installed.sh).
#include <boost/asio/io_context.hpp>
#include <leaselocker/leaselocker.hpp>
#include <iostream>
int main() {
    auto n = leaselocker::checked_lease_name({"ns", "Nightly"});
    std::cout << "leaselocker " << LEASELOCKER_VERSION_STRING << ": " << n.namespace_name << "/" << n.name << "\n";
    boost::asio::io_context io;
    leaselocker::client api{io.get_executor(), leaselocker::parse_kubeconfig("apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n")};
    leaselocker::lease_locker locker{api, {"", "x"}};
    return 0;
}
