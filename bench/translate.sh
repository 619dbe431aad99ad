# The cost of translation (issue 11): sourced by bench/run.sh, whose helpers
# (start_nginx, run, record, meta, client, nginx_cpu) and variables (TMP,
# NGINX_PORT, UPSTREAM, BIN, ROUNDS, DURATION, RESULTS) it uses.
#
# One nginx, two Anthropic-format answers (bench/gen_anthropic.py): a ~1 KiB
# Messages response at /anthropic/v1/messages and a 1,000-event Messages
# stream at /anthropic-stream/v1/messages. Side by side, in interleaved
# rounds, client on CPU 0 and nginx on CPU 1 (layout A):
#   aigw_client --case compat    compat/chat/completions, model anthropic/...
#                                (OpenAI in, Messages out, answer translated back)
#   aigw_client --case messages  anthropic/v1/messages passed through: the
#                                same conversation, the same upstream bytes
#   litellm_driver --case anthropic  litellm.completion(model="anthropic/...")
#   aigw_client --case compat --pair messages
#                                the two aigw cases taking turns request by
#                                request in one process (layout=xlate-pair):
#                                the median of the per-turn differences is
#                                the added latency (and, with --mode stream,
#                                the added time to the first event) the
#                                targets are judged on, as drift of a shared
#                                machine between rounds (tens of µs) cancels
#                                out
# Lines are tagged layout=xlate, so bench/report.py's own tables leave them
# out; bench/report_translate.py writes their section.

translate_run() {
    local gen
    gen=$(python3 "$BENCH/gen_anthropic.py" "$TMP/www" 1000)
    meta xlate_upstream "$gen"
    local pass_ev xl_ev
    pass_ev=$(sed -n 's/.* events=\([0-9]*\).*/\1/p' <<<"$gen")
    xl_ev=$(sed -n 's/.*translated_events=\([0-9]*\).*/\1/p' <<<"$gen")
    local G="$BIN/aigw_client" root=http://127.0.0.1:$NGINX_PORT
    local whole=(--base "$UPSTREAM" --anthropic "$root/anthropic" --duration "$DURATION" --warmup 500)
    local stream=(--base "$UPSTREAM" --anthropic "$root/anthropic-stream" --mode stream
        --iterations 300 --warmup 20)
    nginx_cpu 1
    log "translation: compat vs pass-through, $ROUNDS rounds"
    local r
    for ((r = 1; r <= ROUNDS; r++)); do
        run "layout=xlate round=$r" client "$G" "${whole[@]}" --case messages
        run "layout=xlate round=$r" client "$G" "${whole[@]}" --case compat
        run "layout=xlate-pair round=$r" client "$G" "${whole[@]}" --case compat --pair messages
        run "layout=xlate round=$r" client "$G" "${stream[@]}" --case messages --events "$pass_ev"
        run "layout=xlate round=$r" client "$G" "${stream[@]}" --case compat --events "$xl_ev"
        run "layout=xlate-pair round=$r" client "$G" "${stream[@]}" --case compat --events "$xl_ev" \
            --pair messages --pair-events "$pass_ev"
    done
    translate_instructions "$G" "$root" "$pass_ev" "$xl_ev"
    if [[ ",$PEERS," != *,litellm,* ]]; then return 0; fi
    local ver
    if ! ver=$(LITELLM_LOCAL_MODEL_COST_MAP=True python3 -c 'from importlib.metadata import version; print(version("litellm"))' 2>/dev/null); then
        record "SKIP tool=litellm-anthropic reason=litellm is not installed (bench/run.sh deps installs it)"
        return 0
    fi
    log "translation: LiteLLM $ver, anthropic/ model"
    if ! run "layout=xlate round=1" client python3 "$BENCH/litellm_driver.py" --case anthropic \
        --api-base "$root/anthropic/v1/messages" --threads 1 --duration 5 --warmup 50; then
        record "SKIP tool=litellm-anthropic reason=the driver failed: $(tail -n 1 "$TMP/stderr" | tr -d '\n')"
    fi
}

# Instructions, which the machine's load does not change: each case under
# callgrind for N and 2N requests (streams), (Ir(2N) - Ir(N)) / N per request
# (stream), so start-up and warm-up cancel out. Lines: INSTR ... ir=.
translate_instructions() { # G ROOT PASS_EVENTS XL_EVENTS
    local G=$1 root=$2 vg
    vg=$(command -v valgrind) || {
        record "SKIP tool=callgrind reason=valgrind is not installed"
        return 0
    }
    log "translation: instructions per request and per stream (callgrind)"
    local c n ev mode ir1 ir2
    for mode in whole stream; do
        for c in messages compat; do
            ev=$3
            [ "$c" = compat ] && ev=$4
            for n in 1 2; do
                local args=(--base "$UPSTREAM" --case "$c")
                if [ "$mode" = whole ]; then
                    args+=(--anthropic "$root/anthropic" --duration 1000 --max $((n * 200)) --warmup 20)
                else
                    args+=(--anthropic "$root/anthropic-stream" --mode stream --iterations $((n * 5))
                        --warmup 2 --events "$ev")
                fi
                "$vg" --tool=callgrind --callgrind-out-file=/dev/null "$G" "${args[@]}" \
                    >/dev/null 2>"$TMP/callgrind.txt" || {
                    record "SKIP tool=callgrind reason=$c $mode run failed: $(tail -n 1 "$TMP/callgrind.txt")"
                    return 0
                }
                local ir
                ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$TMP/callgrind.txt")
                if [ "$n" = 1 ]; then ir1=$ir; else ir2=$ir; fi
            done
            local per=5
            [ "$mode" = whole ] && per=200
            record "INSTR layout=xlate tool=aigw case=$c mode=$mode events=$ev ir=$(((ir2 - ir1) / per))"
        done
    done
    # To the first event: a counter dump before every on_event of two
    # streams; the one before the second stream's first event holds what
    # ran from the end of the first stream to it (the call, the plan, the
    # upstream exchange, the held events).
    for c in messages compat; do
        ev=$3
        [ "$c" = compat ] && ev=$4
        local dumps=$TMP/first-$c
        rm -rf "$dumps" && mkdir -p "$dumps"
        "$vg" --tool=callgrind --dump-before=on_event --callgrind-out-file="$dumps/cg" "$G" \
            --base "$UPSTREAM" --case "$c" --anthropic "$root/anthropic-stream" --mode stream \
            --iterations 1 --warmup 1 --events "$ev" >/dev/null 2>"$TMP/callgrind.txt" || {
            record "SKIP tool=callgrind reason=$c first-event run failed: $(tail -n 1 "$TMP/callgrind.txt")"
            return 0
        }
        record "INSTR layout=xlate tool=aigw case=$c mode=first events=$ev ir=$(sed -n 's/^totals: //p' "$dumps/cg.$((ev + 1))")"
        rm -rf "$dumps"
    done
}

