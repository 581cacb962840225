#include "tls_context.hpp"

#include <leaselocker/config/kubeconfig.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace leaselocker::detail {

namespace ssl = boost::asio::ssl;

std::unique_ptr<ssl::context> make_tls_context(const cluster_config& cfg) {
    auto bad = [&](const std::string& field, const boost::system::error_code& ec) {
        // ec.message() is OpenSSL's reason ("no start line", ...), never the data.
        return config_error(make_error_code(error::config_invalid), cfg.source + ": " + field + ": " + ec.message());
    };
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    boost::system::error_code ec;
    if (cfg.insecure_skip_tls_verify && !cfg.certificate_authority_pem.empty())
        throw config_error(make_error_code(error::config_invalid),
                           cfg.source + ": certificate-authority together with insecure-skip-tls-verify is not allowed (it would not be checked)");
    if (cfg.insecure_skip_tls_verify) {
        ctx->set_verify_mode(ssl::verify_none);
    } else {
        ctx->set_verify_mode(ssl::verify_peer);
        if (cfg.certificate_authority_pem.empty()) {
            if (ctx->set_default_verify_paths(ec); ec) throw bad("system CA store", ec);
        } else if (ctx->add_certificate_authority(boost::asio::buffer(cfg.certificate_authority_pem), ec); ec) {
            throw bad("certificate-authority", ec);
        }
    }
    if (!cfg.client_certificate_pem.empty()) {
        if (ctx->use_certificate_chain(boost::asio::buffer(cfg.client_certificate_pem), ec); ec)
            throw bad("client-certificate", ec);
        auto key = cfg.client_key_pem.reveal();
        if (ctx->use_private_key(boost::asio::buffer(key.data(), key.size()), ssl::context::pem, ec); ec)
            throw bad("client-key", ec);
    }
    return ctx;
}

void prepare_tls(SSL* ssl, const cluster_config& cfg, const server_address& address) {
    const std::string name = cfg.tls_server_name.empty() ? address.host_unbracketed() : cfg.tls_server_name;
    boost::system::error_code ec;
    boost::asio::ip::make_address(name, ec);
    const bool is_ip = !ec;
    if (!is_ip) SSL_set_tlsext_host_name(ssl, name.c_str()); // SNI is for names only
    if (cfg.insecure_skip_tls_verify) return;
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (is_ip)
        X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    else
        X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
}

std::string tls_failure_reason(SSL* ssl, const boost::system::error_code& ec) {
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    return ec.message();
}

} // namespace leaselocker::detail
