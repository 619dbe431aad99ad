#!/usr/bin/env bash
# aigw benchmark suite runner. Normally called by make (mk/bench.mk):
#
#   bench/run.sh deps    install what the full run needs, if missing: nginx and
#                        libcurl4-openssl-dev (apt-get), litellm (pip, pinned in
#                        bench/requirements.txt), @portkey-ai/gateway (npm, in
#                        bench/node_modules). A peer that fails to install is
#                        reported by the full run, not fatal here.
#   bench/run.sh smoke   a few requests per C contender (libcurl, aigw) against
#                        nginx; no peers, no pinning; exits non-zero on failure.
#   bench/run.sh full    every figure, all contenders; writes BENCHMARKS.md.
#   bench/run.sh translate  the cost of translation alone (bench/translate.sh).
#   bench/run.sh hop     only the server-hop figures (bench/hop.sh).
#
# Environment: BENCH_BIN (dir holding curl_client and aigw_client; default
# build/bench), AIGW_LIBDIR (libaigw.so/.a; default target/release),
# BENCH_OUT (results; default build/bench/out), BENCH_REPORT (default
# BENCHMARKS.md), BENCH_DURATION (s per latency run, default 3), BENCH_ROUNDS
# (alternating rounds of the concurrency-1 runs, default 5), BENCH_PIN (1: pin
# the client side to CPU 0 and nginx to CPU 1; 0: no pinning), BENCH_PEERS
# (litellm,portkey; empty to skip them).
#
# Every request goes to 127.0.0.1 only: nginx listens on 127.0.0.1, the aigw
# fallback's refused step is a closed 127.0.0.1 port, LiteLLM's api_base and
# Portkey's custom host are nginx. The full run checks that with strace.
set -euo pipefail

MODE=${1:-}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BIN=${BENCH_BIN:-$ROOT/build/bench}
LIBDIR=${AIGW_LIBDIR:-$ROOT/target/release}
OUT=${BENCH_OUT:-$ROOT/build/bench/out}
REPORT=${BENCH_REPORT:-$ROOT/BENCHMARKS.md}
DURATION=${BENCH_DURATION:-3}
ROUNDS=${BENCH_ROUNDS:-5}
PEERS=${BENCH_PEERS-litellm,portkey}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
PORTKEY_JS=$BENCH/node_modules/@portkey-ai/gateway/build/start-server.js

log() { printf '==> %s\n' "$*" >&2; }
err() { printf 'bench: error: %s\n' "$*" >&2; }

# ---- deps ---------------------------------------------------------------

deps() {
    local missing=() pkg
    for pkg in nginx libcurl4-openssl-dev; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "apt-get install ${missing[*]}"
        local sudo=()
        [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
        "${sudo[@]}" apt-get update </dev/null >/dev/null
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends \
            "${missing[@]}" </dev/null
    fi
    if [[ ",$PEERS," == *,litellm,* ]]; then
        local want have
        want=$(sed -n 's/^litellm==//p' "$BENCH/requirements.txt")
        have=$(python3 -c 'from importlib.metadata import version; print(version("litellm"))' 2>/dev/null || true)
        if [ "$have" != "$want" ]; then
            log "pip install -r bench/requirements.txt (litellm $want; have: ${have:-none})"
            python3 -m pip install --quiet -r "$BENCH/requirements.txt" </dev/null \
                || err "pip install litellm failed; the full run will report it"
        fi
    fi
    hop_deps # bench/hop.sh
    if [[ ",$PEERS," == *,portkey,* ]] && [ ! -f "$PORTKEY_JS" ]; then
        if command -v npm >/dev/null; then
            log "npm ci in bench/ (@portkey-ai/gateway)"
            (cd "$BENCH" && npm ci --no-audit --no-fund --ignore-scripts </dev/null) \
                || err "npm ci failed; the full run will report it"
        else
            err "npm is not installed; the full run will report Portkey as not run"
        fi
    fi
}

# ---- helpers ------------------------------------------------------------

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() { # wait_port PORT SECONDS
    local i
    for ((i = 0; i < $2 * 20; i++)); do
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

TMP=""
NGINX_PID=""
PORTKEY_PID=""
cleanup() {
    local p
    if declare -F hop_stop_all >/dev/null; then hop_stop_all; fi # bench/hop.sh
    for p in "$PORTKEY_PID" "$NGINX_PID"; do
        if [ -n "$p" ]; then kill_tree "$p"; wait "$p" 2>/dev/null || true; fi
    done
    if [ -n "$TMP" ]; then rm -rf "$TMP"; fi
    return 0
}
trap 'rc=$?; cleanup || true; exit $rc' EXIT
trap 'exit 130' INT TERM

# CPU layout. A: client side on CPU 0, nginx on CPU 1. B: both on CPU 0.
NCPU=$(nproc)
PIN=${BENCH_PIN:-1}
[ "$NCPU" -ge 2 ] || PIN=0
client() { if [ "$PIN" = 1 ]; then taskset -c 0 "$@"; else "$@"; fi; }
nginx_cpu() { # nginx_cpu CPU: moves the nginx master and workers
    [ "$PIN" = 1 ] || return 0
    local p
    for p in "$NGINX_PID" $(pgrep -P "$NGINX_PID" || true); do
        taskset -pc "$1" "$p" >/dev/null
    done
}

start_nginx() { # start_nginx WORKERS
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/aigw-bench.XXXXXX")
    chmod 755 "$TMP"
    NGINX_PORT=$(free_port)
    DEAD_PORT=$(free_port) # bound and closed again: connections to it are refused
    python3 "$BENCH/gen_upstream.py" "$TMP/www" 1000 >"$TMP/gen.txt"
    local user_line=""
    [ "$(id -u)" -ne 0 ] || user_line="user root;"
    sed -e "s|@PREFIX@|$TMP|g" -e "s|@PORT@|$NGINX_PORT|g" -e "s|@WORKERS@|$1|g" \
        -e "s|@USER_LINE@|$user_line|g" "$BENCH/nginx.conf.in" >"$TMP/nginx.conf"
    "$NGINX" -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/error.log" >"$TMP/nginx.out" 2>&1 &
    NGINX_PID=$!
    if ! wait_port "$NGINX_PORT" 10; then
        err "nginx did not start:"; cat "$TMP/nginx.out" "$TMP/error.log" >&2 2>/dev/null || true
        exit 1
    fi
    UPSTREAM=http://127.0.0.1:$NGINX_PORT/v1
    DEAD=http://127.0.0.1:$DEAD_PORT/v1
    log "nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///') on 127.0.0.1:$NGINX_PORT ($1 worker(s)); refused port $DEAD_PORT"
}

RESULTS=""
record() { # record LINE...: into the results file and on the console
    local l
    for l in "$@"; do
        printf '%s\n' "$l" >>"$RESULTS"
        printf '    %s\n' "$l" >&2
    done
}
# run TAG CMD...: runs a contender command; its RESULT/STREAM/MEM/PAIR/TURN lines are
# recorded with TAG appended (layout, round). Returns the command's status.
run() {
    local tag=$1; shift
    local shown="" a
    for a in "$@"; do
        case "$a" in *[[:space:]]*) shown+=" '$a'" ;; *) shown+=" $a" ;; esac
    done
    shown=${shown# }
    if [ "$1" = client ]; then
        shown=${shown#client }
        [ "$PIN" != 1 ] || shown="taskset -c 0 $shown"
    fi
    printf 'CMD %s\n' "${shown//$ROOT\//}" >>"$RESULTS"
    local out rc=0
    out=$("$@" 2>"$TMP/stderr") || rc=$?
    if [ "$rc" -ne 0 ]; then
        err "failed ($rc): $*"; sed 's/^/    /' "$TMP/stderr" >&2
        return "$rc"
    fi
    local l
    while IFS= read -r l; do
        case "$l" in
            RESULT*|STREAM*|MEM*|PAIR*|TURN*) record "$l $tag" ;;
            INFO*) record "$l" ;;
        esac
    done <<<"$out"
}

# ---- smoke ---------------------------------------------------------------

smoke() {
    [ -x "$NGINX" ] || { err "nginx not found (apt-get install nginx; .ci/apt-packages lists it)"; exit 1; }
    for b in curl_client aigw_client; do
        [ -x "$BIN/$b" ] || { err "$BIN/$b is missing (make bench-smoke builds it)"; exit 1; }
    done
    mkdir -p "$OUT"
    RESULTS=$OUT/smoke.txt
    : >"$RESULTS"
    PIN=0
    start_nginx 1
    local fails=0 t
    local q=(--duration 0.2 --warmup 3 --max 50)
    for t in 1 2; do
        run "layout=smoke" "$BIN/curl_client" --url "$UPSTREAM/chat/completions" --threads $t "${q[@]}" || fails=$((fails + 1))
        for c in provider universal fallback; do
            run "layout=smoke" "$BIN/aigw_client" --base "$UPSTREAM" --dead "$DEAD" --case $c --threads $t "${q[@]}" \
                || fails=$((fails + 1))
        done
    done
    run "layout=smoke" "$BIN/curl_client" --url "$UPSTREAM/stream" --mode stream --iterations 5 --warmup 1 || fails=$((fails + 1))
    run "layout=smoke" "$BIN/aigw_client" --base "$UPSTREAM" --mode stream --iterations 5 --warmup 1 || fails=$((fails + 1))
    run "layout=smoke" "$BIN/aigw_client" --base "$UPSTREAM" --mode mem --requests 200 --checkpoint 100 || fails=$((fails + 1))
    # The report generator must keep working too (on the smoke figures; not written to BENCHMARKS.md).
    python3 "$BENCH/report.py" "$RESULTS" >"$OUT/smoke-report.md" || { err "report.py failed"; fails=$((fails + 1)); }
    local n
    n=$(grep -c '^\(RESULT\|STREAM\|MEM\)' "$RESULTS" || true)
    # 8 latency runs, 2 streams, 2 memory readings.
    if [ "$fails" -ne 0 ] || [ "$n" -ne 12 ]; then
        err "bench-smoke: $fails run(s) failed, $n of 12 result lines"
        echo "bench-smoke: $n passed, $((12 - n)) failed"
        exit 1
    fi
    echo "bench-smoke: $n passed, 0 failed"
}

# ---- full ---------------------------------------------------------------

meta() { record "META $1 $2"; }

# cpu_busy: percent of all CPUs' time spent busy over the next second (what
# else is running when the suite starts; nginx is idle then).
cpu_busy() {
    local a b
    a=($(head -n 1 /proc/stat)); sleep 1; b=($(head -n 1 /proc/stat))
    local i tot=0 idle
    for ((i = 1; i < ${#a[@]}; i++)); do tot=$((tot + b[i] - a[i])); done
    idle=$((b[4] - a[4] + b[5] - a[5]))
    echo $((tot > 0 ? 100 * (tot - idle) / tot : 0))
}

# net_check TOOL FILE: the destinations of connect/sendto/sendmsg in an
# strace log, as NET lines.
net_check() {
    local dests
    dests=$(grep -o 'sin_addr=inet_addr("[^"]*")\|inet_pton(AF_INET6, "[^"]*"' "$2" \
        | sed -e 's/sin_addr=inet_addr("\(.*\)")/\1/' -e 's/inet_pton(AF_INET6, "\(.*\)"/\1/' \
        | sort -u | paste -sd, - || true)
    local unix
    unix=$(grep -c 'sa_family=AF_UNIX' "$2" || true)
    record "NET tool=$1 inet_dests=${dests:-none} unix_connects=$unix"
}

full() {
    [ -x "$NGINX" ] || { err "nginx not found: run 'bench/run.sh deps' (make bench does)"; exit 1; }
    for b in curl_client aigw_client; do
        [ -x "$BIN/$b" ] || { err "$BIN/$b is missing (make bench builds it)"; exit 1; }
    done
    rm -rf "$OUT"; mkdir -p "$OUT"
    RESULTS=$OUT/results.txt
    : >"$RESULTS"
    local started=$SECONDS
    start_nginx 1
    nginx_cpu 1

    # -- machine and versions
    meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
    meta cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) x $NCPU"
    meta mem "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    meta kernel "$(uname -sr)"
    meta os "$(. /etc/os-release && echo "$PRETTY_NAME")"
    meta pin "$PIN"
    meta load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
    meta busy_before "$(cpu_busy)"
    meta aigw "$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1) ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || echo ', src modified'))"
    meta rustc "$(rustc --version 2>/dev/null || echo unknown)"
    meta cc "$(cc --version | head -n 1)"
    meta libcurl "$(curl-config --version 2>/dev/null || echo unknown)"
    meta nginx "$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')"
    meta upstream "$(cat "$TMP/gen.txt")"
    meta duration "$DURATION"
    meta rounds "$ROUNDS"

    # -- sizes
    local so=$LIBDIR/libaigw.so a=$LIBDIR/libaigw.a
    strip --strip-all -o "$OUT/libaigw.so.stripped" "$so"
    strip --strip-debug -o "$OUT/libaigw.a.stripped" "$a"
    record "SIZE file=libaigw.so bytes=$(stat -c %s "$so") stripped_bytes=$(stat -c %s "$OUT/libaigw.so.stripped") strip=--strip-all"
    record "SIZE file=libaigw.a bytes=$(stat -c %s "$a") stripped_bytes=$(stat -c %s "$OUT/libaigw.a.stripped") strip=--strip-debug"

    local C="$BIN/curl_client" G="$BIN/aigw_client" d=(--duration "$DURATION" --warmup 500)
    # -- concurrency 1, interleaved rounds, in both CPU layouts
    local layout r
    for layout in A B; do
        if [ "$layout" = A ]; then nginx_cpu 1; else
            [ "$PIN" = 1 ] || break
            nginx_cpu 0
        fi
        log "concurrency 1, layout $layout, $ROUNDS rounds"
        for ((r = 1; r <= ROUNDS; r++)); do
            run "layout=$layout round=$r" client "$C" --url "$UPSTREAM/chat/completions" "${d[@]}"
            run "layout=$layout round=$r" client "$G" --base "$UPSTREAM" --dead "$DEAD" --case provider "${d[@]}"
            run "layout=$layout round=$r" client "$G" --base "$UPSTREAM" --dead "$DEAD" --case universal "${d[@]}"
            run "layout=$layout round=$r" client "$G" --base "$UPSTREAM" --dead "$DEAD" --case fallback "${d[@]}"
        done
        log "streaming, layout $layout"
        for ((r = 1; r <= ROUNDS; r++)); do
            run "layout=$layout round=$r" client "$C" --url "$UPSTREAM/stream" --mode stream --iterations 300 --warmup 20
            run "layout=$layout round=$r" client "$G" --base "$UPSTREAM" --mode stream --iterations 300 --warmup 20
        done
    done
    nginx_cpu 1

    # -- throughput at 2 and 8 threads (1 thread: the rounds above)
    log "throughput, 2 and 8 threads, layout A"
    local t
    for t in 2 8; do
        run "layout=A round=1" client "$C" --url "$UPSTREAM/chat/completions" --threads $t "${d[@]}"
        run "layout=A round=1" client "$G" --base "$UPSTREAM" --dead "$DEAD" --case provider --threads $t "${d[@]}"
        run "layout=A round=1" client "$G" --base "$UPSTREAM" --dead "$DEAD" --case universal --threads $t "${d[@]}"
    done

    # -- memory
    log "memory: 100,000 requests each"
    run "layout=A" client "$G" --base "$UPSTREAM" --mode mem --case provider --requests 100000 --checkpoint 10000
    run "layout=A" client "$G" --base "$UPSTREAM" --dead "$DEAD" --mode mem --case fallback --requests 100000 --checkpoint 10000
    run "layout=A" client "$C" --url "$UPSTREAM/chat/completions" --mode mem --requests 100000 --checkpoint 10000

    # -- SSE parser micro-benchmark
    log "cargo bench --bench sse_parser"
    printf 'CMD cargo bench --bench sse_parser\n' >>"$RESULTS"
    local l
    if (cd "$ROOT" && cargo bench --bench sse_parser) >"$OUT/sse_parser.txt" 2>"$OUT/sse_parser.err"; then
        while IFS= read -r l; do
            case "$l" in *MB/s*) record "SSE $l" ;; esac
        done <"$OUT/sse_parser.txt"
    else
        record "SKIP tool=sse_parser reason=cargo bench failed: $(tail -n 1 "$OUT/sse_parser.err")"
    fi

    # -- outbound check for our own clients
    if command -v strace >/dev/null; then
        strace -f -qq -e trace=connect,sendto,sendmsg -o "$OUT/curl.strace" \
            "$C" --url "$UPSTREAM/chat/completions" --duration 0.2 --warmup 5 >/dev/null
        net_check curl "$OUT/curl.strace"
        strace -f -qq -e trace=connect,sendto,sendmsg -o "$OUT/aigw.strace" \
            "$G" --base "$UPSTREAM" --dead "$DEAD" --case fallback --duration 0.2 --warmup 5 >/dev/null
        net_check aigw "$OUT/aigw.strace"
    fi

    translate_run
    if [[ ",$PEERS," == *,litellm,* ]]; then litellm_run; fi
    if [[ ",$PEERS," == *,portkey,* ]]; then portkey_run; fi

    hop_run || err "the server-hop benchmark (bench/hop.sh) failed"
    meta busy_after "$(cpu_busy)"
    record "META elapsed_s $((SECONDS - started))"
    python3 "$BENCH/report.py" "$RESULTS" >"$REPORT.tmp"
    mv "$REPORT.tmp" "$REPORT"
    log "wrote $REPORT (raw figures: $RESULTS)"
}

litellm_run() {
    local ver
    if ! ver=$(python3 -c 'from importlib.metadata import version; print(version("litellm"))' 2>/dev/null); then
        record "SKIP tool=litellm reason=litellm is not installed (python3 -m pip install -r bench/requirements.txt failed or was not run)"
        return 0
    fi
    meta litellm "$ver (Python $(python3 -c 'import sys; print(sys.version.split()[0])'))"
    log "LiteLLM $ver"
    if command -v strace >/dev/null; then
        strace -f -qq -e trace=connect,sendto,sendmsg -o "$OUT/litellm.strace" \
            python3 "$BENCH/litellm_driver.py" --api-base "$UPSTREAM" --threads 1 --duration 1 --warmup 5 \
            >/dev/null 2>"$OUT/litellm.strace.err" || true
        net_check litellm "$OUT/litellm.strace"
    fi
    (sleep 4; ss -tnpH >"$OUT/litellm.ss" 2>&1) &
    local sspid=$!
    if ! run "layout=A round=1" client python3 "$BENCH/litellm_driver.py" --api-base "$UPSTREAM" \
        --threads 1,2,8 --duration 5 --warmup 50; then
        record "SKIP tool=litellm reason=the driver failed: $(tail -n 1 "$TMP/stderr" | tr -d '\n')"
    fi
    wait "$sspid" 2>/dev/null || true
    ss_check litellm "$OUT/litellm.ss" python
    if [ "$PIN" = 1 ]; then
        nginx_cpu 0
        run "layout=B round=1" client python3 "$BENCH/litellm_driver.py" --api-base "$UPSTREAM" \
            --threads 1 --duration 5 --warmup 50 || true
        nginx_cpu 1
    fi
}

# ss_check TOOL FILE PROCNAME: peer addresses of PROCNAME's TCP connections.
ss_check() {
    local peers
    peers=$(grep "\"$3" "$2" 2>/dev/null | awk '{print $4 "->" $5}' \
        | sed 's/:[0-9]*->/->/; s/:[0-9]*$//; s/\[::ffff:\([0-9.]*\)\]/\1/g' \
        | sort -u | paste -sd, - || true)
    record "SS tool=$1 connections=${peers:-none}"
}

portkey_start() { # portkey_start PORT [strace-log]
    local port=$1
    if [ -n "${2:-}" ]; then
        client strace -f -qq -e trace=connect,sendto,sendmsg -o "$2" \
            node "$PORTKEY_JS" --port="$port" --headless >"$OUT/portkey.log" 2>&1 &
    else
        client node "$PORTKEY_JS" --port="$port" --headless >"$OUT/portkey.log" 2>&1 &
    fi
    PORTKEY_PID=$!
    wait_port "$port" 30
}

# kill_tree PID: PID's descendants first (node under strace under taskset),
# then PID itself; by process id only.
kill_tree() {
    local c
    for c in $(pgrep -P "$1" 2>/dev/null || true); do kill_tree "$c"; done
    kill "$1" 2>/dev/null || true
}

portkey_stop() {
    [ -n "$PORTKEY_PID" ] || return 0
    kill_tree "$PORTKEY_PID"
    wait "$PORTKEY_PID" 2>/dev/null || true
    PORTKEY_PID=""
}

portkey_run() {
    if ! command -v node >/dev/null; then
        record "SKIP tool=portkey reason=node is not installed"; return 0
    fi
    if [ ! -f "$PORTKEY_JS" ]; then
        record "SKIP tool=portkey reason=@portkey-ai/gateway is not installed (npm ci in bench/ failed or was not run)"
        return 0
    fi
    local ver port
    ver=$(sed -n 's/^ *"version": "\(.*\)".*/\1/p' "$BENCH/node_modules/@portkey-ai/gateway/package.json" | head -n 1)
    meta portkey "@portkey-ai/gateway $ver (node $(node --version))"
    log "Portkey gateway $ver"
    port=$(free_port)
    local P=(--tool portkey --url "http://127.0.0.1:$port/v1/chat/completions"
        --header "x-portkey-provider: openai" --header "x-portkey-custom-host: $UPSTREAM")
    if command -v strace >/dev/null; then
        if portkey_start "$port" "$OUT/portkey.strace"; then
            "$BIN/curl_client" "${P[@]}" --duration 1 --warmup 20 >/dev/null 2>&1 || true
            portkey_stop
            net_check portkey "$OUT/portkey.strace"
        else
            portkey_stop
        fi
    fi
    # A fresh port: the strace'd instance above may still be exiting.
    port=$(free_port)
    P=(--tool portkey --url "http://127.0.0.1:$port/v1/chat/completions"
        --header "x-portkey-provider: openai" --header "x-portkey-custom-host: $UPSTREAM")
    if ! portkey_start "$port"; then
        portkey_stop
        record "SKIP tool=portkey reason=the gateway did not listen within 30 s: $(tail -n 1 "$OUT/portkey.log")"
        return 0
    fi
    (sleep 2; ss -tnpH >"$OUT/portkey.ss" 2>&1) &
    local sspid=$! t ok=1
    for t in 1 2 8; do
        run "layout=A round=1" client "$BIN/curl_client" "${P[@]}" --threads $t --duration 5 --warmup 200 \
            || { ok=0; break; }
    done
    wait "$sspid" 2>/dev/null || true
    ss_check portkey "$OUT/portkey.ss" node
    if [ "$ok" = 1 ] && [ "$PIN" = 1 ]; then
        nginx_cpu 0
        run "layout=B round=1" client "$BIN/curl_client" "${P[@]}" --threads 1 --duration 5 --warmup 200 || true
        nginx_cpu 1
    fi
    portkey_stop
    [ "$ok" = 1 ] || record "SKIP tool=portkey reason=requests through the gateway failed: $(tail -n 1 "$TMP/stderr" | tr -d '\n')"
}

# section_alone NAME CLIENT RUN REPORT: one section of the suite on its own
# (`bench/run.sh translate`, `bench/run.sh hop`, for working on it): nginx,
# the function RUN writing to $OUT/NAME.txt, and the report script REPORT's
# Markdown of those figures only in $OUT/NAME.md.
section_alone() {
    local name=$1 client=$2 run_fn=$3 report=$4
    [ -x "$NGINX" ] || { err "nginx not found: run 'bench/run.sh deps'"; exit 1; }
    [ -x "$BIN/$client" ] || { err "$BIN/$client is missing (make bench-clients builds it)"; exit 1; }
    mkdir -p "$OUT"
    RESULTS=$OUT/$name.txt
    : >"$RESULTS"
    start_nginx 1
    nginx_cpu 1
    meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
    meta duration "$DURATION"
    meta pin "$PIN"
    meta load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
    meta busy_before "$(cpu_busy)"
    "$run_fn"
    meta busy_after "$(cpu_busy)"
    meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
    python3 "$BENCH/$report" "$RESULTS" >"$OUT/$name.md"
    log "wrote $OUT/$name.md (raw figures: $RESULTS)"
}

. "$BENCH/translate.sh"
. "$BENCH/hop.sh"
case "$MODE" in
    deps) deps ;;
    translate) section_alone translate aigw_client translate_run report_translate.py ;;
    hop) section_alone hop curl_client hop_run report.py ;;
    smoke) smoke ;;
    full) full ;;
    *) echo "usage: bench/run.sh deps|smoke|full|translate|hop" >&2; exit 2 ;;
esac
