#include "token_source.hpp"

#include <fstream>
#include <sstream>

namespace leaselocker::detail {

std::string token_source::current(bool force_reload, error_code& ec, std::string& failure) {
    if (file_.empty()) return std::string(fixed_.reveal());
    auto now = std::chrono::steady_clock::now();
    if (loaded_ && !force_reload && now - read_at_ < reload_) return std::string(cached_.reveal());
    std::ifstream in(file_, std::ios::binary);
    std::ostringstream text;
    if (in) text << in.rdbuf();
    std::string token = text.str();
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
    if (!in || token.empty()) {
        // Keep using the last good token if there is one, as client-go does.
        if (loaded_) return std::string(cached_.reveal());
        ec = error::credential_unavailable;
        failure = "token file " + file_ + (in ? " is empty" : " cannot be read");
        return {};
    }
    cached_ = secret(std::move(token));
    read_at_ = now;
    loaded_ = true;
    return std::string(cached_.reveal());
}

} // namespace leaselocker::detail
