// The admission fence's objects and stamps, without a server.
#include "support/printing.hpp"

#include <leaselocker/fencing/admission_fence.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

using namespace leaselocker;
namespace json = boost::json;

BOOST_AUTO_TEST_SUITE(admission_fence)

BOOST_AUTO_TEST_CASE(the_policy_takes_the_lease_as_its_parameter) {
    fence_config cfg{.lease = {"team", "Billing"}, .resources = {{"", "configmaps"}, {"apps", "deployments"}}};
    BOOST_TEST(fence_name(cfg) == "leaselocker-fence.team.billing");
    auto policy = json::parse(fence_policy_json(cfg)).as_object();
    BOOST_TEST(policy.at("kind").as_string() == "ValidatingAdmissionPolicy");
    const auto& spec = policy.at("spec").as_object();
    BOOST_TEST(spec.at("failurePolicy").as_string() == "Fail"); // an evaluation error refuses, never admits
    BOOST_TEST(json::serialize(spec.at("paramKind")) == R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease"})");
    const auto& rules = spec.at("matchConstraints").at("resourceRules").as_array();
    BOOST_TEST_REQUIRE(rules.size() == 2u);
    BOOST_TEST(json::serialize(rules[1]) ==
               R"({"apiGroups":["apps"],"apiVersions":["*"],"operations":["CREATE","UPDATE"],"resources":["deployments"]})");
    const auto rule = std::string(spec.at("validations").at(0).at("expression").as_string());
    for (const char* part : {"params.spec.holderIdentity", "params.metadata.uid", "variables.term", "leaselocker.io/holder",
                             "leaselocker.io/token", "leaselocker.io/epoch"})
        BOOST_TEST(rule.find(part) != std::string::npos, part);
    BOOST_TEST(!rule.starts_with("!("));
    cfg.permissive = true;
    auto permissive = json::parse(fence_policy_json(cfg));
    BOOST_TEST(std::string(permissive.at("spec").at("validations").at(0).at("expression").as_string())
                   .starts_with("!('leaselocker.io/holder' in variables.a || 'leaselocker.io/token' in variables.a || "
                                "'leaselocker.io/epoch' in variables.a) || ("));
}

BOOST_AUTO_TEST_CASE(the_binding_names_the_lease_and_denies_without_it) {
    fence_config cfg{.lease = {"", "jobs"}, .resources = {{"", "configmaps"}}, .name = "my-fence"};
    auto binding = json::parse(fence_binding_json(cfg, "ns1")).as_object();
    const auto& spec = binding.at("spec").as_object();
    BOOST_TEST(spec.at("policyName").as_string() == "my-fence");
    BOOST_TEST(json::serialize(spec.at("paramRef")) == R"({"name":"jobs","namespace":"ns1","parameterNotFoundAction":"Deny"})");
    BOOST_TEST(json::serialize(spec.at("validationActions")) == R"(["Deny"])");
    BOOST_TEST(json::serialize(spec.at("matchResources")) ==
               R"({"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"ns1"}}})");
    cfg.match_labels = {{"app", "db"}};
    binding = json::parse(fence_binding_json(cfg, "ns1")).as_object();
    BOOST_TEST(json::serialize(binding.at("spec").at("matchResources").at("objectSelector")) == R"({"matchLabels":{"app":"db"}})");
}

BOOST_AUTO_TEST_CASE(bad_configurations_are_refused_before_anything_is_sent) {
    BOOST_CHECK_THROW(fence_policy_json({.lease = {"ns", "x"}}), config_error);                         // nothing guarded
    BOOST_CHECK_THROW(fence_policy_json({.lease = {"ns", "x"}, .resources = {{"", ""}}}), config_error); // no resource name
    BOOST_CHECK_THROW(fence_name({.lease = {"ns", "not a name"}}), config_error);
    BOOST_TEST(fence_name({.lease = {"ns", "x"}}) == "leaselocker-fence.ns.x"); // a name needs no resource
    BOOST_TEST(fence_name({.lease = {"a-b", "c"}}) != fence_name({.lease = {"a", "b-c"}}));
}

BOOST_AUTO_TEST_CASE(the_stamp_and_the_verdict) {
    auto stamp = fence_annotations(fencing_token{"uid-1", 7}, "me");
    BOOST_TEST(stamp.at(fence_holder_annotation) == "me");
    BOOST_TEST(stamp.at(fence_token_annotation) == "7");
    BOOST_TEST(stamp.at(fence_epoch_annotation) == "uid-1");
    const auto none = fence_annotations(fencing_token{}, "me"); // nothing held: a stamp nothing matches
    BOOST_TEST(none.at(fence_token_annotation) == "none");
    BOOST_TEST(none.size() == 3u);

    BOOST_TEST(!fence_write_result(http_response{.status = 201}));
    diagnostics diag;
    http_response refused{.status = 422,
                          .body = R"({"kind":"Status","status":"Failure","reason":"Invalid","code":422,"message":"configmaps \"x\" is forbidden: )"
                                  R"(ValidatingAdmissionPolicy 'leaselocker-fence.ns.x' with binding 'leaselocker-fence.ns.x' denied request: )"
                                  R"(fenced out by lease ns/x: it names holder \"b\" at token 3"})"};
    BOOST_TEST(fence_write_result(refused, &diag) == error::fenced_out);
    BOOST_TEST(diag.server_message.find("fenced out by lease ns/x") != std::string::npos, diag.server_message);
    http_response other{.status = 403, .body = R"({"kind":"Status","status":"Failure","reason":"Forbidden","code":403,"message":"no"})"};
    BOOST_TEST(fence_write_result(other) == error::forbidden);
    BOOST_TEST(make_error_code(error::fenced_out) == condition::permanent);
}

BOOST_AUTO_TEST_CASE(a_guarded_write_may_take_what_is_left_of_the_validity) {
    using namespace std::chrono_literals;
    const auto now = std::chrono::steady_clock::now();
    const auto left = fence_write_timeout(now + 3s);
    BOOST_TEST_REQUIRE(left.has_value());
    BOOST_TEST((*left > 2900ms && *left <= 3000ms), left->count());
    BOOST_TEST(fence_write_timeout(now + 3s, 1s).value_or(0ms) == 1000ms); // capped
    BOOST_TEST(!fence_write_timeout(now - 1ms).has_value());               // passed: do not write
    BOOST_TEST(!fence_write_timeout(now + 3s, 0ms).has_value());           // never a zero timeout (the client's default)
}

BOOST_AUTO_TEST_CASE(the_anchor_keeps_the_fences_parameter_kind_bound_and_judges_nothing) {
    const fence_config cfg{.lease = {"team", "billing"}, .resources = {{"", "configmaps"}}};
    const auto policy = boost::json::parse(fence_policy_json(cfg));
    const auto anchor = boost::json::parse(fence_anchor_policy_json());
    const auto binding = boost::json::parse(fence_anchor_binding_json());
    BOOST_TEST(anchor.at("spec").at("paramKind") == policy.at("spec").at("paramKind")); // the same informer
    BOOST_TEST(anchor.at("metadata").at("name") == fence_anchor_name);
    BOOST_TEST(binding.at("spec").at("policyName") == fence_anchor_name);
    BOOST_TEST(!binding.at("spec").as_object().contains("paramRef")); // creating it needs no read rights on Leases
    BOOST_TEST(anchor.at("spec").at("failurePolicy") == "Ignore");
    const auto& rule = anchor.at("spec").at("matchConstraints").at("resourceRules").at(0);
    BOOST_TEST(rule.at("apiGroups").at(0) == "leaselocker.io"); // a group no server serves: no request matches
    auto named = cfg;
    named.name = fence_anchor_name;
    BOOST_CHECK_THROW(fence_name(named), config_error);
}

BOOST_AUTO_TEST_SUITE_END()
