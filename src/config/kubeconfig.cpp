// kubeconfig loading with kubectl's rules. Every error names the file and
// the field; no value that could be a secret is ever put into a message.
#include <leaselocker/config/kubeconfig.hpp>
#include <leaselocker/detail/base64.hpp>
#include <leaselocker/detail/in_cluster.hpp>
#include <leaselocker/detail/proxy.hpp>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <string_view>
#include <fstream>
#include <map>
#include <sstream>

namespace leaselocker {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(error e, const std::string& what) {
    throw config_error(make_error_code(e), what);
}

std::string read_file(const fs::path& path, const std::string& what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(error::config_not_found, what + ": cannot read " + path.string());
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// A named entry (cluster, context or user) and the file it came from, whose
// folder its relative paths are resolved against.
struct entry {
    YAML::Node node;
    std::string file;
    fs::path dir;
};

// Every field of a mapping we read must be one we know: a setting that would
// be silently ignored (a proxy, impersonation, a field of a newer kubectl)
// is an error naming it instead.
void check_fields(const YAML::Node& node, std::initializer_list<std::string_view> known, const std::string& where) {
    for (const auto& field : node) {
        if (!field.first.IsScalar()) fail(error::config_invalid, where + ": a key that is not a string");
        const auto key = field.first.as<std::string>();
        if (std::find(known.begin(), known.end(), key) == known.end())
            fail(error::config_invalid, where + "." + key + ": not supported by leaselocker (unknown field)");
    }
}

// Several kubeconfig files merged as kubectl does: for each named entry and
// for current-context, the first file that sets it wins.
struct merged_config {
    std::string current_context;
    std::map<std::string, entry> clusters, contexts, users;
    std::vector<std::string> files;
};

void merge(merged_config& into, const std::string& text, const std::string& file, const fs::path& dir) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        // e.msg is the parser's own text; the offending input is not quoted.
        fail(error::config_invalid, "kubeconfig " + file + ": invalid YAML at line " +
                                        std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    if (root.IsNull()) return; // an empty file is allowed, as by kubectl
    if (!root.IsMap()) fail(error::config_invalid, "kubeconfig " + file + ": not a YAML mapping");
    into.files.push_back(file);
    check_fields(root, {"apiVersion", "kind", "clusters", "contexts", "users", "current-context", "preferences", "extensions"},
                 "kubeconfig " + file);

    if (auto cc = root["current-context"]; cc && cc.IsScalar() && into.current_context.empty())
        into.current_context = cc.as<std::string>();

    auto take = [&](const char* list, const char* inner, std::map<std::string, entry>& out) {
        auto seq = root[list];
        if (!seq || seq.IsNull()) return;
        if (!seq.IsSequence()) fail(error::config_invalid, "kubeconfig " + file + ": " + list + ": not a list");
        for (std::size_t i = 0; i < seq.size(); ++i) {
            const auto where = "kubeconfig " + file + ": " + list + "[" + std::to_string(i) + "]";
            auto item = seq[i];
            if (!item.IsMap()) fail(error::config_invalid, where + ": not a mapping");
            auto name = item["name"];
            if (!name || !name.IsScalar()) fail(error::config_invalid, where + ": no name");
            auto body = item[inner];
            if (body && !body.IsNull() && !body.IsMap()) fail(error::config_invalid, where + "." + inner + ": not a mapping");
            out.try_emplace(name.as<std::string>(), entry{body && body.IsMap() ? body : YAML::Node(YAML::NodeType::Map), file, dir});
        }
    };
    take("clusters", "cluster", into.clusters);
    take("contexts", "context", into.contexts);
    take("users", "user", into.users);
}

// Typed access to one entry's fields, with errors that name the field.
class field_reader {
public:
    field_reader(const entry& e, std::string where) : e_(e), where_("kubeconfig " + e.file + ": " + std::move(where)) {}

    std::string string(const char* key) const {
        auto n = e_.node[key];
        if (!n || n.IsNull()) return {};
        if (!n.IsScalar()) fail(error::config_invalid, where_ + "." + key + ": not a string");
        return n.as<std::string>();
    }

    bool boolean(const char* key) const {
        auto n = e_.node[key];
        if (!n || n.IsNull()) return false;
        try {
            return n.as<bool>();
        } catch (const YAML::Exception&) {
            fail(error::config_invalid, where_ + "." + key + ": not a boolean");
        }
    }

    // A path, resolved against the folder of the file that defined it.
    std::string path(const char* key) const {
        auto p = string(key);
        if (p.empty()) return p;
        if (p.starts_with("~/"))
            if (const char* home = std::getenv("HOME")) return (fs::path(home) / p.substr(2)).string();
        fs::path fp(p);
        return fp.is_absolute() ? p : (e_.dir / fp).lexically_normal().string();
    }

    // The file named by `<key>` when `<key>-data` is not given (the one
    // data_or_file reads), else empty.
    std::string file_of(const std::string& key) const {
        if (!string((key + "-data").c_str()).empty()) return {};
        return path(key.c_str());
    }

    // `<key>-data` (base64) if present, else the file named by `<key>`.
    std::string data_or_file(const std::string& key) const {
        auto data = string((key + "-data").c_str());
        if (!data.empty()) {
            auto decoded = detail::base64_decode(data);
            if (!decoded) fail(error::config_invalid, where_ + "." + key + "-data: not valid base64");
            return *decoded;
        }
        auto file = path(key.c_str());
        if (file.empty()) return {};
        return read_file(file, where_ + "." + key);
    }

    bool has(const char* key) const { return e_.node[key] && !e_.node[key].IsNull(); }
    // Present with a value: not null, not "", not an empty list or map
    // (kubectl ignores such fields, and so do we).
    bool set(const char* key) const {
        auto n = e_.node[key];
        if (!n || n.IsNull()) return false;
        if (n.IsScalar()) return !n.Scalar().empty();
        return n.size() > 0;
    }
    const YAML::Node& node() const { return e_.node; }
    const std::string& where() const { return where_; }
    const entry& source() const { return e_; }

private:
    const entry& e_;
    std::string where_;
};

exec_config read_exec(const field_reader& user) {
    const auto& node = user.node()["exec"];
    entry sub{node, user.source().file, user.source().dir};
    field_reader exec(sub, "users[].exec");
    check_fields(node, {"apiVersion", "command", "args", "env", "installHint", "provideClusterInfo", "interactiveMode"}, exec.where());
    exec_config out;
    out.api_version = exec.string("apiVersion");
    if (out.api_version != "client.authentication.k8s.io/v1" && out.api_version != "client.authentication.k8s.io/v1beta1")
        fail(error::config_invalid, exec.where() + ".apiVersion: unsupported \"" + out.api_version +
                                        "\" (want client.authentication.k8s.io/v1 or v1beta1)");
    out.command = exec.string("command");
    if (out.command.empty()) fail(error::config_invalid, exec.where() + ".command: missing");
    // kubectl resolves a relative command containing a slash against the
    // kubeconfig's folder; a bare name is looked up on PATH.
    if (out.command.find('/') != std::string::npos && !fs::path(out.command).is_absolute())
        out.command = (sub.dir / out.command).lexically_normal().string();
    if (auto args = node["args"]; args && args.IsSequence())
        for (const auto& a : args) out.args.push_back(a.as<std::string>());
    if (auto env = node["env"]; env && env.IsSequence())
        for (const auto& e : env) {
            if (!e["name"]) fail(error::config_invalid, exec.where() + ".env: an entry has no name");
            out.env.emplace_back(e["name"].as<std::string>(), e["value"] ? e["value"].as<std::string>() : "");
        }
    out.interactive_mode = exec.string("interactiveMode");
    if (out.interactive_mode == "Always")
        fail(error::config_invalid, exec.where() + ".interactiveMode: Always needs a terminal, which a library does not have");
    out.provide_cluster_info = exec.boolean("provideClusterInfo");
    return out;
}

cluster_config resolve(const merged_config& m, const std::string& requested) {
    std::string sources;
    for (const auto& f : m.files) sources += (sources.empty() ? "" : ", ") + f;
    const std::string context_name = requested.empty() ? m.current_context : requested;
    if (context_name.empty())
        fail(error::config_invalid, "kubeconfig " + sources + ": no context given and no current-context set");
    auto ctx_it = m.contexts.find(context_name);
    if (ctx_it == m.contexts.end())
        fail(error::config_invalid, "kubeconfig " + sources + ": context \"" + context_name + "\" not found");
    field_reader ctx(ctx_it->second, "contexts[" + context_name + "]");
    check_fields(ctx.node(), {"cluster", "user", "namespace", "extensions"}, ctx.where());

    cluster_config cfg;
    cfg.source = ctx_it->second.file + ", context " + context_name;
    if (auto ns = ctx.string("namespace"); !ns.empty()) cfg.default_namespace = ns;

    auto cluster_name = ctx.string("cluster");
    auto cl_it = m.clusters.find(cluster_name);
    if (cl_it == m.clusters.end())
        fail(error::config_invalid, ctx.where() + ".cluster: cluster \"" + cluster_name + "\" not found");
    field_reader cluster(cl_it->second, "clusters[" + cluster_name + "]");
    check_fields(cluster.node(), {"server", "tls-server-name", "insecure-skip-tls-verify", "certificate-authority",
                                  "certificate-authority-data", "proxy-url", "disable-compression", "extensions"},
                 cluster.where());
    cfg.server = cluster.string("server");
    if (cfg.server.empty()) fail(error::config_invalid, cluster.where() + ".server: missing");
    if (!cfg.server.starts_with("https://") && !cfg.server.starts_with("http://"))
        fail(error::config_invalid, cluster.where() + ".server: \"" + cfg.server + "\" is not an http(s) URL");
    cfg.insecure_skip_tls_verify = cluster.boolean("insecure-skip-tls-verify");
    cfg.tls_server_name = cluster.string("tls-server-name");
    cfg.certificate_authority_pem = cluster.data_or_file("certificate-authority");
    cfg.certificate_authority_file = cluster.file_of("certificate-authority");
    cfg.proxy_url = secret(cluster.string("proxy-url"));
    if (!cfg.proxy_url.empty()) // fails here, not at first use
        detail::parse_proxy_url(std::string(cfg.proxy_url.reveal()), cluster.where() + ".proxy-url");
    cfg.disable_compression = cluster.boolean("disable-compression");
    // As client-go: trusting a CA and skipping verification contradict.
    if (cfg.insecure_skip_tls_verify && !cfg.certificate_authority_pem.empty())
        fail(error::config_invalid, cluster.where() + ": certificate-authority together with insecure-skip-tls-verify is not allowed");

    auto user_name = ctx.string("user");
    if (!user_name.empty()) {
        auto us_it = m.users.find(user_name);
        if (us_it == m.users.end())
            fail(error::config_invalid, ctx.where() + ".user: user \"" + user_name + "\" not found");
        field_reader user(us_it->second, "users[" + user_name + "]");
        for (const char* impersonation : {"as", "as-uid", "as-groups", "as-user-extra"})
            if (user.set(impersonation))
                fail(error::config_invalid, user.where() + "." + impersonation + ": impersonation is not supported by leaselocker");
        if (user.set("auth-provider"))
            fail(error::config_invalid, user.where() + ".auth-provider: not supported (removed from client-go; use exec)");
        if (user.set("username") || user.set("password"))
            fail(error::config_invalid, user.where() + ": basic authentication is not supported by Kubernetes any more");
        // (The fields refused above when set are known, and ignored empty.)
        check_fields(user.node(), {"client-certificate", "client-certificate-data", "client-key", "client-key-data", "token",
                                   "tokenFile", "exec", "extensions", "as", "as-uid", "as-groups", "as-user-extra", "username",
                                   "password", "auth-provider"},
                     user.where());
        cfg.token = secret(user.string("token"));
        cfg.token_file = user.path("tokenFile");
        cfg.client_certificate_pem = user.data_or_file("client-certificate");
        cfg.client_key_pem = secret(user.data_or_file("client-key"));
        cfg.client_certificate_file = user.file_of("client-certificate");
        cfg.client_key_file = user.file_of("client-key");
        if (cfg.client_certificate_pem.empty() != cfg.client_key_pem.empty())
            fail(error::config_invalid, user.where() + ": client-certificate and client-key must be given together");
        if (user.has("exec")) cfg.exec = read_exec(user);
    }
    return cfg;
}

fs::path folder_of(const std::string& path) {
    auto abs = fs::absolute(path);
    return abs.parent_path();
}

} // namespace

// A yaml-cpp exception that the checks above did not foresee is still a
// config_error (its text names keys and positions, never values).
template <class F>
cluster_config guarded(const std::string& source, F&& f) {
    try {
        return f();
    } catch (const YAML::Exception& e) {
        fail(error::config_invalid, "kubeconfig " + source + ": " + e.msg);
    }
}

cluster_config parse_kubeconfig(const std::string& yaml, const std::string& context,
                                const std::string& base_dir, const std::string& source_name) {
    return guarded(source_name, [&] {
        merged_config m;
        merge(m, yaml, source_name, fs::absolute(base_dir));
        return resolve(m, context);
    });
}

cluster_config load_kubeconfig(const std::string& path, const std::string& context) {
    return guarded(path, [&] {
        merged_config m;
        merge(m, read_file(path, "kubeconfig"), path, folder_of(path));
        return resolve(m, context);
    });
}

cluster_config load_in_cluster() {
    return detail::load_in_cluster_from("/var/run/secrets/kubernetes.io/serviceaccount", std::getenv("KUBERNETES_SERVICE_HOST"),
                                        std::getenv("KUBERNETES_SERVICE_PORT"));
}

namespace detail {

cluster_config load_in_cluster_from(const std::string& dir, const char* host, const char* port) {
    if (!host || !*host || !port || !*port)
        fail(error::config_not_found, "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set");
    cluster_config cfg;
    cfg.source = "in-cluster";
    std::string h = host;
    if (h.find(':') != std::string::npos) h = "[" + h + "]"; // IPv6 literal
    cfg.server = "https://" + h + ":" + port;
    fs::path d(dir);
    cfg.token_file = (d / "token").string();
    if (!fs::exists(cfg.token_file)) fail(error::config_not_found, "in-cluster: " + cfg.token_file + " does not exist");
    cfg.certificate_authority_pem = read_file(d / "ca.crt", "in-cluster CA");
    cfg.certificate_authority_file = (d / "ca.crt").string(); // rotated with the service account's CA
    if (fs::exists(d / "namespace")) {
        auto ns = read_file(d / "namespace", "in-cluster namespace");
        while (!ns.empty() && (ns.back() == '\n' || ns.back() == ' ')) ns.pop_back();
        if (!ns.empty()) cfg.default_namespace = ns;
    }
    return cfg;
}

} // namespace detail

cluster_config load_default(const std::string& context) {
    if (const char* list = std::getenv("KUBECONFIG"); list && *list) {
        merged_config m;
        std::stringstream ss(list);
        for (std::string file; std::getline(ss, file, ':');) {
            if (file.empty() || !fs::exists(file)) continue; // kubectl skips missing entries
            merge(m, read_file(file, "kubeconfig"), file, folder_of(file));
        }
        if (!m.files.empty()) return resolve(m, context);
        fail(error::config_not_found, "KUBECONFIG names no existing file");
    }
    if (const char* home = std::getenv("HOME")) {
        auto path = fs::path(home) / ".kube" / "config";
        if (fs::exists(path)) return load_kubeconfig(path.string(), context);
    }
    return load_in_cluster();
}

} // namespace leaselocker
