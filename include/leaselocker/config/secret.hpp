/// @file
/// A string that must never reach a log, an error message or an exception:
/// bearer tokens, private keys. It has no stream operator and no implicit
/// conversion; reading it takes an explicit reveal().
#pragma once

#include <string>
#include <string_view>

namespace leaselocker {

/// A bearer token or private key: no stream operator, no implicit
/// conversion; only reveal() gives the value.
class secret {
public:
    secret() = default;
    /// Takes `value` over; only reveal() gives it back.
    explicit secret(std::string value) : value_(std::move(value)) {}

    /// The value itself: never pass it to a log or a message.
    std::string_view reveal() const noexcept { return value_; }
    /// Whether there is no value (nothing configured).
    bool empty() const noexcept { return value_.empty(); }

    /// Whether both hold the same value.
    friend bool operator==(const secret&, const secret&) = default;

private:
    std::string value_;
};

} // namespace leaselocker
