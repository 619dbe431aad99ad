#!/usr/bin/env bash
# Usage: scripts/with-mock.sh CMD [ARGS...]
#
# Starts the mock provider ($AIGW_MOCK_BIN, by default target/release/aigw-mock
# or $CARGO_TARGET_DIR/release/aigw-mock) on a free 127.0.0.1 port, waits for
# its port file, exports AIGW_MOCK_URL=http://127.0.0.1:PORT, runs CMD, stops
# the mock, and exits with CMD's exit status.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
mock=${AIGW_MOCK_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/aigw-mock}
wait_secs=${AIGW_MOCK_WAIT_SECS:-10}

if [ $# -eq 0 ]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi
if [ ! -x "$mock" ]; then
    echo "with-mock.sh: mock binary not found at $mock (run 'make lib' first)" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aigw-mock.XXXXXX")
port_file=$tmp/port
log=$tmp/mock.log
mock_pid=

cleanup() {
    if [ -n "$mock_pid" ] && kill -0 "$mock_pid" 2>/dev/null; then
        kill "$mock_pid" 2>/dev/null || true
        # Bounded wait, then insist.
        for _ in $(seq 1 50); do
            kill -0 "$mock_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$mock_pid" 2>/dev/null || true
        wait "$mock_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$mock" --port-file "$port_file" >"$log" 2>&1 &
mock_pid=$!

port=
deadline=$((SECONDS + wait_secs))
while [ -z "$port" ]; do
    if [ -s "$port_file" ]; then
        content=$(tr -d ' \r\n\t' <"$port_file")
        content=${content##*:} # accept "PORT" or "HOST:PORT"
        if [[ "$content" =~ ^[0-9]+$ ]]; then
            port=$content
            break
        fi
    fi
    if ! kill -0 "$mock_pid" 2>/dev/null; then
        echo "with-mock.sh: the mock exited before writing its port file; its output:" >&2
        cat "$log" >&2 || true
        exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "with-mock.sh: no port from the mock after ${wait_secs}s; its output:" >&2
        cat "$log" >&2 || true
        exit 1
    fi
    sleep 0.05
done

export AIGW_MOCK_URL="http://127.0.0.1:$port"
echo "with-mock.sh: mock listening at $AIGW_MOCK_URL (pid $mock_pid)" >&2

set +e
"$@"
rc=$?
set -e

if [ "$rc" -ne 0 ] && [ -s "$log" ]; then
    echo "with-mock.sh: command failed (exit $rc); last mock output:" >&2
    tail -n 20 "$log" >&2 || true
fi
exit "$rc"
