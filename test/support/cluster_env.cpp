#include "support/cluster_env.hpp"

#include <leaselocker/config/kubeconfig.hpp>

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace leaselocker::test {

const cluster_env& cluster() {
    static const cluster_env env = [] {
        const char* dir = std::getenv("LEASELOCKER_CLUSTER_DIR");
        BOOST_TEST_REQUIRE(dir != nullptr, "LEASELOCKER_CLUSTER_DIR is not set: run through ctest");
        std::ifstream in(std::string(dir) + "/state.json");
        BOOST_TEST_REQUIRE(in.good(), "no cluster state in " << dir << ": did cluster.start run?");
        std::stringstream text;
        text << in.rdbuf();
        auto o = boost::json::parse(text.str()).as_object();
        cluster_env e;
        e.dir = dir;
        e.kubeconfig = o.at("kubeconfig").as_string().c_str();
        e.kubeconfig_inline = o.at("kubeconfig_inline").as_string().c_str();
        e.server = o.at("server").as_string().c_str();
        e.namespace_name = o.at("namespace").as_string().c_str();
        return e;
    }();
    return env;
}

cluster_config cluster_config_for(const std::string& context, bool inline_form) {
    const auto& c = cluster();
    return load_kubeconfig(inline_form ? c.kubeconfig_inline : c.kubeconfig, context);
}

std::string unique_name(const std::string& prefix) {
    static std::atomic<int> counter{0};
    return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

} // namespace leaselocker::test
