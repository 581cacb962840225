#include <leaselocker/lease/lease_client.hpp>

#include <leaselocker/detail/continuation.hpp>
#include <leaselocker/detail/names.hpp>
#include <leaselocker/detail/status.hpp>

#include <boost/asio/append.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace leaselocker {

namespace asio = boost::asio;

namespace {

void fill(diagnostics* diag, std::string client_message, std::string server_message = {}) {
    if (!diag) return;
    diag->client_message = std::move(client_message);
    diag->server_message = std::move(server_message);
}

// Completes a handler with an error without having started any I/O: posted,
// so never inside the initiating call.
template <class Handler, class... Values>
void complete_later(Handler h, const client::executor_type& ex, error_code ec, Values... values) {
    asio::post(ex, asio::append(std::move(h), ec, std::move(values)...));
}

// A non-2xx answer as an error; diag gets the server's message.
error_code check_status(const http_response& resp, const std::string& what, diagnostics* diag) {
    if (resp.status >= 200 && resp.status < 300) return {};
    std::string server_message;
    auto ec = detail::status_to_error(resp.status, resp.body, server_message);
    fill(diag, what + ": HTTP " + std::to_string(resp.status), std::move(server_message));
    return ec;
}

} // namespace

lease_client::lease_client(client& c, std::string namespace_name)
    : client_(&c), namespace_(namespace_name.empty() ? c.config().default_namespace : std::move(namespace_name)) {}

std::string lease_client::path(std::string_view name) const {
    std::string p = "/apis/coordination.k8s.io/v1/namespaces/" + namespace_ + "/leases";
    if (!name.empty()) p.append("/").append(name);
    return p;
}

void lease_client::send(http_request req, request_options opts, std::string what, lease_handler h) {
    req.timeout = opts.timeout;
    req.diag = opts.diag;
    client_->request(std::move(req),
                     detail::continuation(std::move(h), client_->get_executor(), [what, diag = opts.diag](auto& h, error_code ec, http_response resp) {
                         if (!ec) ec = check_status(resp, what, diag);
                         if (ec) return std::move(h)(ec, lease{});
                         std::string why;
                         auto l = decode_lease(resp.body, &why);
                         if (!l) {
                             fill(diag, what + ": response is not a Lease: " + why);
                             return std::move(h)(make_error_code(error::malformed_response), lease{});
                         }
                         l->served_at = parse_http_date(resp.date);
                         std::move(h)(ec, std::move(*l));
                     }));
}

void lease_client::start_get(lease_handler h, std::string name, request_options opts) {
    if (!detail::is_dns1123_subdomain(name)) {
        fill(opts.diag, "lease name \"" + name + "\" is not a valid DNS-1123 subdomain");
        return complete_later(std::move(h), get_executor(), make_error_code(error::invalid), lease{});
    }
    send({.method = http_method::get, .target = path(name)}, opts, "get lease " + namespace_ + "/" + name, std::move(h));
}

void lease_client::start_create(lease_handler h, lease l, request_options opts) {
    if (!detail::is_dns1123_subdomain(l.metadata.name)) {
        fill(opts.diag, "lease name \"" + l.metadata.name + "\" is not a valid DNS-1123 subdomain");
        return complete_later(std::move(h), get_executor(), make_error_code(error::invalid), lease{});
    }
    l.metadata.namespace_ = namespace_;
    l.metadata.resource_version.clear();
    send({.method = http_method::post, .target = path(), .body = encode_lease(l)}, opts,
         "create lease " + namespace_ + "/" + l.metadata.name, std::move(h));
}

void lease_client::start_replace(lease_handler h, lease l, request_options opts) {
    if (!detail::is_dns1123_subdomain(l.metadata.name) || l.metadata.resource_version.empty()) {
        fill(opts.diag, "replace needs a valid lease name and the resourceVersion it was read at");
        return complete_later(std::move(h), get_executor(), make_error_code(error::invalid), lease{});
    }
    l.metadata.namespace_ = namespace_;
    send({.method = http_method::put, .target = path(l.metadata.name), .body = encode_lease(l)}, opts,
         "replace lease " + namespace_ + "/" + l.metadata.name, std::move(h));
}

void lease_client::start_remove(void_handler h, std::string name, delete_preconditions pre, request_options opts) {
    if (!detail::is_dns1123_subdomain(name)) {
        fill(opts.diag, "lease name \"" + name + "\" is not a valid DNS-1123 subdomain");
        return complete_later(std::move(h), get_executor(), make_error_code(error::invalid));
    }
    boost::json::object body{{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
    boost::json::object pc;
    if (!pre.uid.empty()) pc["uid"] = pre.uid;
    if (!pre.resource_version.empty()) pc["resourceVersion"] = pre.resource_version;
    if (!pc.empty()) body["preconditions"] = std::move(pc);
    http_request req{.method = http_method::delete_, .target = path(name), .body = boost::json::serialize(body),
                     .timeout = opts.timeout, .diag = opts.diag};
    auto what = "delete lease " + namespace_ + "/" + name;
    client_->request(std::move(req), detail::continuation(std::move(h), get_executor(), [what, diag = opts.diag](auto& h, error_code ec, http_response resp) {
                         if (!ec) ec = check_status(resp, what, diag);
                         std::move(h)(ec);
                     }));
}

} // namespace leaselocker
