// leaselocker fence install|remove|status: the admission fence of a Lease
// (include/leaselocker/fencing/admission_fence.hpp).
#include "cli/commands.hpp"
#include "cli/session.hpp"

#include <leaselocker/fencing/admission_fence.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <iostream>

namespace leaselocker::cli {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;

namespace {

fence_config to_config(const fence_options& o, const std::string& namespace_name) {
    fence_config cfg{.lease = {namespace_name, o.lease.name}, .match_labels = o.selector, .permissive = o.permissive, .name = o.name};
    for (const auto& r : o.resources) {
        const auto dot = r.find('.');
        cfg.resources.push_back(dot == std::string::npos ? guarded_resource{"", r} : guarded_resource{r.substr(dot + 1), r.substr(0, dot)});
    }
    return cfg;
}

asio::awaitable<int> fence_flow(session& s, const fence_options& o) {
    const auto name = s.describe(o.lease);
    auto cfg = to_config(o, s.namespace_of(o.lease));
    diagnostics diag;
    const request_options opts{.timeout = request_timeout, .diag = &diag};
    if (o.action == "install") {
        auto [ec] = co_await install_fence(*s.api, cfg, opts, as_tuple(use_awaitable));
        if (ec) co_return s.out.fail("cannot install the fence of " + name, ec, diag);
        s.out.event("fence_installed", {{"lease", name}, {"name", fence_name(cfg)}}, "");
        std::cout << "fence " << fence_name(cfg) << " installed: writes to guarded objects in " << cfg.lease.namespace_name
                  << " must carry the current holder and fencing token of " << name << " (in force within about a second)\n";
        co_return exit_code::ok;
    }
    if (o.action == "remove") {
        auto [ec] = co_await remove_fence(*s.api, cfg, opts, as_tuple(use_awaitable));
        if (ec) co_return s.out.fail("cannot remove the fence of " + name, ec, diag);
        s.out.event("fence_removed", {{"lease", name}, {"name", fence_name(cfg)}}, "");
        std::cout << "fence " << fence_name(cfg) << " removed\n";
        co_return exit_code::ok;
    }
    auto [ec, state] = co_await fence_status(*s.api, cfg, opts, as_tuple(use_awaitable));
    if (ec) co_return s.out.fail("cannot read the fence of " + name, ec, diag);
    const bool installed = state.policy && state.binding;
    if (s.out.json()) {
        std::cout << boost::json::serialize(boost::json::object{{"lease", name}, {"name", fence_name(cfg)}, {"policy", state.policy},
                                                                {"binding", state.binding}, {"installed", installed}, {"anchor", state.anchor}})
                  << "\n";
    } else {
        std::cout << "fence " << fence_name(cfg) << ": "
                  << (installed ? "installed" : state.policy || state.binding ? "partly installed (policy or binding missing)" : "not installed")
                  << (state.anchor ? "" : "; no anchor " + std::string(fence_anchor_name) +
                                              " (`fence install` creates it; kubernetes/kubernetes#130887)")
                  << "\n";
    }
    co_return installed ? exit_code::ok : exit_code::conflict;
}

} // namespace

int fence_command(const fence_options& o) {
    if (o.print) { // nothing sent: no kubeconfig needed
        auto cfg = to_config(o, o.lease.namespace_name.empty() ? "default" : o.lease.namespace_name);
        std::cout << fence_anchor_policy_json() << "\n" << fence_anchor_binding_json() << "\n" << fence_policy_json(cfg) << "\n"
                  << fence_binding_json(cfg) << "\n";
        return exit_code::ok;
    }
    session s{o.conn};
    return s.run(fence_flow(s, o));
}

} // namespace leaselocker::cli
