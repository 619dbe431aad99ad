#!/usr/bin/env bash
# Usage: tests/readme/readme-test.sh   (run from anywhere; needs the mock: scripts/with-mock.sh)
#
# Proves README's "Using it from C" works as written: extracts the C block
# marked `<!-- readme-test: app.c -->` and the `cc` lines of the block marked
# `<!-- readme-test: link lines -->`, runs README's build command
# (`cargo build --release`), compiles app.c with each link line exactly as
# printed (from a directory laid out like the repo), and runs each program
# against the mock. Prints "N passed, N failed".
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readme=$root/README.md
: "${AIGW_MOCK_URL:?run under scripts/with-mock.sh}"
target=${CARGO_TARGET_DIR:-$root/target}

passed=0
failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# The fenced block right after a marker line.
block_after() {
    awk -v marker="<!-- readme-test: $1 -->" '
        $0 == marker { want = 1; next }
        want && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }' "$readme"
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aigw-readme.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
block_after app.c >"$tmp/app.c"
[ -s "$tmp/app.c" ] && ok "README has the app.c block" || fail "README has no app.c block"
grep -q 'int main' "$tmp/app.c" && ok "app.c is a whole program" || fail "app.c has no main"
mapfile -t links < <(block_after "link lines" | grep '^cc ')
[ "${#links[@]}" -eq 2 ] && ok "two link lines" || fail "expected 2 link lines, got ${#links[@]}"

(cd "$root" && cargo build --release --quiet) && ok "cargo build --release" || fail "cargo build --release"

# A directory laid out like the repo, so the lines run verbatim.
ln -s "$root/include" "$tmp/include"
mkdir -p "$tmp/target"
ln -s "$target/release" "$tmp/target/release"

i=0
for line in "${links[@]}"; do
    i=$((i + 1))
    if (cd "$tmp" && eval "$line -o app$i") 2>"$tmp/cc$i.log"; then
        ok "link line $i compiles: $line"
    else
        fail "link line $i: $line"; cat "$tmp/cc$i.log"; continue
    fi
    # No LD_LIBRARY_PATH: the shared program must find libaigw.so.0 itself.
    if out=$(cd "$tmp" && env -u LD_LIBRARY_PATH "./app$i" "$AIGW_MOCK_URL/v1" 2>&1) &&
        grep -q '^HTTP 200: ' <<<"$out"; then
        ok "program $i runs and prints HTTP 200"
    else
        fail "program $i: $out"
    fi
done
if readelf -d "$tmp/app1" 2>/dev/null | grep -q 'NEEDED.*libaigw.so.0'; then
    ok "shared program needs libaigw.so.0"
else
    fail "shared program does not name libaigw.so.0"
fi
if ! readelf -d "$tmp/app2" 2>/dev/null | grep -q 'NEEDED.*libaigw'; then
    ok "static program needs no libaigw.so"
else
    fail "static program links libaigw.so"
fi

echo "readme-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
