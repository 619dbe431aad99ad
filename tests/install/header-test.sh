#!/usr/bin/env bash
# Usage: tests/install/header-test.sh   (from the repository root)
#
# include/aigw.h compiles cleanly, included twice in one translation unit,
# as C11 and C17 and as C++11/C++17 (-x c++, extern "C"), with
# -Wall -Wextra -Werror -pedantic, under gcc/g++ and, when installed,
# clang/clang++; include/aigw.hpp the same as C++17 and C++20; and every
# function, typedef, field, enum value and macro in aigw.h has a doc comment
# (tests/install/header-doc-check.awk). Ends with "N passed, N failed".
set -uo pipefail

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aigw-header.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
WARN=(-Wall -Wextra -Werror -pedantic -pedantic-errors -Wshadow -Wundef -Wcast-qual)
CWARN=("${WARN[@]}" -Wstrict-prototypes -Wmissing-prototypes)
CXXWARN=("${WARN[@]}" -Wold-style-cast -Wzero-as-null-pointer-constant -Wnon-virtual-dtor)

# compile LABEL COMPILER ARGS... : compiles $tmp/tu.* (given in ARGS).
compile() {
    local label=$1
    shift
    if "$@" -Iinclude -c -o "$tmp/out.o" >"$tmp/log" 2>&1; then
        passed=$((passed + 1))
        echo "ok: $label"
    else
        failed=$((failed + 1))
        echo "FAIL: $label: $*"
        sed 's/^/    /' "$tmp/log"
    fi
}

# A translation unit that includes the header twice and uses every type, so
# that an unused-but-broken declaration is still seen.
cat >"$tmp/tu.c" <<'EOF'
#include "aigw.h"
#include "aigw.h"
#include <stddef.h>

int aigw_header_test_uses(void);
int aigw_header_test_uses(void)
{
    aigw_stream_callbacks cb = {NULL, NULL, NULL, NULL};
    aigw_sse_event ev = {"message", 7, "", 0, "", 0};
    aigw_status st = AIGW_OK;
    const char *v = aigw_version();
    (void)v;
    return (int)st + (cb.userdata == NULL) + (int)ev.event_len +
           (AIGW_VERSION_MAJOR + AIGW_VERSION_MINOR + AIGW_VERSION_PATCH) * 0 +
           (int)sizeof(AIGW_VERSION) * 0;
}
EOF
cat >"$tmp/tu.cc" <<'EOF'
#include "aigw.h"
#include "aigw.h"

int aigw_header_test_uses();
int aigw_header_test_uses()
{
    aigw_stream_callbacks cb = {nullptr, nullptr, nullptr, nullptr};
    aigw_sse_event ev = {"message", 7, "", 0, "", 0};
    aigw_status st = AIGW_OK;
    const char *v = aigw_version();
    static_cast<void>(v);
    return static_cast<int>(st) + (cb.userdata == nullptr) + static_cast<int>(ev.event_len) +
           (AIGW_VERSION_MAJOR + AIGW_VERSION_MINOR + AIGW_VERSION_PATCH) * 0 +
           static_cast<int>(sizeof(AIGW_VERSION)) * 0;
}
EOF
# The C++ wrapper, twice, plus the C header before and after it.
cat >"$tmp/hpp.cc" <<'EOF'
#include "aigw.hpp"
#include "aigw.h"
#include "aigw.hpp"

int aigw_hpp_test_uses();
int aigw_hpp_test_uses()
{
    return static_cast<int>(aigw::version().size());
}
EOF

compilers_c=(gcc)
compilers_cxx=(g++)
if command -v clang >/dev/null 2>&1; then compilers_c+=(clang); else echo "note: clang not installed; gcc only"; fi
if command -v clang++ >/dev/null 2>&1; then compilers_cxx+=(clang++); fi

for cc in "${compilers_c[@]}"; do
    for std in c11 c17; do
        compile "aigw.h twice, $cc -std=$std" "$cc" -std="$std" "${CWARN[@]}" "$tmp/tu.c"
    done
done
for cxx in "${compilers_cxx[@]}"; do
    for std in c++11 c++17; do
        compile "aigw.h twice, $cxx -x c++ -std=$std" "$cxx" -x c++ -std="$std" "${CXXWARN[@]}" "$tmp/tu.cc"
    done
    if [ -f include/aigw.hpp ]; then
        for std in c++17 c++20; do
            compile "aigw.hpp twice, $cxx -std=$std" "$cxx" -std="$std" "${CXXWARN[@]}" "$tmp/hpp.cc"
        done
    fi
done

# The C functions must have C linkage when compiled as C++: a C++ object
# referring to them must name the unmangled symbols.
if g++ -x c++ -std=c++17 -Iinclude -c -o "$tmp/link.o" - >"$tmp/log" 2>&1 <<'EOF'
#include "aigw.h"
const char *(*volatile p)(void) = aigw_version;
EOF
then
    if nm "$tmp/link.o" | grep -qE ' U aigw_version$'; then
        passed=$((passed + 1)); echo "ok: extern \"C\": C++ refers to the unmangled aigw_version"
    else
        failed=$((failed + 1)); echo "FAIL: extern \"C\": aigw_version is mangled in C++:"; nm "$tmp/link.o" | sed 's/^/    /'
    fi
else
    failed=$((failed + 1)); echo "FAIL: extern \"C\" probe did not compile"; sed 's/^/    /' "$tmp/log"
fi

echo "--- doc comments in include/aigw.h"
if out=$(awk -f tests/install/header-doc-check.awk include/aigw.h); then
    passed=$((passed + 1)); echo "ok: every declaration documented ($(tail -n 1 <<<"$out"))"
else
    failed=$((failed + 1)); echo "FAIL: undocumented declarations in include/aigw.h (fix the Rust doc comments in src/ffi or build.rs):"
    sed 's/^/    /' <<<"$out"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
