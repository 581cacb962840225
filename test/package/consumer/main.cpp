// A program that compiles Asio and Beast header-only itself (an HTTP
// exchange with Beast over a loopback socket) and takes a lock with
// leaselocker in the same program: the package imposes no Asio
// configuration, and the library's compiled code does not clash with the
// program's. Usage: consumer NAMESPACE/NAME (uses $KUBECONFIG).
#ifdef BOOST_ASIO_SEPARATE_COMPILATION
#error "the leaselocker package chose this program's Asio configuration"
#endif
#include <leaselocker/leaselocker.hpp>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <iostream>
#include <string>

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

asio::awaitable<void> serve_one(tcp::acceptor& acceptor) {
    auto socket = co_await acceptor.async_accept(asio::use_awaitable);
    boost::beast::flat_buffer buffer;
    http::request<http::string_body> req;
    co_await http::async_read(socket, buffer, req, asio::use_awaitable);
    http::response<http::string_body> res{http::status::ok, 11};
    res.body() = "hello " + std::string(req.target());
    res.prepare_payload();
    co_await http::async_write(socket, res, asio::use_awaitable);
}

asio::awaitable<std::string> beast_exchange() {
    auto ex = co_await asio::this_coro::executor;
    tcp::acceptor acceptor{ex, {asio::ip::make_address("127.0.0.1"), 0}};
    asio::co_spawn(ex, serve_one(acceptor), asio::detached);
    tcp::socket socket{ex};
    co_await socket.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
    http::request<http::empty_body> req{http::verb::get, "/consumer", 11};
    co_await http::async_write(socket, req, asio::use_awaitable);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    co_await http::async_read(socket, buffer, res, asio::use_awaitable);
    co_return res.body();
}

asio::awaitable<void> run(leaselocker::client& api, leaselocker::lease_name name) {
    std::cout << "beast: " << co_await beast_exchange() << "\n";
    leaselocker::lease_locker locker{api, name};
    co_await locker.lock(asio::use_awaitable);
    std::cout << "leaselocker " << LEASELOCKER_VERSION_STRING << ": held " << name.namespace_name << "/" << name.name
              << " with fencing token " << locker.current_fencing_token().sequence << "\n";
    auto [ec, result] = co_await locker.unlock(asio::as_tuple(asio::use_awaitable));
    if (ec || result != leaselocker::unlock_result::released) throw std::runtime_error("unlock failed: " + ec.message());
    std::cout << "released\n";
}

int main(int argc, char** argv) {
    try {
        std::string ref = argc > 1 ? argv[1] : "";
        auto slash = ref.find('/');
        if (slash == std::string::npos) throw std::invalid_argument("usage: consumer NAMESPACE/NAME");
        asio::io_context io;
        leaselocker::client api{io.get_executor(), leaselocker::load_default()};
        auto done = asio::co_spawn(io, run(api, {ref.substr(0, slash), ref.substr(slash + 1)}), asio::use_future);
        io.run_for(std::chrono::seconds(30));
        if (done.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
            throw std::runtime_error("no lock within 30 s");
        done.get();
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "consumer: " << e.what() << "\n";
        return 1;
    }
}
