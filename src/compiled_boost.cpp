// The one translation unit that compiles Boost.Beast (and, for our own
// builds, Asio with its SSL layer), so no other file pays for them.
#include <boost/beast/src.hpp>

#ifdef BOOST_ASIO_SEPARATE_COMPILATION
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#endif
