#!/usr/bin/env bash
# Usage: tests/server-sdk/run.sh   (run inside scripts/with-mock.sh)
#
# `aigw serve` against the mock with real clients: the seed's curl commands
# (hosts replaced by the local server), the openai Python SDK, the openai
# npm package and @huggingface/inference; the unified API (/compat) and the
# anthropic and google-ai-studio paths with the openai, anthropic and
# google-genai SDKs, stored keys included. Needs AIGW_MOCK_URL (with-mock.sh),
# AIGW_BIN (the aigw program) and SDK_DIR (where the npm packages are
# installed; the .mjs tests are copied there so node resolves them).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mock=${AIGW_MOCK_URL:?run inside scripts/with-mock.sh}
aigw=${AIGW_BIN:?set AIGW_BIN to the aigw program}
sdk=${SDK_DIR:?set SDK_DIR to the npm install directory}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aigw-server-sdk.XXXXXX")
pids=()
passed=0

cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok - $1"; passed=$((passed + 1)); }
fail() { echo "not ok - $1" >&2; exit 1; }

# start NAME CONFIG_JSON: runs `aigw serve`, sets $addr to its HOST:PORT.
start() {
    printf '%s\n' "$2" > "$tmp/$1.json"
    "$aigw" serve --config "$tmp/$1.json" --listen 127.0.0.1:0 > "$tmp/$1.out" 2> "$tmp/$1.err" &
    pids+=($!)
    eval "pid_$1=$!"
    for _ in $(seq 100); do [ -s "$tmp/$1.out" ] && break; sleep 0.05; done
    local line
    line=$(head -n 1 "$tmp/$1.out")
    case $line in
        "aigw listening on http://127.0.0.1:"*) addr=${line#aigw listening on http://} ;;
        *) cat "$tmp/$1.err" >&2; fail "$1: first line is '$line'" ;;
    esac
}

providers="\"openai\":{\"base_url\":\"$mock/v1\"},\"replicate\":{\"base_url\":\"$mock/v1\"},
    \"workers-ai\":{\"base_url\":\"$mock/client/v4/accounts/ACCOUNT_TAG/ai/run\"}"
start main "{\"account_id\":\"ACCOUNT_TAG\",\"providers\":{$providers,
    \"huggingface\":{\"base_url\":\"$mock/models\"}}}"
main=$addr
# The same, but Hugging Face fails: the seed's Universal request falls back.
start fallback "{\"account_id\":\"ACCOUNT_TAG\",\"providers\":{$providers,
    \"huggingface\":{\"base_url\":\"$mock/_mock/status=503/models\"}}}"
fallback=$addr
ok "aigw serve prints 'aigw listening on http://ADDR:PORT' first ($main, $fallback)"

# ---- the seed's curl commands, hosts replaced ----------------------------
TOKEN=sk-seed
out=$(curl -sS -i -N "http://$fallback/v1/ACCOUNT_TAG/GATEWAY" -X POST \
    --header 'Content-Type: application/json' \
    --data '[ { "provider": "huggingface", "endpoint": "bigcode/starcoder", "headers": { "Authorization": "Bearer $TOKEN", "Content-Type": "application/json" }, "query": { "input": "console.log" } }, { "provider": "openai", "endpoint": "chat/completions", "headers": { "Authorization": "Bearer $TOKEN", "Content-Type": "application/json" }, "query": { "model": "gpt-3.5-turbo", "stream": true, "messages": [ { "role": "user", "content": "What is Cloudflare?" } ] } }, { "provider": "replicate", "endpoint": "predictions", "authorization": "Token $TOKEN", "query": { "version": "2796ee9483c3fd7aa2e171d38f4ca12251a30609463dcfd4cd76703f22e96cdf", "input": { "prompt": "What is Cloudflare?" } } } ]')
grep -qi '^cf-aig-step: 1' <<< "$out" || fail "universal: no cf-aig-step: 1 in: $out"
grep -qi '^content-type: text/event-stream' <<< "$out" || fail "universal: not a stream: $out"
grep -q 'data: \[DONE\]' <<< "$out" && grep -q 'tok4' <<< "$out" || fail "universal: stream incomplete: $out"
ok "seed curl: Universal Endpoint streams from its openai step after huggingface fails"

# The seed's --data here nests single quotes (' Hello World '), which would
# split it into extra arguments that curl takes as URLs; it is one argument here.
out=$(curl -sS --fail-with-body "http://$main/v1/ACCOUNT_TAG/GATEWAY/workers-ai/@cloudflare/meta-llama/llama-2-7b" -X POST \
    --header 'Authorization: Token $TOKEN' --header 'Content-Type: application/json' \
    --data "{ \"prompt\": \"Where did the phrase ' Hello World ' come from\" } }")
grep -q '"response":"Hello from the aigw mock."' <<< "$out" || fail "workers-ai: $out"
ok "seed curl: workers-ai"

out=$(curl -sS --fail-with-body "http://$main/v1/ACCOUNT_TAG/GATEWAY/openai/chat/completions" -X POST \
    --header 'Authorization: Bearer $TOKEN' --header 'Content-Type: application/json' \
    --data ' { "model": "gpt-3.5-turbo", "messages": [ { "role": "user", "content": "how to build a wooden spoon in 3 short steps? give as short as answer as possible" } ] } ')
grep -q '"object":"chat.completion"' <<< "$out" || fail "openai: $out"
ok "seed curl: openai chat/completions"

out=$(curl -sS --fail-with-body "http://$main/v1/ACCOUNT_TAG/GATEWAY/huggingface/bigcode/starcoder" -X POST \
    --header 'Authorization: Bearer $TOKEN' --header 'Content-Type: application/json' \
    --data '{ "inputs": "console.log" }')
grep -q '"generated_text":"console.log Hello from the aigw mock."' <<< "$out" || fail "huggingface: $out"
ok "seed curl: huggingface bigcode/starcoder"

out=$(curl -sS --fail-with-body "http://$main/v1/ACCOUNT_TAG/GATEWAY/replicate/predictions" -X POST \
    --header 'Authorization: Token $TOKEN' --header 'Content-Type: application/json' \
    --data '{ "version": "2796ee9483c3fd7aa2e171d38f4ca12251a30609463dcfd4cd76703f22e96cdf", "input": { "prompt": "What is Cloudflare?" } }')
grep -q '"status":"succeeded"' <<< "$out" || fail "replicate: $out"
ok "seed curl: replicate predictions"

# ---- SDKs ------------------------------------------------------------------
python3 "$here/openai_sdk.py" "http://$main/v1/ACCOUNT_TAG/GATEWAY/openai"
passed=$((passed + 4))
cp "$here/openai_sdk.mjs" "$here/hf_inference.mjs" "$sdk/"
node "$sdk/openai_sdk.mjs" "http://$main/v1/ACCOUNT_TAG/GATEWAY/openai"
passed=$((passed + 3))
node "$sdk/hf_inference.mjs" "http://$main/v1/ACCOUNT_TAG/GATEWAY/huggingface/gpt2"
passed=$((passed + 2))

# ---- the unified API and pass-through paths, with each provider's SDK ----
# anthropic and google-ai-studio at the mock's root (its Anthropic and Gemini
# dialects), openai at its /v1; the second server also holds stored keys.
dialects="\"anthropic\":{\"base_url\":\"$mock\"STORED_ANT},\"google-ai-studio\":{\"base_url\":\"$mock\"},
    \"openai\":{\"base_url\":\"$mock/v1\"STORED_OAI}"
start unified "{\"providers\":{${dialects//STORED_???/}}}"
unified=$addr
dialects=${dialects/STORED_ANT/,\"api_key_env\":\"AIGW_SDK_ANTHROPIC_KEY\"}
export AIGW_SDK_ANTHROPIC_KEY=ant-stored
start stored "{\"providers\":{${dialects/STORED_OAI/,\"api_key\":\"oai-stored\"}}}"
stored=$addr
python3 "$here/unified_sdks.py" "http://$unified" "http://$stored" | tee "$tmp/unified.log"
passed=$((passed + $(grep -c '^ok - ' "$tmp/unified.log")))
cp "$here/openai_compat.mjs" "$sdk/"
node "$sdk/openai_compat.mjs" "http://$unified"
passed=$((passed + 4))

# ---- SIGTERM and SIGINT: a clean exit 0 --------------------------------------
for name in main:TERM fallback:INT; do
    var=pid_${name%%:*}
    kill -s "${name#*:}" "${!var}"
    rc=0
    wait "${!var}" || rc=$?
    [ "$rc" -eq 0 ] || fail "${name%%:*}: exit $rc after SIG${name#*:}"
done
# Those two are gone; cleanup still stops the unified and stored servers.
pids=("$pid_unified" "$pid_stored")
ok "aigw serve exits 0 on SIGTERM and on SIGINT"

echo "server-sdk: $passed passed, 0 failed"
