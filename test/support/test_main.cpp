#define BOOST_TEST_MODULE leaselocker
#include <boost/test/unit_test.hpp>
