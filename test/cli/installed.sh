#!/bin/sh
# The package as `cmake --install` puts it in a prefix: the tool runs (a few
# of its integration tests), and the pkg-config file names the prefix's
# headers and library wherever the prefix is.
#   installed.sh BUILD_DIR PREFIX PYTHON cli_it.py
set -eu
build=$1 prefix=$2 python=$3 tests=$4
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
exec "$python" "$tests" "$prefix/bin/leaselocker" cli_errors cli_run.test_json_events
