#!/usr/bin/env python3
"""Writes the nginx benchmark upstream's bodies into WWW_DIR.

    gen_upstream.py WWW_DIR [EVENTS]

WWW_DIR/v1/chat/completions: one OpenAI chat.completion (about 1 KiB).
WWW_DIR/v1/stream: an OpenAI-shaped text/event-stream of EVENTS events
(default 1000): EVENTS-1 chat.completion.chunk events, then `data: [DONE]`.
"""
import json
import os
import sys

www = sys.argv[1]
events = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
os.makedirs(os.path.join(www, "v1"), exist_ok=True)

content = (
    "Benchmarks hum along,\nmicroseconds fall like rain,\nthe floor is libcurl.\n\n"
    "A benchmark compares like with like: the same upstream, the same request, "
    "the same machine, and the same clock for every contender. Medians say what "
    "is typical, the 99th percentile says what the unlucky request pays, and "
    "throughput says how much work the whole machine gets done. Together they "
    "show whether a gateway is a thin layer or a second hop. This reply is "
    "padded to about one kibibyte, the size of a typical short chat answer."
)
completion = {
    "id": "chatcmpl-BENCH0000000000000000000000",
    "object": "chat.completion",
    "created": 1741569952,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{
        "index": 0,
        "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
        "logprobs": None,
        "finish_reason": "stop",
    }],
    "usage": {
        "prompt_tokens": 26, "completion_tokens": 118, "total_tokens": 144,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    },
    "service_tier": "default",
    "system_fingerprint": "fp_0000bench",
}
os.makedirs(os.path.join(www, "v1", "chat"), exist_ok=True)
body = json.dumps(completion, separators=(",", ":"))
with open(os.path.join(www, "v1", "chat", "completions"), "w") as f:
    f.write(body)

parts = []
for i in range(events - 1):
    chunk = {
        "id": "chatcmpl-BENCH0000000000000000000000", "object": "chat.completion.chunk",
        "created": 1741569952, "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_0000bench",
        "choices": [{"index": 0, "delta": {"content": " tok%d" % i} if i else
                     {"role": "assistant", "content": ""},
                     "logprobs": None, "finish_reason": None}],
    }
    parts.append("data: " + json.dumps(chunk, separators=(",", ":")) + "\n\n")
parts.append("data: [DONE]\n\n")
with open(os.path.join(www, "v1", "stream"), "w") as f:
    f.write("".join(parts))
print("chat=%d bytes stream=%d bytes events=%d" % (
    len(body), sum(len(p) for p in parts), events))
