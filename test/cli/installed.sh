#!/bin/sh
# The package as `cmake --install` puts it in a prefix: the pkg-config file
# names the prefix's headers and library wherever the prefix is, a program
# builds and links with nothing but its flags, and the tool runs (a few of
# its integration tests).
#   installed.sh BUILD_DIR PREFIX PYTHON cli_it.py CXX [EXTRA_FLAGS...]
set -eu
build=$1 prefix=$2 python=$3 tests=$4 cxx=$5
shift 5
rm -rf "$prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name leaselocker.pc)
[ -n "$pc" ] || { echo "FAIL: no leaselocker.pc under $prefix"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
includedir=$(cd "$(pkg-config --variable=includedir leaselocker)" && pwd)
libdir=$(cd "$(pkg-config --variable=libdir leaselocker)" && pwd)
[ "$includedir" = "$(cd "$prefix/include" && pwd)" ] || { echo "FAIL: pkg-config includedir $includedir"; exit 1; }
[ -f "$libdir/libleaselocker.a" ] || { echo "FAIL: no libleaselocker.a in pkg-config's libdir $libdir"; exit 1; }
[ -f "$includedir/leaselocker/version.hpp" ] || { echo "FAIL: headers not installed"; exit 1; }
pkg-config --libs leaselocker | grep -q -- "-lleaselocker" || { echo "FAIL: pkg-config --libs"; exit 1; }
echo "ok: pkg-config: $(pkg-config --cflags --libs leaselocker)"
# shellcheck disable=SC2046
"$cxx" -std=c++20 "$@" "$(dirname "$tests")/consumer/pkg_config_consumer.cpp" $(pkg-config --cflags --libs leaselocker) -o "$prefix/consumer"
"$prefix/consumer" | grep -q "^leaselocker [0-9.]*: ns/nightly$" || { echo "FAIL: the pkg-config consumer did not run"; exit 1; }
echo "ok: a consumer built with pkg-config's flags runs"
exec "$python" "$tests" "$prefix/bin/leaselocker" cli_errors cli_run.test_json_events
