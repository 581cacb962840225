/// @file
/// Where the API server is and who we are to it: what a kubeconfig context or
/// the in-cluster environment resolves to.
#pragma once

#include <leaselocker/config/secret.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace leaselocker {

/// An exec credential plugin (client.authentication.k8s.io v1 / v1beta1):
/// a command that prints an ExecCredential with a token or a client
/// certificate, re-run when that credential expires.
struct exec_config {
    std::string api_version; ///< client.authentication.k8s.io/v1 or /v1beta1
    std::string command;     ///< resolved against the kubeconfig's folder if relative with a slash
    std::vector<std::string> args; ///< arguments passed to the command
    /// Variables (name, value) added to the process's environment for the
    /// command.
    std::vector<std::pair<std::string, std::string>> env;
    std::string interactive_mode; ///< Never / IfAvailable / Always (we never have a terminal)
    /// Tell the plugin about the cluster in KUBERNETES_EXEC_INFO (server,
    /// CA, tls-server-name, insecure-skip-tls-verify), as kubeconfig's
    /// provideClusterInfo.
    bool provide_cluster_info = false;
};

/// How to reach and authenticate to one API server, as loaded by
/// load_default, load_kubeconfig or load_in_cluster (kubeconfig.hpp), or
/// filled in by hand; client takes it. Secrets stay in `secret` fields.
struct cluster_config {
    /// https://host:port, optionally with a path prefix. http:// only for
    /// loopback or kubectl proxy.
    std::string server;
    /// The namespace used where none is named (the kubeconfig context's,
    /// or the pod's in-cluster).
    std::string default_namespace = "default";

    /// PEM bundle of trusted CAs; empty means the system's roots.
    std::string certificate_authority_pem;
    /// The file it was read from, if any: re-read when it changes (checked
    /// before each request), so a rotated CA is trusted without a restart;
    /// idle connections are closed then, requests in flight finish on theirs.
    /// Until the file changes, certificate_authority_pem is what is used.
    std::string certificate_authority_file;
    /// Do not verify the server's certificate (kubeconfig
    /// insecure-skip-tls-verify; not allowed together with a CA).
    bool insecure_skip_tls_verify = false;
    /// Name to verify the server's certificate against (and send as SNI)
    /// instead of the host in `server`.
    std::string tls_server_name;

    /// Client certificate authentication; from files (if named) re-read when
    /// either changes, as for the CA (client-go's certificate rotation).
    std::string client_certificate_pem;
    secret client_key_pem;          ///< the client certificate's private key, PEM
    std::string client_certificate_file; ///< the file client_certificate_pem was read from, if any
    std::string client_key_file;    ///< the file client_key_pem was read from, if any

    /// An HTTP proxy to tunnel through with CONNECT:
    /// http://[user:password@]host[:port] (kubeconfig proxy-url; a secret:
    /// it may hold a password). Empty: the
    /// environment's HTTPS_PROXY / NO_PROXY as Go reads them (see
    /// client_options::proxy_from_environment).
    secret proxy_url;
    /// kubeconfig disable-compression: accepted; leaselocker never asks for
    /// compressed responses (its requests and answers are small).
    bool disable_compression = false;

    /// Bearer token authentication: a fixed token, or a file re-read
    /// periodically (service-account tokens rotate), or an exec plugin.
    secret token;
    /// A file holding the token, re-read every
    /// client_options::token_file_reload and at once after a 401; when set,
    /// it is used instead of `token`.
    std::string token_file;
    /// An exec credential plugin that provides the token or client
    /// certificate (kubeconfig users[].exec).
    std::optional<exec_config> exec;

    /// Where this came from ("/path/kubeconfig, context admin" or
    /// "in-cluster"), for messages.
    std::string source;
};

} // namespace leaselocker
