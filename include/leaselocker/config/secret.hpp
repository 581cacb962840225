/// @file
/// A string that must never reach a log, an error message or an exception:
/// bearer tokens, private keys. It has no stream operator and no implicit
/// conversion; reading it takes an explicit reveal().
#pragma once

#include <string>
#include <string_view>

namespace leaselocker {

class secret {
public:
    secret() = default;
    explicit secret(std::string value) : value_(std::move(value)) {}

    std::string_view reveal() const noexcept { return value_; }
    bool empty() const noexcept { return value_.empty(); }

    friend bool operator==(const secret&, const secret&) = default;

private:
    std::string value_;
};

} // namespace leaselocker
