#include "support/printing.hpp"
#include "support/temp_dir.hpp"

#include <leaselocker/config/kubeconfig.hpp>
#include <leaselocker/detail/in_cluster.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdlib>

using namespace leaselocker;
using test::temp_dir;

namespace {

const std::string canary_token = "CANARY-TOKEN-5f2b9c0e";

// "hello CA" / "hello cert" / "hello key" in base64.
const std::string two_contexts = R"(apiVersion: v1
kind: Config
current-context: admin
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: pki/ca.crt
    tls-server-name: kubernetes
- name: inline
  cluster:
    server: https://[::1]:6443/prefix/
    certificate-authority-data: aGVsbG8gQ0E=
contexts:
- name: admin
  context: {cluster: local, user: admin, namespace: team-a}
- name: tokened
  context: {cluster: inline, user: tokened}
users:
- name: admin
  user:
    client-certificate: pki/admin.crt
    client-key: pki/admin.key
- name: tokened
  user:
    token: )" + canary_token + R"(
    client-certificate-data: aGVsbG8gY2VydA==
    client-key-data: aGVsbG8ga2V5
)";

std::string expect_config_error(auto&& f, error_code want) {
    try {
        f();
    } catch (const config_error& e) {
        BOOST_TEST(e.code() == want, e.what());
        BOOST_TEST(std::string(e.what()).find(canary_token) == std::string::npos, "secret in: " << e.what());
        return e.what();
    }
    BOOST_FAIL("no config_error thrown");
    return {};
}

struct env_guard {
    std::string name;
    std::string old;
    bool had;
    env_guard(std::string n, const std::string& value) : name(std::move(n)) {
        const char* o = std::getenv(name.c_str());
        had = o != nullptr;
        if (had) old = o;
        ::setenv(name.c_str(), value.c_str(), 1);
    }
    ~env_guard() {
        if (had) ::setenv(name.c_str(), old.c_str(), 1); else ::unsetenv(name.c_str());
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(kubeconfig)

BOOST_AUTO_TEST_CASE(file_paths_are_resolved_against_the_kubeconfig_folder) {
    temp_dir dir;
    dir.write("pki/ca.crt", "CA PEM");
    dir.write("pki/admin.crt", "CERT PEM");
    dir.write("pki/admin.key", "KEY PEM");
    auto path = dir.write("conf/../config", two_contexts);
    auto cfg = load_kubeconfig(path);
    BOOST_TEST(cfg.server == "https://127.0.0.1:6443");
    BOOST_TEST(cfg.default_namespace == "team-a");
    BOOST_TEST(cfg.certificate_authority_pem == "CA PEM");
    BOOST_TEST(cfg.tls_server_name == "kubernetes");
    BOOST_TEST(cfg.client_certificate_pem == "CERT PEM");
    BOOST_TEST(cfg.client_key_pem.reveal() == "KEY PEM");
    BOOST_TEST(cfg.token.empty());
    BOOST_TEST(cfg.source.find("context admin") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(inline_data_and_an_explicit_context) {
    auto cfg = parse_kubeconfig(two_contexts, "tokened");
    BOOST_TEST(cfg.server == "https://[::1]:6443/prefix/");
    BOOST_TEST(cfg.default_namespace == "default");
    BOOST_TEST(cfg.certificate_authority_pem == "hello CA");
    BOOST_TEST(cfg.client_certificate_pem == "hello cert");
    BOOST_TEST(cfg.client_key_pem.reveal() == "hello key");
    BOOST_TEST(cfg.token.reveal() == canary_token);
}

BOOST_AUTO_TEST_CASE(files_are_remembered_for_rotation_and_data_is_not) {
    temp_dir dir;
    dir.write("pki/ca.crt", "CA PEM");
    dir.write("pki/admin.crt", "CERT PEM");
    dir.write("pki/admin.key", "KEY PEM");
    auto cfg = load_kubeconfig(dir.write("config", two_contexts));
    BOOST_TEST(cfg.certificate_authority_file == (dir.path() / "pki/ca.crt").string());
    BOOST_TEST(cfg.client_certificate_file == (dir.path() / "pki/admin.crt").string());
    BOOST_TEST(cfg.client_key_file == (dir.path() / "pki/admin.key").string());
    auto inline_cfg = parse_kubeconfig(two_contexts, "tokened");
    BOOST_TEST(inline_cfg.certificate_authority_file.empty());
    BOOST_TEST(inline_cfg.client_certificate_file.empty());
    BOOST_TEST(inline_cfg.client_key_file.empty());
}

BOOST_AUTO_TEST_CASE(proxy_url_and_disable_compression_are_read) {
    auto cfg = parse_kubeconfig(R"(current-context: c
clusters: [{name: k, cluster: {server: "https://10.0.0.1", proxy-url: "http://user:)" + canary_token + R"(@proxy.corp:3128", disable-compression: true, extensions: [{name: x, extension: {}}]}}]
contexts: [{name: c, context: {cluster: k, extensions: []}}]
)");
    BOOST_TEST(cfg.proxy_url.reveal() == "http://user:" + canary_token + "@proxy.corp:3128");
    BOOST_TEST(cfg.disable_compression);
    // A proxy we cannot use fails when the file is read, naming the field
    // and never the password.
    auto what = expect_config_error([] {
        parse_kubeconfig(R"(current-context: c
clusters: [{name: k, cluster: {server: "https://10.0.0.1", proxy-url: "socks5://u:)" + canary_token + R"(@proxy:1080"}}]
contexts: [{name: c, context: {cluster: k}}]
)");
    }, error::config_invalid);
    BOOST_TEST(what.find("clusters[k].proxy-url") != std::string::npos, what);
    BOOST_TEST(what.find("socks5") != std::string::npos, what);
}

BOOST_AUTO_TEST_CASE(unsupported_fields_are_errors_that_name_them) {
    struct field_case {
        std::string yaml, expect;
    };
    const std::string ctx = "contexts: [{name: c, context: {cluster: k, user: u}}]\n";
    const std::string cluster = "clusters: [{name: k, cluster: {server: \"https://10.0.0.1\"}}]\n";
    const std::string user = "users: [{name: u, user: {token: t}}]\n";
    const std::vector<field_case> cases = {
        {"current-context: c\nclusters: [{name: k, cluster: {server: \"https://10.0.0.1\", proxy-ur: x}}]\n" + ctx + user,
         "clusters[k].proxy-ur: not supported by leaselocker"},
        {"current-context: c\n" + cluster + "contexts: [{name: c, context: {cluster: k, user: u, namespaces: x}}]\n" + user,
         "contexts[c].namespaces: not supported"},
        {"current-context: c\n" + cluster + ctx + "users: [{name: u, user: {token: t, as: admin}}]\n",
         "users[u].as: impersonation is not supported"},
        {"current-context: c\n" + cluster + ctx + "users: [{name: u, user: {token: t, as-groups: [system:masters]}}]\n",
         "users[u].as-groups: impersonation is not supported"},
        {"current-context: c\n" + cluster + ctx + "users: [{name: u, user: {tokenfile: /t}}]\n",
         "users[u].tokenfile: not supported"},
        {"current-context: c\n" + cluster + ctx +
             "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: x, argz: []}}}]\n",
         "users[].exec.argz: not supported"},
        {"current-context: c\nprefs: {}\n" + cluster + ctx + user, "prefs: not supported"},
    };
    for (const auto& c : cases) {
        auto what = expect_config_error([&] { parse_kubeconfig(c.yaml); }, error::config_invalid);
        BOOST_TEST(what.find(c.expect) != std::string::npos, what << " (want: " << c.expect << ")");
    }
    // Empty values are ignored, as by kubectl.
    auto ok = parse_kubeconfig("current-context: c\n" + cluster + ctx +
                               "users: [{name: u, user: {token: t, as: \"\", as-groups: [], username: \"\"}}]\n");
    BOOST_TEST(ok.token.reveal() == "t");
    // Entries the chosen context does not use are not judged.
    ok = parse_kubeconfig("current-context: c\nclusters: [{name: k, cluster: {server: \"https://10.0.0.1\"}}, "
                          "{name: other, cluster: {server: \"https://10.0.0.2\", new-field: 1}}]\n" + ctx + user);
    BOOST_TEST(ok.server == "https://10.0.0.1");
}

BOOST_AUTO_TEST_CASE(unknown_context_and_missing_current_context) {
    auto what = expect_config_error([] { parse_kubeconfig(two_contexts, "nope"); }, error::config_invalid);
    BOOST_TEST(what.find("context \"nope\" not found") != std::string::npos, what);
    what = expect_config_error([] { parse_kubeconfig("clusters: []\n"); }, error::config_invalid);
    BOOST_TEST(what.find("no current-context") != std::string::npos, what);
}

BOOST_AUTO_TEST_CASE(a_ca_together_with_insecure_skip_verify_is_refused) {
    const std::string yaml = R"(current-context: c
clusters: [{name: k, cluster: {server: "https://10.0.0.1", certificate-authority-data: aGVsbG8=, insecure-skip-tls-verify: true}}]
contexts: [{name: c, context: {cluster: k}}]
)";
    auto what = expect_config_error([&] { parse_kubeconfig(yaml, {}, ".", "/etc/kc"); }, error::config_invalid);
    BOOST_TEST(what.find("/etc/kc") != std::string::npos, what);
    BOOST_TEST(what.find("clusters[k]") != std::string::npos, what);
    BOOST_TEST(what.find("insecure-skip-tls-verify") != std::string::npos, what);

    auto insecure = parse_kubeconfig(R"(current-context: c
clusters: [{name: k, cluster: {server: "https://10.0.0.1", insecure-skip-tls-verify: true}}]
contexts: [{name: c, context: {cluster: k}}]
)");
    BOOST_TEST(insecure.insecure_skip_tls_verify);
}

BOOST_AUTO_TEST_CASE(bad_yaml_names_file_and_line) {
    temp_dir dir;
    auto path = dir.write("config", "apiVersion: v1\nclusters:\n  - name: [unclosed\n");
    auto what = expect_config_error([&] { load_kubeconfig(path); }, error::config_invalid);
    BOOST_TEST(what.find(path) != std::string::npos, what);
    BOOST_TEST(what.find("line") != std::string::npos, what);
}

BOOST_AUTO_TEST_CASE(entries_of_the_wrong_shape_are_config_errors_not_yaml_exceptions) {
    // Found by fuzzing (fuzz_kubeconfig): a scalar where a list item or its
    // body should be a mapping escaped as YAML::BadSubscript.
    for (const char* yaml : {"clusters: [just-a-name]\n",
                             "contexts:\n- name: c\n  context: a-scalar\ncurrent-context: c\n",
                             "users:\n- [1, 2]\n",
                             "clusters:\n- name: k\n  cluster: [1]\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
                             "users:\n- name: u\n  user: {}\ncurrent-context: c\n"}) {
        auto what = expect_config_error([&] { parse_kubeconfig(yaml); }, error::config_invalid);
        BOOST_TEST(what.find("kubeconfig") != std::string::npos, what);
    }
}

BOOST_AUTO_TEST_CASE(missing_files) {
    auto what = expect_config_error([] { load_kubeconfig("/nonexistent/kubeconfig"); }, error::config_not_found);
    BOOST_TEST(what.find("/nonexistent/kubeconfig") != std::string::npos, what);

    temp_dir dir;
    auto path = dir.write("config", two_contexts); // pki/ files absent
    what = expect_config_error([&] { load_kubeconfig(path, "admin"); }, error::config_not_found);
    BOOST_TEST(what.find("certificate-authority") != std::string::npos, what);
}

BOOST_AUTO_TEST_CASE(bad_base64_names_the_field_not_the_value) {
    std::string yaml = two_contexts;
    yaml.replace(yaml.find("aGVsbG8ga2V5"), 12, "not%base64%SECRETKEYMATERIAL");
    auto what = expect_config_error([&] { parse_kubeconfig(yaml, "tokened"); }, error::config_invalid);
    BOOST_TEST(what.find("users[tokened].client-key-data") != std::string::npos, what);
    BOOST_TEST(what.find("SECRETKEYMATERIAL") == std::string::npos, what);
}

BOOST_AUTO_TEST_CASE(certificate_without_key_is_refused) {
    const std::string yaml = R"(current-context: c
clusters: [{name: k, cluster: {server: "https://h"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users: [{name: u, user: {client-certificate-data: aGVsbG8=}}]
)";
    expect_config_error([&] { parse_kubeconfig(yaml); }, error::config_invalid);
}

BOOST_AUTO_TEST_CASE(exec_plugin_is_read_with_its_command_resolved) {
    const std::string yaml = R"(current-context: c
clusters: [{name: k, cluster: {server: "https://h"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./bin/get-token
      args: [--cluster, k]
      env: [{name: REGION, value: eu}]
      interactiveMode: Never
      provideClusterInfo: true
)";
    auto cfg = parse_kubeconfig(yaml, {}, "/etc/kube");
    BOOST_TEST_REQUIRE(cfg.exec.has_value());
    BOOST_TEST(cfg.exec->command == "/etc/kube/bin/get-token");
    BOOST_TEST(cfg.exec->args == std::vector<std::string>({"--cluster", "k"}), boost::test_tools::per_element());
    BOOST_TEST(cfg.exec->env.size() == 1u);
    BOOST_TEST(cfg.exec->provide_cluster_info);

    std::string v1alpha = yaml;
    v1alpha.replace(v1alpha.find("/v1\n"), 4, "/v1alpha1\n");
    auto what = expect_config_error([&] { parse_kubeconfig(v1alpha); }, error::config_invalid);
    BOOST_TEST(what.find("apiVersion") != std::string::npos, what);
}

BOOST_AUTO_TEST_CASE(kubeconfig_list_merges_first_wins) {
    temp_dir dir;
    auto first = dir.write("first", R"(current-context: ""
clusters: [{name: shared, cluster: {server: "https://first"}}]
contexts: [{name: c, context: {cluster: shared, namespace: from-first}}]
)");
    auto second = dir.write("second", R"(current-context: c
clusters: [{name: shared, cluster: {server: "https://second"}}]
contexts: [{name: c, context: {cluster: shared, namespace: from-second}}, {name: d, context: {cluster: shared}}]
)");
    env_guard kc("KUBECONFIG", first + ":" + dir.path().string() + "/missing:" + second);
    auto cfg = load_default();
    BOOST_TEST(cfg.server == "https://first");          // first file's cluster wins
    BOOST_TEST(cfg.default_namespace == "from-first");  // and its context
    BOOST_TEST(load_default("d").server == "https://first");
}

BOOST_AUTO_TEST_CASE(in_cluster_reads_the_service_account_folder) {
    temp_dir dir;
    dir.write("token", canary_token + "\n");
    dir.write("ca.crt", "CA PEM");
    dir.write("namespace", "jobs\n");
    auto cfg = detail::load_in_cluster_from(dir.path().string(), "fd00::1", "443");
    BOOST_TEST(cfg.server == "https://[fd00::1]:443");
    BOOST_TEST(cfg.default_namespace == "jobs");
    BOOST_TEST(cfg.certificate_authority_pem == "CA PEM");
    BOOST_TEST(cfg.token_file == (dir.path() / "token").string()); // re-read, so rotation is seen
    BOOST_TEST(cfg.token.empty());
    expect_config_error([&] { detail::load_in_cluster_from(dir.path().string(), nullptr, "443"); }, error::config_not_found);
}

BOOST_AUTO_TEST_SUITE_END()
