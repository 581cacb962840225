// The admission fence: a ValidatingAdmissionPolicy with the Lease as its
// parameter, and its binding; the stamp writers put on guarded objects.
#include <leaselocker/fencing/admission_fence.hpp>
#include <leaselocker/detail/status.hpp>

#include "../detail/spawn.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>

#include <type_traits>

namespace leaselocker {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr const char* admission_api = "/apis/admissionregistration.k8s.io/v1";

lease_name resolved(const fence_config& cfg, const std::string& default_namespace) {
    auto name = checked_lease_name(cfg.lease);
    if (name.namespace_name.empty()) name.namespace_name = default_namespace;
    return name;
}

// The lease, for a fence that must say what it guards (the policy).
lease_name resolved_with_resources(const fence_config& cfg, const std::string& default_namespace) {
    auto name = resolved(cfg, default_namespace);
    const auto what = "fence " + name.namespace_name + "/" + name.name;
    if (cfg.resources.empty()) throw config_error(make_error_code(error::config_invalid), what + ": no guarded resource");
    for (const auto& r : cfg.resources)
        if (r.resource.empty()) throw config_error(make_error_code(error::config_invalid), what + ": a guarded resource without a name");
    return name;
}

// What leaselocker writes is labelled as its own.
json::object managed_metadata(std::string_view name) {
    return json::object{{"name", name}, {"labels", json::object{{"app.kubernetes.io/managed-by", "leaselocker"}}}};
}

// The fence's and the anchor's parameter: one kind, or the anchor keeps
// the wrong informer alive.
json::object lease_param_kind() { return json::object{{"apiVersion", "coordination.k8s.io/v1"}, {"kind", "Lease"}}; }

// CEL over the guarded object's annotations (`a`) and the Lease (`params`).
// Strings compared, so a stamp that is not a number is refused, not an
// evaluation error. leaseTransitions is left out of a Lease when 0.
std::string current_stamp_rule() {
    return std::string("'") + fence_holder_annotation + "' in variables.a && '" + fence_token_annotation + "' in variables.a && '" +
           fence_epoch_annotation + "' in variables.a && has(params.spec.holderIdentity) && variables.a['" +
           fence_holder_annotation + "'] == params.spec.holderIdentity && variables.a['" + fence_epoch_annotation +
           "'] == params.metadata.uid && variables.a['" + fence_token_annotation + "'] == variables.term";
}

} // namespace

std::string fence_name(const fence_config& cfg, const std::string& default_namespace) {
    auto lease = resolved(cfg, default_namespace);
    if (cfg.name == fence_anchor_name)
        throw config_error(make_error_code(error::config_invalid), std::string("fence name ") + fence_anchor_name + " is the anchor's");
    if (!cfg.name.empty()) return cfg.name;
    // '.' cannot be in a namespace: "a-b"/"c" and "a"/"b-c" stay apart.
    return "leaselocker-fence." + lease.namespace_name + "." + lease.name;
}

std::string fence_policy_json(const fence_config& cfg, const std::string& default_namespace) {
    resolved_with_resources(cfg, default_namespace); // throws for a bad name or nothing guarded; the binding names the Lease
    json::array rules;
    for (const auto& r : cfg.resources)
        rules.push_back(json::object{{"apiGroups", json::array{json::string(r.group)}},
                                     {"apiVersions", json::array{"*"}},
                                     {"operations", json::array{"CREATE", "UPDATE"}},
                                     {"resources", json::array{json::string(r.resource)}}});
    std::string rule = current_stamp_rule();
    if (cfg.permissive) // no stamp at all: admitted; any part of one: judged
        rule = std::string("!('") + fence_holder_annotation + "' in variables.a || '" + fence_token_annotation + "' in variables.a || '" +
               fence_epoch_annotation + "' in variables.a) || (" + rule + ")";
    const std::string message =
        std::string("'fenced out by lease ' + params.metadata.namespace + '/' + params.metadata.name + ': it names holder \"' + "
                    "(has(params.spec.holderIdentity) ? params.spec.holderIdentity : '') + '\" at token ' + variables.term + "
                    "', the write carries holder \"' + ('") + fence_holder_annotation + "' in variables.a ? variables.a['" + fence_holder_annotation +
        "'] : '') + '\" token ' + ('" + fence_token_annotation + "' in variables.a ? variables.a['" + fence_token_annotation + "'] : '(none)')";
    json::object policy{
        {"apiVersion", "admissionregistration.k8s.io/v1"},
        {"kind", "ValidatingAdmissionPolicy"},
        {"metadata", managed_metadata(fence_name(cfg, default_namespace))},
        {"spec",
         json::object{
             {"failurePolicy", "Fail"},
             {"paramKind", lease_param_kind()},
             {"matchConstraints", json::object{{"resourceRules", rules}}},
             {"variables",
              json::array{json::object{{"name", "a"}, {"expression", "has(object.metadata.annotations) ? object.metadata.annotations : {}"}},
                          json::object{{"name", "term"},
                                       {"expression", "string(has(params.spec.leaseTransitions) ? params.spec.leaseTransitions : 0)"}}}},
             {"validations", json::array{json::object{{"expression", rule},
                                                      {"message", "fenced out: the write does not carry the lease's current holder and fencing token"},
                                                      {"messageExpression", message}}}}}}};
    return json::serialize(policy);
}

std::string fence_binding_json(const fence_config& cfg, const std::string& default_namespace) {
    auto lease = resolved(cfg, default_namespace);
    json::object match{{"namespaceSelector",
                        json::object{{"matchLabels", json::object{{"kubernetes.io/metadata.name", json::string(lease.namespace_name)}}}}}};
    if (!cfg.match_labels.empty()) {
        json::object labels;
        for (const auto& [k, v] : cfg.match_labels) labels[k] = v;
        match["objectSelector"] = json::object{{"matchLabels", labels}};
    }
    const auto name = fence_name(cfg, default_namespace);
    json::object binding{
        {"apiVersion", "admissionregistration.k8s.io/v1"},
        {"kind", "ValidatingAdmissionPolicyBinding"},
        {"metadata", managed_metadata(name)},
        {"spec", json::object{{"policyName", name},
                              {"validationActions", json::array{"Deny"}},
                              {"paramRef", json::object{{"name", json::string(lease.name)},
                                                        {"namespace", json::string(lease.namespace_name)},
                                                        {"parameterNotFoundAction", "Deny"}}},
                              {"matchResources", match}}}};
    return json::serialize(binding);
}

// The anchor only has to exist: an API server follows Leases for policies
// while any binding of a policy with the Lease as paramKind exists. It
// matches a resource no server serves, so it never judges a request.
std::string fence_anchor_policy_json() {
    json::object policy{
        {"apiVersion", "admissionregistration.k8s.io/v1"},
        {"kind", "ValidatingAdmissionPolicy"},
        {"metadata", managed_metadata(fence_anchor_name)},
        {"spec", json::object{{"failurePolicy", "Ignore"},
                              {"paramKind", lease_param_kind()},
                              {"matchConstraints", json::object{{"resourceRules", json::array{json::object{
                                                                                      {"apiGroups", json::array{"leaselocker.io"}},
                                                                                      {"apiVersions", json::array{"v1"}},
                                                                                      {"operations", json::array{"CREATE"}},
                                                                                      {"resources", json::array{"fence-anchors"}}}}}}},
                              {"validations", json::array{json::object{{"expression", "true"}}}}}}};
    return json::serialize(policy);
}

std::string fence_anchor_binding_json() {
    json::object binding{
        {"apiVersion", "admissionregistration.k8s.io/v1"},
        {"kind", "ValidatingAdmissionPolicyBinding"},
        {"metadata", managed_metadata(fence_anchor_name)},
        // No paramRef: creating a binding with one needs read rights on
        // what it names; this one is never evaluated.
        {"spec", json::object{{"policyName", fence_anchor_name}, {"validationActions", json::array{"Deny"}}}}};
    return json::serialize(binding);
}

std::map<std::string, std::string> fence_annotations(const fencing_token& token, const std::string& identity) {
    // Nothing held: a stamp no Lease matches ("none" is not a number), so a
    // read-modify-write by a deposed holder cannot keep the successor's.
    return {{fence_holder_annotation, identity},
            {fence_token_annotation, token.valid() ? std::to_string(token.sequence) : "none"},
            {fence_epoch_annotation, token.valid() ? token.epoch : ""}};
}

std::map<std::string, std::string> fence_annotations(const lease_locker_base& locker) {
    return fence_annotations(locker.current_fencing_token(), locker.identity());
}

std::optional<std::chrono::milliseconds> fence_write_timeout(std::chrono::steady_clock::time_point valid_until,
                                                             std::chrono::milliseconds cap) {
    // Rounded down: the write is given up at or before valid_until.
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(valid_until - std::chrono::steady_clock::now());
    const auto timeout = std::min(left, cap);
    if (timeout < std::chrono::milliseconds(1)) return std::nullopt;
    return timeout;
}

std::optional<std::chrono::milliseconds> fence_write_timeout(const lease_locker_base& locker, std::chrono::milliseconds cap) {
    if (!locker.held()) return std::nullopt;
    return fence_write_timeout(locker.valid_until(), cap);
}

error_code fence_write_result(const http_response& response, diagnostics* diag) {
    if (response.status / 100 == 2) return {};
    std::string server_message;
    auto ec = detail::status_to_error(response.status, response.body, server_message);
    // The API server words an admission refusal "ValidatingAdmissionPolicy
    // '<policy>' with binding '<binding>' denied request: <message>".
    // Our policy's own verdict, or (default names) its "no params found"
    // when the Lease is gone.
    if (response.status == 422 && (server_message.find("denied request: fenced out") != std::string::npos ||
                                   server_message.find("ValidatingAdmissionPolicy 'leaselocker-fence.") != std::string::npos))
        ec = error::fenced_out;
    if (diag) {
        diag->clear();
        diag->server_message = server_message;
        diag->client_message = ec == error::fenced_out ? "the write was refused by the lease's admission fence" : "";
    }
    return ec;
}

namespace detail {

namespace {

std::string policies() { return std::string(admission_api) + "/validatingadmissionpolicies"; }
std::string bindings() { return std::string(admission_api) + "/validatingadmissionpolicybindings"; }

struct fence_io {
    client& api;
    request_options opts;

    asio::awaitable<std::pair<error_code, http_response>> send(http_method method, std::string target, std::string body = {}) {
        http_request req{.method = method, .target = std::move(target), .body = std::move(body), .timeout = opts.timeout, .diag = opts.diag};
        auto [ec, resp] = co_await api.request(std::move(req), asio::as_tuple(asio::use_awaitable));
        co_return std::pair{ec, std::move(resp)};
    }

    error_code failed(const http_response& resp, const std::string& what) {
        std::string server_message;
        auto ec = status_to_error(resp.status, resp.body, server_message);
        if (opts.diag) {
            opts.diag->server_message = server_message;
            opts.diag->client_message = what;
        }
        return ec;
    }

    // GET, then PUT over its resourceVersion, or POST if there is none.
    asio::awaitable<error_code> apply(const std::string& collection, const std::string& name, std::string body_json) {
        const auto path = collection + "/" + name;
        for (int attempt = 0; attempt < 3; ++attempt) {
            auto [ec, got] = co_await send(http_method::get, path);
            if (ec) co_return ec;
            auto body = json::parse(body_json).as_object();
            http_method method = http_method::post;
            std::string target = collection;
            if (got.status == 200) {
                error_code parse_ec;
                auto current = json::parse(got.body, parse_ec);
                const auto* version = parse_ec || !current.is_object() ? nullptr : current.as_object().if_contains("metadata");
                version = version && version->is_object() ? version->as_object().if_contains("resourceVersion") : nullptr;
                if (!version) co_return make_error_code(error::malformed_response);
                body["metadata"].as_object()["resourceVersion"] = *version;
                method = http_method::put;
                target = path;
            } else if (got.status != 404) {
                co_return failed(got, "reading " + path);
            }
            auto [wec, written] = co_await send(method, target, json::serialize(body));
            if (wec) co_return wec;
            if (written.status / 100 == 2) co_return error_code{};
            auto err = failed(written, "writing " + path);
            if (err != error::conflict && err != error::already_exists) co_return err;
        }
        co_return make_error_code(error::conflict);
    }

    // POST unless it exists (an existing one is left as it is).
    asio::awaitable<error_code> ensure(const std::string& collection, const std::string& name, std::string body_json) {
        auto [present_ec, present] = co_await exists(collection + "/" + name);
        if (present_ec || present) co_return present_ec;
        auto [ec, written] = co_await send(http_method::post, collection, std::move(body_json));
        if (ec) co_return ec;
        if (written.status / 100 == 2 || written.status == 409) co_return error_code{};
        co_return failed(written, "writing " + collection + "/" + name);
    }

    // The anchor (policy and binding), unless it exists.
    asio::awaitable<error_code> ensure_anchor() {
        if (auto ec = co_await ensure(policies(), fence_anchor_name, fence_anchor_policy_json())) co_return ec;
        co_return co_await ensure(bindings(), fence_anchor_name, fence_anchor_binding_json());
    }

    asio::awaitable<error_code> remove(const std::string& path) {
        auto [ec, resp] = co_await send(http_method::delete_, path);
        if (ec) co_return ec;
        if (resp.status / 100 == 2 || resp.status == 404) co_return error_code{};
        co_return failed(resp, "deleting " + path);
    }

    asio::awaitable<std::pair<error_code, bool>> exists(const std::string& path) {
        auto [ec, resp] = co_await send(http_method::get, path);
        if (ec) co_return std::pair{ec, false};
        if (resp.status == 200) co_return std::pair{error_code{}, true};
        if (resp.status == 404) co_return std::pair{error_code{}, false};
        co_return std::pair{failed(resp, "reading " + path), false};
    }
};


template <class Task, class Handler>
void run(client& api, Task task, Handler h) {
    detail::spawn_for(asio::make_strand(api.get_executor()), std::move(task), std::move(h));
}

// Runs `prepare` (which throws config_error for a bad fence); if it
// throws, the operation completes with that error, never inline, and
// nothing is sent. Returns whether to go on.
template <class Result>
asio::awaitable<Result> completed_with(error_code code) { // by value: a capture would dangle
    if constexpr (std::is_same_v<Result, error_code>)
        co_return code;
    else
        co_return Result{code, {}};
}

template <class Result = error_code, class Prepare, class Handler>
bool checked(client& api, request_options opts, Handler& h, Prepare prepare) {
    try {
        prepare(api.config().default_namespace);
        return true;
    } catch (const config_error& e) {
        if (opts.diag) {
            opts.diag->clear();
            opts.diag->client_message = e.what();
        }
        run(api, completed_with<Result>(e.code()), std::move(h));
        return false;
    }
}

} // namespace

void start_install_fence(client& api, fence_config cfg, request_options opts, asio::any_completion_handler<void(error_code)> h) {
    std::string policy, binding, name;
    if (!checked(api, opts, h, [&](const std::string& ns) {
            policy = fence_policy_json(cfg, ns);
            binding = fence_binding_json(cfg, ns);
            name = fence_name(cfg, ns);
        }))
        return;
    run(api,
        [](client& api, request_options opts, std::string name, std::string policy, std::string binding) -> asio::awaitable<error_code> {
            // Any cancellation aborts the request in flight; none throws.
            co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
            co_await asio::this_coro::throw_if_cancelled(false);
            fence_io io{api, opts};
            // The anchor first: from then on no server can stop following Leases.
            if (auto ec = co_await io.ensure_anchor()) co_return ec;
            if (auto ec = co_await io.apply(policies(), name, std::move(policy))) co_return ec;
            co_return co_await io.apply(bindings(), name, std::move(binding));
        }(api, opts, name, std::move(policy), std::move(binding)),
        std::move(h));
}

void start_remove_fence(client& api, fence_config cfg, request_options opts, asio::any_completion_handler<void(error_code)> h) {
    std::string name;
    if (!checked(api, opts, h, [&](const std::string& ns) { name = fence_name(cfg, ns); })) return;
    run(api,
        [](client& api, request_options opts, std::string name) -> asio::awaitable<error_code> {
            // Any cancellation aborts the request in flight; none throws.
            co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
            co_await asio::this_coro::throw_if_cancelled(false);
            fence_io io{api, opts};
            // A fence installed before the anchor existed: it first, or
            // removing the last fence would trigger the issue it is for.
            if (auto ec = co_await io.ensure_anchor()) co_return ec;
            if (auto ec = co_await io.remove(bindings() + "/" + name)) co_return ec;
            co_return co_await io.remove(policies() + "/" + name);
        }(api, opts, name),
        std::move(h));
}

void start_fence_status(client& api, fence_config cfg, request_options opts,
                        asio::any_completion_handler<void(error_code, fence_state)> h) {
    std::string name;
    if (!checked<std::pair<error_code, fence_state>>(api, opts, h, [&](const std::string& ns) { name = fence_name(cfg, ns); })) return;
    run(api,
        [](client& api, request_options opts, std::string name) -> asio::awaitable<std::pair<error_code, fence_state>> {
            // Any cancellation aborts the request in flight; none throws.
            co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
            co_await asio::this_coro::throw_if_cancelled(false);
            fence_io io{api, opts};
            fence_state state;
            auto [pec, policy] = co_await io.exists(policies() + "/" + name);
            if (pec) co_return std::pair{pec, state};
            auto [bec, binding] = co_await io.exists(bindings() + "/" + name);
            if (bec) co_return std::pair{bec, state};
            auto [apec, anchor_policy] = co_await io.exists(policies() + "/" + fence_anchor_name);
            if (apec) co_return std::pair{apec, state};
            auto [abec, anchor_binding] = co_await io.exists(bindings() + "/" + fence_anchor_name);
            state.policy = policy;
            state.binding = binding;
            state.anchor = anchor_policy && anchor_binding;
            co_return std::pair{abec, state};
        }(api, opts, name),
        std::move(h));
}

} // namespace detail

} // namespace leaselocker
