// Lets Boost.Test print our enums in failed assertions.
#pragma once

#include <leaselocker/error.hpp>

#include <ostream>

namespace leaselocker {

inline std::ostream& boost_test_print_type(std::ostream& os, error e) {
    return os << make_error_code(e).message();
}
inline std::ostream& boost_test_print_type(std::ostream& os, condition c) {
    return os << make_error_condition(c).message();
}

} // namespace leaselocker
