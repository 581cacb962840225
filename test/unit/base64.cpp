#include <leaselocker/detail/base64.hpp>

#include <boost/test/unit_test.hpp>

using leaselocker::detail::base64_decode;

BOOST_AUTO_TEST_SUITE(base64)

BOOST_AUTO_TEST_CASE(decodes_rfc4648_vectors) {
    BOOST_TEST(*base64_decode("") == "");
    BOOST_TEST(*base64_decode("Zg==") == "f");
    BOOST_TEST(*base64_decode("Zm8=") == "fo");
    BOOST_TEST(*base64_decode("Zm9v") == "foo");
    BOOST_TEST(*base64_decode("Zm9vYg==") == "foob");
    BOOST_TEST(*base64_decode("Zm9vYmE=") == "fooba");
    BOOST_TEST(*base64_decode("Zm9vYmFy") == "foobar");
}

BOOST_AUTO_TEST_CASE(skips_line_breaks_and_tolerates_missing_padding) {
    BOOST_TEST(*base64_decode("Zm9v\nYmFy\n") == "foobar");
    BOOST_TEST(*base64_decode("Zm8") == "fo");
}

BOOST_AUTO_TEST_CASE(rejects_garbage) {
    BOOST_TEST(!base64_decode("Zm9v!"));
    BOOST_TEST(!base64_decode("Zg==Zg=="));  // data after padding
    BOOST_TEST(!base64_decode("Z"));         // 6 bits cannot end a byte
    BOOST_TEST(!base64_decode("Zh=="));      // non-zero padding bits
}

BOOST_AUTO_TEST_SUITE_END()
