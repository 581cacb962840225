// libFuzzer target: the HTTP response path. The bytes a server sends are
// parsed as the client parses them (Beast's parser, the client's header and
// body limits), then handled as lease_client does: a non-2xx status mapped
// to an error with the server's message, a 2xx body decoded as a Lease; and
// every line of the body read as a watch event would be.
#include <leaselocker/detail/status.hpp>
#include <leaselocker/lease/lease.hpp>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace http = boost::beast::http;
    http::response_parser<http::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(4 * 1024 * 1024); // client_options::max_response_bytes
    parser.eager(true);
    boost::system::error_code ec;
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    while (!bytes.empty() && !parser.is_done()) {
        const auto used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
        if (ec == http::error::need_more) break;
        if (ec) return 0;
        bytes.remove_prefix(used);
        if (used == 0) break;
    }
    if (!parser.is_header_done()) return 0;
    const auto& msg = parser.get();
    const auto& body = msg.body();
    if (msg.result_int() < 200 || msg.result_int() >= 300) {
        std::string message;
        leaselocker::detail::status_to_error(msg.result_int(), body, message);
        return 0;
    }
    std::string why;
    leaselocker::decode_lease(body, &why);
    for (std::size_t start = 0; start < body.size();) {
        auto end = body.find('\n', start);
        if (end == std::string::npos) end = body.size();
        leaselocker::decode_lease(std::string_view(body).substr(start, end - start), &why);
        start = end + 1;
    }
    return 0;
}
