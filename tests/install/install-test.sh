#!/usr/bin/env bash
# Usage (from the repository root, under scripts/with-mock.sh):
#   AIGW_VERSION=0.1.0 AIGW_SOMAJOR=0 tests/install/install-test.sh
#
# `make install` into a temporary prefix (and once with DESTDIR), then:
# - the installed files, symlinks, SONAME and aigw.pc are as documented;
# - examples/provider_call.c builds with nothing but
#   `cc app.c $(pkg-config --cflags --libs aigw)` and runs against the mock,
#   needing libaigw.so.$AIGW_SOMAJOR;
# - it builds statically twice: from the full prefix with libaigw.a picked
#   explicitly (-Wl,-Bstatic), and from a prefix holding only the static
#   library with plain `pkg-config --static`; both run without libaigw.so;
# - tests/install/version_check.c: the header's version macros,
#   aigw_version() and Cargo.toml agree.
# Ends with "N passed, N failed"; exits non-zero if anything failed.
set -uo pipefail

: "${AIGW_VERSION:?set AIGW_VERSION to the Cargo.toml version}"
: "${AIGW_SOMAJOR:?set AIGW_SOMAJOR}"
: "${AIGW_MOCK_URL:?run under scripts/with-mock.sh}"
MAKE=${MAKE:-make}
CC=${CC:-cc}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
CSTRICT=(-std=c11 -Wall -Wextra -Werror -pedantic)

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
# check DESCRIPTION CMD...: runs CMD (output shown on failure only).
check() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then ok "$what"; else fail "$what"; printf '%s\n' "$out" | sed 's/^/    /'; fi
}
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aigw-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
app=examples/provider_call.c

echo "--- make install PREFIX=$prefix"
if ! $MAKE --no-print-directory install PREFIX="$prefix" >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log"
    fail "make install PREFIX=$prefix"
    finish
fi
ok "make install PREFIX=$prefix"
# A prefix the loader does not search: make install says how to reach it.
check "make install names the loader path for $prefix/lib" \
    grep -q "note: $prefix/lib is not on the loader's path" "$tmp/install.log"
if [ "$(id -u)" -eq 0 ] && command -v ldconfig >/dev/null 2>&1; then
    check "make install ran ldconfig (as root, no DESTDIR)" grep -q "^==> ldconfig" "$tmp/install.log"
fi

lib=$prefix/lib
real=libaigw.so.$AIGW_VERSION
check "lib/$real is a regular file" test -f "$lib/$real" -a ! -L "$lib/$real"
check "lib/libaigw.so.$AIGW_SOMAJOR -> $real" test "$(readlink "$lib/libaigw.so.$AIGW_SOMAJOR")" = "$real"
check "lib/libaigw.so -> libaigw.so.$AIGW_SOMAJOR" test "$(readlink "$lib/libaigw.so")" = "libaigw.so.$AIGW_SOMAJOR"
check "lib/libaigw.a" test -f "$lib/libaigw.a"
check "include/aigw.h" test -f "$prefix/include/aigw.h"
check "include/aigw.hpp" test -f "$prefix/include/aigw.hpp"
if [ -f include/module.modulemap ]; then
    check "include/module.modulemap" cmp include/module.modulemap "$prefix/include/module.modulemap"
fi
check "lib/pkgconfig/aigw.pc" test -f "$lib/pkgconfig/aigw.pc"
soname=$(readelf -d "$lib/$real" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
check "SONAME of $real is libaigw.so.$AIGW_SOMAJOR (got '$soname')" test "$soname" = "libaigw.so.$AIGW_SOMAJOR"

export PKG_CONFIG_PATH=$lib/pkgconfig
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
check "pkg-config --exists aigw" $PKG_CONFIG --exists aigw
if $PKG_CONFIG --help 2>&1 | grep -q -- --validate; then
    check "pkg-config --validate aigw" $PKG_CONFIG --validate aigw
fi
got=$($PKG_CONFIG --modversion aigw 2>&1)
check "pkg-config --modversion aigw = $AIGW_VERSION (got '$got')" test "$got" = "$AIGW_VERSION"
# (echo normalises the blank pkgconf leaves at the end)
got=$(echo $($PKG_CONFIG --cflags aigw 2>&1))
check "pkg-config --cflags aigw = -I$prefix/include (got '$got')" test "$got" = "-I$prefix/include"
got=$(echo $($PKG_CONFIG --libs aigw 2>&1))
check "pkg-config --libs aigw = -L$lib -laigw (got '$got')" test "$got" = "-L$lib -laigw"
native=$($PKG_CONFIG --variable=native_static_libs aigw)
check "native_static_libs is not empty ('$native')" test -n "$native"
got=$(echo $($PKG_CONFIG --static --libs aigw 2>&1))
check "pkg-config --static --libs aigw = -L$lib -laigw $native (got '$got')" \
    test "$got" = "-L$lib -laigw $native"

# needed BINARY: the NEEDED entries, one per line.
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
# run_app WHAT BINARY [ENV...]: runs it against the mock; expects exit 0
# and the mock's answer in its output.
run_app() {
    local what=$1 bin=$2 out
    shift 2
    if out=$(env "$@" "$bin" "$AIGW_MOCK_URL" 2>&1) && printf '%s' "$out" | grep -q 'Hello from the aigw mock'; then
        ok "$what runs against the mock"
    else
        fail "$what runs against the mock"
        printf '%s\n' "$out" | sed 's/^/    /'
    fi
}

echo "--- shared: cc app.c \$(pkg-config --cflags --libs aigw)"
# shellcheck disable=SC2046
if $CC "${CSTRICT[@]}" $app $($PKG_CONFIG --cflags --libs aigw) -o "$tmp/app-shared" >"$tmp/cc.log" 2>&1; then
    ok "shared build"
    check "app-shared NEEDs libaigw.so.$AIGW_SOMAJOR" grep -qx "libaigw.so.$AIGW_SOMAJOR" <(needed "$tmp/app-shared")
    # The prefix is not in the loader's path: say where, as a user would.
    run_app "app-shared (LD_LIBRARY_PATH=$lib)" "$tmp/app-shared" LD_LIBRARY_PATH="$lib"
    if out=$(env -u LD_LIBRARY_PATH "$tmp/app-shared" "$AIGW_MOCK_URL" 2>&1); then
        fail "app-shared without LD_LIBRARY_PATH should not find libaigw (it ran)"
    else
        check "app-shared without LD_LIBRARY_PATH fails to load libaigw.so.$AIGW_SOMAJOR" \
            grep -q "libaigw.so.$AIGW_SOMAJOR" <<<"$out"
    fi
else
    fail "shared build"; sed 's/^/    /' "$tmp/cc.log"
fi

echo "--- C++: c++ -std=c++17 examples/cpp/chat.cpp \$(pkg-config --cflags --libs aigw)"
CXX=${CXX:-c++}
# shellcheck disable=SC2046
if $CXX -std=c++17 -Wall -Wextra -Werror -pedantic examples/cpp/chat.cpp $($PKG_CONFIG --cflags --libs aigw) \
    -o "$tmp/chat" >"$tmp/cc.log" 2>&1; then
    ok "C++ build against the installed aigw.hpp"
    if out=$(LD_LIBRARY_PATH=$lib "$tmp/chat" "$AIGW_MOCK_URL/v1" 2>&1) && grep -q 'tok4' <<<"$out"; then
        ok "C++ chat runs against the mock"
    else
        fail "C++ chat runs against the mock"; printf '%s\n' "$out" | sed 's/^/    /'
    fi
else
    fail "C++ build against the installed aigw.hpp"; sed 's/^/    /' "$tmp/cc.log"
fi

echo "--- static: cc app.c \$(pkg-config --cflags aigw) -Wl,-Bstatic \$(pkg-config --libs aigw) -Wl,-Bdynamic \$(pkg-config --variable=native_static_libs aigw)"
# shellcheck disable=SC2046
if $CC "${CSTRICT[@]}" $app $($PKG_CONFIG --cflags aigw) \
    -Wl,-Bstatic $($PKG_CONFIG --libs aigw) -Wl,-Bdynamic \
    $($PKG_CONFIG --variable=native_static_libs aigw) -o "$tmp/app-static" >"$tmp/cc.log" 2>&1; then
    ok "static build (-Wl,-Bstatic)"
    check "app-static NEEDs no libaigw" bash -c "! readelf -d '$tmp/app-static' | grep -q 'NEEDED.*libaigw'"
    # Hide the installed library from the loader: the binary must not care.
    mv "$lib/libaigw.so.$AIGW_VERSION" "$tmp/hidden.so"
    run_app "app-static (libaigw.so removed)" "$tmp/app-static" LD_LIBRARY_PATH="$lib"
    mv "$tmp/hidden.so" "$lib/libaigw.so.$AIGW_VERSION"
else
    fail "static build (-Wl,-Bstatic)"; sed 's/^/    /' "$tmp/cc.log"
fi

echo "--- static-only prefix: cc app.c \$(pkg-config --cflags --static --libs aigw)"
sprefix=$tmp/static-prefix
if $MAKE --no-print-directory install PREFIX="$sprefix" >"$tmp/install2.log" 2>&1; then
    rm -f "$sprefix"/lib/libaigw.so*
    # shellcheck disable=SC2046
    if $CC "${CSTRICT[@]}" $app $(PKG_CONFIG_PATH=$sprefix/lib/pkgconfig $PKG_CONFIG --cflags --static --libs aigw) \
        -o "$tmp/app-static2" >"$tmp/cc.log" 2>&1; then
        ok "static build (static-only prefix, pkg-config --static)"
        check "app-static2 NEEDs no libaigw" bash -c "! readelf -d '$tmp/app-static2' | grep -q 'NEEDED.*libaigw'"
        run_app "app-static2" "$tmp/app-static2"
    else
        fail "static build (static-only prefix, pkg-config --static)"; sed 's/^/    /' "$tmp/cc.log"
    fi
else
    fail "make install PREFIX=$sprefix"; sed 's/^/    /' "$tmp/install2.log"
fi

echo "--- DESTDIR staging: make install DESTDIR=$tmp/stage PREFIX=/opt/aigw"
opt_before=$(test -e /opt/aigw && echo yes || echo no)
if $MAKE --no-print-directory install DESTDIR="$tmp/stage" PREFIX=/opt/aigw >"$tmp/install3.log" 2>&1; then
    ok "make install DESTDIR=... PREFIX=/opt/aigw"
    check "staged lib/libaigw.so.$AIGW_SOMAJOR" test -L "$tmp/stage/opt/aigw/lib/libaigw.so.$AIGW_SOMAJOR"
    check "staged include/aigw.h" test -f "$tmp/stage/opt/aigw/include/aigw.h"
    check "staged aigw.pc says prefix=/opt/aigw (not DESTDIR)" \
        grep -qx 'prefix=/opt/aigw' "$tmp/stage/opt/aigw/lib/pkgconfig/aigw.pc"
    check "nothing written outside DESTDIR (/opt/aigw)" test "$opt_before" = yes -o ! -e /opt/aigw
else
    fail "make install DESTDIR=... PREFIX=/opt/aigw"; sed 's/^/    /' "$tmp/install3.log"
fi

echo "--- versions: aigw.h macros, aigw_version(), Cargo.toml ($AIGW_VERSION)"
# shellcheck disable=SC2046
if $CC "${CSTRICT[@]}" tests/install/version_check.c $($PKG_CONFIG --cflags --libs aigw) \
    -o "$tmp/version_check" >"$tmp/cc.log" 2>&1; then
    if out=$(LD_LIBRARY_PATH=$lib "$tmp/version_check" "$AIGW_VERSION" 2>&1); then
        ok "version_check: the macros, aigw_version() and Cargo.toml agree"
    else
        fail "version_check"; printf '%s\n' "$out" | sed 's/^/    /'
    fi
else
    fail "version_check build"; sed 's/^/    /' "$tmp/cc.log"
fi
check "installed aigw.h = include/aigw.h" cmp include/aigw.h "$prefix/include/aigw.h"

finish
