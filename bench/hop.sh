# bench/hop.sh: the cost of an extra HTTP hop (issue 12), sourced by
# bench/run.sh, which calls hop_run from `full` and from `run.sh hop`.
#
# One client (curl_client: libcurl, keep-alive, a thread per connection)
# against the same nginx upstream, five ways:
#   direct        nginx itself
#   nginx-proxy   a second nginx proxying to it (proxy_pass, kept-alive
#                 upstream; bench/nginx_proxy.conf.in): the floor for a hop
#   aigw-serve    target/release/aigw serve, custom-nginx -> nginx
#   litellm-proxy `litellm --config` (the LiteLLM proxy server, 1 worker)
#   portkey-proxy the Portkey gateway (node), custom host -> nginx
# at 1, 8 and 64 connections (1 connection: BENCH_HOP_ROUNDS interleaved
# rounds of direct, nginx-proxy and aigw-serve), then the time to the first
# event of the 1,000-event stream through each, then BENCH_HOP_SLOW (1000)
# slow streams (an event a second for BENCH_HOP_SLOW_EVENTS (10) seconds)
# held open at once through aigw serve, sampling its RSS and threads.
#
# The client is pinned like the rest of the suite (CPU 0, nginx on CPU 1);
# the proxies are not pinned. Every port is 127.0.0.1.

HOP_ROUNDS=${BENCH_HOP_ROUNDS:-5}
HOP_SLOW=${BENCH_HOP_SLOW:-1000}
HOP_SLOW_EVENTS=${BENCH_HOP_SLOW_EVENTS:-10}
HOP_AIGW=${AIGW_BIN:-$ROOT/target/release/aigw}
HOP_PIDS=()

hop_stop_all() {
    local p
    for p in "${HOP_PIDS[@]}"; do
        kill_tree "$p"; wait "$p" 2>/dev/null || true
    done
    HOP_PIDS=()
}

# hop_wait_file FILE SECONDS: until FILE exists and is not empty.
hop_wait_file() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        [ -s "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

# The second nginx: proxy_pass to the upstream, and an SSE server block that
# answers POST /v1/chat/completions with the 1,000-event stream (the peers
# can only stream from a chat path).
hop_start_nginx_proxy() {
    HOP_NGX_PORT=$(free_port)
    HOP_SSE_PORT=$(free_port)
    local user_line=""
    [ "$(id -u)" -ne 0 ] || user_line="user root;"
    sed -e "s|@PREFIX@|$TMP|g" -e "s|@PORT@|$HOP_NGX_PORT|g" -e "s|@SSE_PORT@|$HOP_SSE_PORT|g" \
        -e "s|@UPSTREAM_PORT@|$NGINX_PORT|g" -e "s|@WORKERS@|1|g" -e "s|@USER_LINE@|$user_line|g" \
        "$BENCH/nginx_proxy.conf.in" >"$TMP/nginx-proxy.conf"
    "$NGINX" -p "$TMP" -c "$TMP/nginx-proxy.conf" -e "$TMP/error-proxy.log" >"$TMP/nginx-proxy.out" 2>&1 &
    HOP_PIDS+=($!)
    wait_port "$HOP_NGX_PORT" 10 && wait_port "$HOP_SSE_PORT" 10
}

hop_start_aigw() {
    HOP_SLOW_PORT_FILE=$TMP/slow.port
    python3 "$BENCH/hop_streams.py" upstream "$HOP_SLOW_PORT_FILE" "$HOP_SLOW_EVENTS" \
        >"$OUT/slow-upstream.log" 2>&1 &
    HOP_PIDS+=($!)
    hop_wait_file "$HOP_SLOW_PORT_FILE" 20 || return 1
    cat >"$TMP/aigw-serve.json" <<EOF
{"providers": {"custom-nginx": {"base_url": "$UPSTREAM"},
               "custom-slow": {"base_url": "http://127.0.0.1:$(cat "$HOP_SLOW_PORT_FILE")/v1"}},
 "server": {"listen": "127.0.0.1:0", "max_connections": $((HOP_SLOW + 1000))}}
EOF
    "$HOP_AIGW" serve --config "$TMP/aigw-serve.json" >"$OUT/aigw-serve.log" 2>&1 &
    HOP_AIGW_PID=$!
    HOP_PIDS+=($HOP_AIGW_PID)
    local i
    for ((i = 0; i < 100; i++)); do
        HOP_AIGW_URL=$(sed -n 's/^aigw listening on //p' "$OUT/aigw-serve.log")
        [ -n "$HOP_AIGW_URL" ] && return 0
        sleep 0.1
    done
    return 1
}

hop_start_litellm() {
    python3 -c 'import litellm.proxy.proxy_server' >"$OUT/litellm-proxy.import" 2>&1 || {
        record "SKIP tool=litellm-proxy reason=the LiteLLM proxy does not import ($(tail -n 1 "$OUT/litellm-proxy.import"); pip's litellm[proxy] needs litellm-proxy, see bench/requirements.txt)"
        return 1
    }
    HOP_LITELLM_PORT=$(free_port)
    # Two models: chat from nginx, and the stream from the SSE block.
    cat >"$TMP/litellm.yaml" <<EOF
model_list:
  - model_name: gpt-4o-mini
    litellm_params: {model: openai/gpt-4o-mini, api_base: "$UPSTREAM", api_key: sk-bench}
  - model_name: gpt-4o-mini-stream
    litellm_params: {model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:$HOP_SSE_PORT/v1", api_key: sk-bench}
litellm_settings: {telemetry: false}
EOF
    # The proxy refuses to start without a master key; the clients send sk-bench.
    LITELLM_MASTER_KEY=sk-bench LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR \
        litellm --config "$TMP/litellm.yaml" --host 127.0.0.1 --port "$HOP_LITELLM_PORT" --num_workers 1 \
        >"$OUT/litellm-proxy.log" 2>&1 &
    HOP_PIDS+=($!)
    wait_port "$HOP_LITELLM_PORT" 240 || {
        record "SKIP tool=litellm-proxy reason=the proxy did not listen within 240 s: $(tail -n 1 "$OUT/litellm-proxy.log")"
        return 1
    }
}

hop_start_portkey() {
    [ -f "$PORTKEY_JS" ] && command -v node >/dev/null || {
        record "SKIP tool=portkey-proxy reason=@portkey-ai/gateway or node is not installed"
        return 1
    }
    HOP_PORTKEY_PORT=$(free_port)
    node "$PORTKEY_JS" --port="$HOP_PORTKEY_PORT" --headless >"$OUT/portkey-hop.log" 2>&1 &
    HOP_PIDS+=($!)
    wait_port "$HOP_PORTKEY_PORT" 30 || {
        record "SKIP tool=portkey-proxy reason=the gateway did not listen within 30 s"
        return 1
    }
}

# hop_steal_since LINE: the percent of CPU time stolen by the host since
# LINE (the "cpu" line of /proc/stat), one decimal.
hop_steal_since() {
    local a b
    a=($1); b=($(head -n 1 /proc/stat))
    local i tot=0
    for ((i = 1; i < ${#a[@]}; i++)); do tot=$((tot + b[i] - a[i])); done
    awk -v s=$((b[8] - a[8])) -v t="$tot" 'BEGIN { printf "%.1f", (t > 0 ? 100 * s / t : 0) }'
}

# hop_latency TOOL THREADS ROUND URL [curl_client args]. The warm-up is
# per thread: 200 for the fast paths, 5 for the peers (LiteLLM serves ~20
# req/s at 8 connections; 64 x 200 would take minutes).
hop_latency() {
    local tool=$1 t=$2 r=$3 url=$4 warm=200; shift 4
    case "$tool" in litellm-proxy|portkey-proxy) warm=5 ;; esac
    run "layout=A round=$r hop=1" client "$BIN/curl_client" --tool "$tool" --case hop --url "$url" \
        --threads "$t" --duration "$DURATION" --warmup "$warm" "$@"
}

hop_slow() {
    local url=$HOP_AIGW_URL/custom-slow/chat/completions samples=$OUT/slow-samples.txt
    log "hop: $HOP_SLOW slow streams through aigw serve ($HOP_SLOW_EVENTS s each)"
    : >"$samples"
    (while kill -0 "$HOP_AIGW_PID" 2>/dev/null; do
        awk '/^VmRSS/ {r=$2} /^Threads/ {t=$2} END {print r, t}' "/proc/$HOP_AIGW_PID/status" >>"$samples" 2>/dev/null
        sleep 0.25
    done) &
    local sampler=$!
    printf 'CMD python3 bench/hop_streams.py clients %s %s %s\n' "$url" "$HOP_SLOW" "$HOP_SLOW_EVENTS" >>"$RESULTS"
    local line
    line=$(python3 "$BENCH/hop_streams.py" clients "$url" "$HOP_SLOW" "$HOP_SLOW_EVENTS" 2>"$TMP/stderr") || true
    kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
    local peak
    peak=$(sort -n "$samples" | tail -n 1)
    local threads
    threads=$(sort -n -k2 "$samples" | tail -n 1 | cut -d' ' -f2)
    if [ -z "$line" ]; then
        record "SKIP tool=aigw-slow reason=the slow clients failed: $(tail -n 1 "$TMP/stderr")"
        return 0
    fi
    record "$line rss_peak_kib=${peak%% *} threads_peak=${threads:-0} max_connections=$((HOP_SLOW + 1000))"
}

hop_run() {
    [ -x "$HOP_AIGW" ] || { err "$HOP_AIGW is missing (cargo build --release)"; return 1; }
    [ -f "$BENCH/hop_streams.py" ] || return 1
    log "hop: the cost of an extra HTTP hop (direct, nginx proxy_pass, aigw serve, LiteLLM proxy, Portkey)"
    hop_start_nginx_proxy || { err "the proxy nginx did not start"; cat "$TMP/nginx-proxy.out" >&2; return 1; }
    hop_start_aigw || { err "aigw serve did not start"; cat "$OUT/aigw-serve.log" >&2; return 1; }
    local peers=() p
    if [[ ",$PEERS," == *,litellm,* ]] && hop_start_litellm; then peers+=(litellm-proxy); fi
    if [[ ",$PEERS," == *,portkey,* ]] && hop_start_portkey; then peers+=(portkey-proxy); fi
    meta hop_proxies "nginx proxy_pass (1 worker, keepalive upstream), aigw serve, ${peers[*]:-no peers}; not pinned"

    local -A url=(
        [direct]=$UPSTREAM/chat/completions
        [nginx-proxy]=http://127.0.0.1:$HOP_NGX_PORT/v1/chat/completions
        [aigw-serve]=$HOP_AIGW_URL/custom-nginx/chat/completions
        [litellm-proxy]=http://127.0.0.1:${HOP_LITELLM_PORT:-0}/v1/chat/completions
        [portkey-proxy]=http://127.0.0.1:${HOP_PORTKEY_PORT:-0}/v1/chat/completions
    )
    local -a pk=(--header "x-portkey-provider: openai" --header "x-portkey-custom-host: $UPSTREAM")
    local r t tool
    log "hop: 1 connection, $HOP_ROUNDS rounds"
    local cpu0
    cpu0=$(head -n 1 /proc/stat)
    for ((r = 1; r <= HOP_ROUNDS; r++)); do
        for tool in direct nginx-proxy aigw-serve; do
            hop_latency "$tool" 1 "$r" "${url[$tool]}" || true
        done
        # Turn by turn: one request to each of the three per turn, so the
        # added latencies the ratio target compares meet the same moment.
        run "layout=A round=$r hop=turn" client "$BIN/curl_client" --case hop \
            --turn "direct=${url[direct]}" --turn "nginx-proxy=${url[nginx-proxy]}" \
            --turn "aigw-serve=${url[aigw-serve]}" --duration "$DURATION" --warmup 200 || true
    done
    # A virtual machine's host may take CPU time from it (steal): it shows
    # at one connection as latency no proxy caused, so the report says how
    # much there was.
    meta hop_steal "$(hop_steal_since "$cpu0")"
    log "hop: 8 and 64 connections"
    for t in 8 64; do
        for tool in direct nginx-proxy aigw-serve; do
            hop_latency "$tool" "$t" 1 "${url[$tool]}" || true
        done
    done
    for p in "${peers[@]}"; do
        log "hop: $p"
        for t in 1 8 64; do
            if [ "$p" = portkey-proxy ]; then
                hop_latency "$p" "$t" 1 "${url[$p]}" "${pk[@]}" || true
            else
                hop_latency "$p" "$t" 1 "${url[$p]}" || true
            fi
        done
    done

    log "hop: time to first event, 1,000-event stream"
    local s=(--mode stream --iterations 100 --warmup 10 --case stream)
    run "layout=A round=1 hop=1" client "$BIN/curl_client" --tool direct --url "$UPSTREAM/stream" "${s[@]}" || true
    run "layout=A round=1 hop=1" client "$BIN/curl_client" --tool nginx-proxy --url "http://127.0.0.1:$HOP_NGX_PORT/v1/stream" "${s[@]}" || true
    run "layout=A round=1 hop=1" client "$BIN/curl_client" --tool aigw-serve --url "$HOP_AIGW_URL/custom-nginx/stream" "${s[@]}" || true
    # One Python client for all five (the peers stream only from a chat path:
    # LiteLLM's gpt-4o-mini-stream model and Portkey's custom host point at
    # the SSE block), so the peers compare with the rest.
    local t5=(python3 "$BENCH/hop_streams.py" ttfe)
    run "layout=A round=1 hop=py" client "${t5[@]}" direct "$UPSTREAM/stream" gpt-4o-mini 50 || true
    run "layout=A round=1 hop=py" client "${t5[@]}" nginx-proxy "http://127.0.0.1:$HOP_NGX_PORT/v1/stream" gpt-4o-mini 50 || true
    run "layout=A round=1 hop=py" client "${t5[@]}" aigw-serve "$HOP_AIGW_URL/custom-nginx/stream" gpt-4o-mini 50 || true
    for p in "${peers[@]}"; do
        if [ "$p" = litellm-proxy ]; then
            run "layout=A round=1 hop=py" client "${t5[@]}" "$p" "${url[$p]}" gpt-4o-mini-stream 20 \
                || record "SKIP tool=$p-stream reason=$(tail -n 1 "$TMP/stderr")"
        else
            # Portkey 1.15's streaming path fails inside the gateway (its
            # updateHeaders appends to the upstream fetch Response's immutable
            # headers), whatever the upstream's framing: say so in the report.
            run "layout=A round=1 hop=py" client "${t5[@]}" "$p" "${url[$p]}" gpt-4o-mini 20 "x-portkey-provider: openai" \
                "x-portkey-custom-host: http://127.0.0.1:$HOP_SSE_PORT/v1" \
                || record "SKIP tool=$p-stream reason=$(tail -n 1 "$TMP/stderr") (Portkey's log: $(grep -a -m 1 -o 'TypeError: [A-Za-z ]*' "$OUT/portkey-hop.log" || echo 'no error logged'))"
        fi
    done

    if [ "$HOP_SLOW" -gt 0 ]; then hop_slow; fi
    hop_stop_all
}

# From `bench/run.sh deps`: the LiteLLM proxy's imports, if they are missing.
hop_deps() {
    [[ ",$PEERS," == *,litellm,* ]] || return 0
    python3 -c 'import litellm.proxy.proxy_server' >/dev/null 2>&1 && return 0
    log "pip install -r bench/requirements-proxy.txt (the LiteLLM proxy's imports)"
    python3 -m pip install --quiet -r "$BENCH/requirements-proxy.txt" </dev/null \
        || err "pip install of the LiteLLM proxy's imports failed; the hop run will report it"
}
