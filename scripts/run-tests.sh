#!/usr/bin/env bash
# Usage: scripts/run-tests.sh [--valgrind] BINARY...
#
# Runs each C test binary (normally under scripts/with-mock.sh), shows its
# closing "N passed, N failed" line, and exits non-zero if any failed.
# With --valgrind, each runs under valgrind (errors and definite leaks fail).
set -uo pipefail

prefix=()
label=
if [ "${1:-}" = "--valgrind" ]; then
    shift
    label=" (valgrind)"
    prefix=(valgrind --quiet --error-exitcode=1 --leak-check=full
        --errors-for-leak-kinds=definite --track-origins=yes)
    if [ -n "${AIGW_VALGRIND_SUPP:-}" ] && [ -f "$AIGW_VALGRIND_SUPP" ]; then
        prefix+=("--suppressions=$AIGW_VALGRIND_SUPP")
    fi
fi

if [ $# -eq 0 ]; then
    echo "usage: $0 [--valgrind] BINARY..." >&2
    exit 2
fi

failed=()
for bin in "$@"; do
    name=$(basename "$bin")
    echo "=== $name$label"
    start=$SECONDS
    ${prefix[@]+"${prefix[@]}"} "$bin"
    rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "=== $name: ok ($((SECONDS - start))s)"
    else
        echo "=== $name: FAILED (exit $rc)"
        failed+=("$name")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "all ${#} test binaries passed"
