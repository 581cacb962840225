/// @file
/// Fencing that the API server enforces: a ValidatingAdmissionPolicy whose
/// parameter is the Lease admits a write to a guarded object only when the
/// object carries the Lease's current holder, term and epoch.
///
/// What it judges: CREATE and UPDATE of the guarded resources themselves
/// in the Lease's namespace. Not DELETE, and not subresources
/// (deployments/scale, /status). Without match_labels it guards every
/// object of those kinds there (for configmaps: also kube-root-ca.crt,
/// which the controller manager rewrites): give a selector. While the
/// Lease does not exist every guarded write is refused.
///
/// Kubernetes issue kubernetes/kubernetes#130887 (seen on 1.36.3): when no
/// binding of a policy with a Lease parameter is left at an API server's
/// next refresh of its policies (within a second), that server stops
/// following Leases for policies until it restarts, and a fence installed
/// later would judge by a frozen copy of the Lease. So install_fence and
/// remove_fence first create an anchor if it is missing (fence_anchor_name:
/// a policy with the Lease as parameter that matches no request, and its
/// binding), and nothing here deletes it: while it exists, that cannot
/// happen through ValidatingAdmissionPolicies. (A MutatingAdmissionPolicy
/// with a Lease parameter shares the servers' Lease informer: one that
/// started it, then lost its last binding, can still stop it.) The cost:
/// every API server keeps a cache of all Leases. A server that lost track
/// before the anchor existed needs a restart.
#pragma once

#include <leaselocker/detail/default_token.hpp>
#include <leaselocker/locker/lease_locker.hpp>
#include <leaselocker/transport/client.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace leaselocker {

/// The anchor's name (policy and binding): install_fence and remove_fence
/// create it if missing, nothing deletes it; see the file's description.
/// Do not delete it on a running cluster (to be rid of it: remove every
/// fence, delete it, then restart every API server).
inline constexpr const char* fence_anchor_name = "leaselocker-fence-anchor";

/// The annotation naming the writer's identity (the Lease's holderIdentity).
inline constexpr const char* fence_holder_annotation = "leaselocker.io/holder";
/// The annotation carrying the fencing token's sequence (the Lease's
/// leaseTransitions when the lock was granted), in decimal.
inline constexpr const char* fence_token_annotation = "leaselocker.io/token";
/// The annotation carrying the fencing token's epoch (the Lease's uid).
inline constexpr const char* fence_epoch_annotation = "leaselocker.io/epoch";

/// Resources the fence guards, as in an admission rule: API group ("" for
/// the core group) and plural resource name, e.g. {"", "configmaps"} or
/// {"apps", "deployments"}.
struct guarded_resource {
    std::string group;    ///< "" for the core group, else e.g. "apps"
    std::string resource; ///< plural, lower case, e.g. "configmaps"
};

/// What a fence guards, and with which Lease.
struct fence_config {
    /// The Lease whose holder may write; its namespace is also where the
    /// guarded objects are (empty: the client's default namespace).
    lease_name lease;
    /// The kinds of object guarded (at least one).
    std::vector<guarded_resource> resources;
    /// Only objects with these labels are guarded (empty: every object of
    /// those kinds in the namespace).
    std::map<std::string, std::string> match_labels;
    /// Writes that carry no fencing annotation at all are admitted (to adopt
    /// the fence while not every writer stamps yet); a write that carries a
    /// stale stamp is still refused. Off: every create and update of a
    /// guarded object must carry the current stamp.
    bool permissive = false;
    /// The policy's and the binding's name; empty: "leaselocker-fence." +
    /// namespace + "." + lease name. Not fence_anchor_name.
    std::string name;
};

/// The ValidatingAdmissionPolicy install_fence() writes, as JSON (for
/// review, or for `kubectl apply -f`). Throws config_error for a bad lease
/// name, no resource, an invalid label, or the anchor's name.
std::string fence_policy_json(const fence_config& cfg, const std::string& default_namespace = "default");
/// Its ValidatingAdmissionPolicyBinding, as JSON (throws as above).
std::string fence_binding_json(const fence_config& cfg, const std::string& default_namespace = "default");
/// The name the policy and binding get (throws config_error for a bad
/// lease name or the anchor's name).
std::string fence_name(const fence_config& cfg, const std::string& default_namespace = "default");
/// The anchor's ValidatingAdmissionPolicy, as JSON: the Lease as parameter
/// kind, matching only a resource no API server serves.
std::string fence_anchor_policy_json();
/// The anchor's ValidatingAdmissionPolicyBinding, as JSON.
std::string fence_anchor_binding_json();

/// The annotations a guarded write must carry for the grant `token` held as
/// `identity`. Set all three on every create and update (a write that
/// leaves the object's annotations as they were keeps whatever stamp it
/// had, maybe another holder's). For an invalid token (nothing held) the
/// stamp is one no Lease matches (token "none").
std::map<std::string, std::string> fence_annotations(const fencing_token& token, const std::string& identity);
/// The same for what `locker` holds now (the never-matching stamp if it
/// holds nothing).
std::map<std::string, std::string> fence_annotations(const lease_locker_base& locker);

/// How long a guarded write may take: what is left until `valid_until`, at
/// most `cap`; std::nullopt once less than a millisecond is left (do not
/// send the write then; a zero http_request::timeout would mean the
/// client's default). The API server judges the stamp when the write
/// arrives and stores the object after that: a write still under way when
/// the lease runs out could be stored after a successor's grant (seen in
/// the chaos suite: an etcd restart held one for 2-3 s). With this as its
/// request timeout the writer stops waiting by the end of its validity and
/// takes the outcome as unknown, not as done (the server may still store
/// it).
std::optional<std::chrono::milliseconds> fence_write_timeout(std::chrono::steady_clock::time_point valid_until,
                                                             std::chrono::milliseconds cap = std::chrono::seconds(10));
/// The same for what `locker` holds now (std::nullopt if it holds nothing).
std::optional<std::chrono::milliseconds> fence_write_timeout(const lease_locker_base& locker,
                                                             std::chrono::milliseconds cap = std::chrono::seconds(10));

/// Whether `response` (to a guarded write) is the fence refusing it:
/// error::fenced_out, with the policy's message in `diag` if given; else
/// the error its status means (success for 2xx).
error_code fence_write_result(const http_response& response, diagnostics* diag = nullptr);

/// Whether the policy and the binding exist.
struct fence_state {
    bool policy = false;  ///< the ValidatingAdmissionPolicy exists
    bool binding = false; ///< the ValidatingAdmissionPolicyBinding exists
    bool anchor = false;  ///< the anchor's policy and binding exist (fence_anchor_name)
};

/// @cond INTERNAL
namespace detail {
void start_install_fence(client& api, fence_config cfg, request_options opts, boost::asio::any_completion_handler<void(error_code)> h);
void start_remove_fence(client& api, fence_config cfg, request_options opts, boost::asio::any_completion_handler<void(error_code)> h);
void start_fence_status(client& api, fence_config cfg, request_options opts,
                        boost::asio::any_completion_handler<void(error_code, fence_state)> h);
} // namespace detail
/// @endcond

/// Creates or replaces the policy and the binding, after creating the
/// anchor if it is missing (admin rights: get, create and update on
/// validatingadmissionpolicies and validatingadmissionpolicybindings, and
/// get on leases in every namespace, which Kubernetes asks of whoever
/// writes a policy whose parameter is the Lease). The API server enforces
/// them from when its cache has them (about a second).
/// Signature: void(error_code). Errors: error::config_invalid for a bad
/// lease name, no resource or the anchor's name (nothing sent); the
/// server's (error::forbidden without rights on the policies or bindings,
/// error::invalid for labels it refuses or without get on leases, ...);
/// transport errors. request_options::diag, if set, gets the server's
/// message; each request is bounded by request_options::timeout.
/// Cancellation: any type aborts the request in flight
/// (operation_aborted); what was written stays.
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code)) CompletionToken = boost::asio::deferred_t>
auto install_fence(client& api, fence_config cfg, request_options opts, CompletionToken&& token = {}) {
    return boost::asio::async_initiate<CompletionToken, void(error_code)>(
        [&api](auto h, fence_config c, request_options o) { detail::start_install_fence(api, std::move(c), o, std::move(h)); }, token,
        std::move(cfg), opts);
}
/// As above, with default request_options.
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code)) CompletionToken = boost::asio::deferred_t>
auto install_fence(client& api, fence_config cfg, CompletionToken&& token = {}) {
    return install_fence(api, std::move(cfg), request_options{}, std::forward<CompletionToken>(token));
}

/// Creates the anchor if it is missing, then deletes the binding and the
/// policy (missing ones are fine): guarded objects are written as usual
/// again (`resources` may be empty: only the lease and the name count).
/// Signature: void(error_code). Errors and cancellation as install_fence.
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code)) CompletionToken = boost::asio::deferred_t>
auto remove_fence(client& api, fence_config cfg, request_options opts, CompletionToken&& token = {}) {
    return boost::asio::async_initiate<CompletionToken, void(error_code)>(
        [&api](auto h, fence_config c, request_options o) { detail::start_remove_fence(api, std::move(c), o, std::move(h)); }, token,
        std::move(cfg), opts);
}
/// As above, with default request_options.
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code)) CompletionToken = boost::asio::deferred_t>
auto remove_fence(client& api, fence_config cfg, CompletionToken&& token = {}) {
    return remove_fence(api, std::move(cfg), request_options{}, std::forward<CompletionToken>(token));
}

/// Reads whether the policy, the binding and the anchor exist
/// (`resources` may be empty). Signature: void(error_code, fence_state). Errors and
/// cancellation as install_fence.
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, fence_state)) CompletionToken = boost::asio::deferred_t>
auto fence_status(client& api, fence_config cfg, request_options opts, CompletionToken&& token = {}) {
    return boost::asio::async_initiate<CompletionToken, void(error_code, fence_state)>(
        [&api](auto h, fence_config c, request_options o) { detail::start_fence_status(api, std::move(c), o, std::move(h)); }, token,
        std::move(cfg), opts);
}
/// As above, with default request_options.
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, fence_state)) CompletionToken = boost::asio::deferred_t>
auto fence_status(client& api, fence_config cfg, CompletionToken&& token = {}) {
    return fence_status(api, std::move(cfg), request_options{}, std::forward<CompletionToken>(token));
}

} // namespace leaselocker
