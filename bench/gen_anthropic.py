#!/usr/bin/env python3
"""Writes the Anthropic-format upstream of the translation benchmark
(bench/translate.sh) into WWW_DIR, next to bench/gen_upstream.py's files.

    gen_anthropic.py WWW_DIR [EVENTS]

WWW_DIR/anthropic/v1/messages: one Anthropic Messages response (about 1 KiB).
WWW_DIR/anthropic-stream/v1/messages: a Messages event stream of EVENTS
events (default 1000): message_start, content_block_start, ping, text
deltas, content_block_stop, message_delta, message_stop.

nginx serves both at POST (bench/nginx.conf.in); aigw reaches them as the
`anthropic` provider with base URL .../anthropic or .../anthropic-stream.
Prints the sizes and how many events a caller sees, pass-through and
translated to chat.completion.chunk (with include_usage), for the clients'
--events check.
"""
import json
import os
import sys

www = sys.argv[1]
events = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
if events < 8:
    sys.exit("gen_anthropic.py: EVENTS must be at least 8")

MODEL = "claude-3-5-haiku-20241022"
ID = "msg_01BENCH000000000000000000"
content = (
    "Benchmarks hum along,\nmicroseconds fall like rain,\nthe floor is libcurl.\n\n"
    "A translation benchmark sends one request in one format and reads the answer "
    "in another: an OpenAI chat completion in, an Anthropic Messages request out, "
    "and the Messages answer back as a chat completion. Measured against the same "
    "request passed through untranslated, the difference is what translation costs: "
    "parsing, checking, writing the other dialect, both ways, and for a stream every "
    "event re-encoded as it arrives. Medians say what is typical, the 99th percentile "
    "what the unlucky request pays. This reply is padded "
    "to about one kibibyte, the size of a typical short chat answer."
)
message = {
    "id": ID,
    "type": "message",
    "role": "assistant",
    "model": MODEL,
    "content": [{"type": "text", "text": content}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 212, "cache_creation_input_tokens": 0,
              "cache_read_input_tokens": 0, "output_tokens": 118},
}


def put(rel, text):
    path = os.path.join(www, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


body = json.dumps(message, separators=(",", ":"))
put("anthropic/v1/messages", body)


def ev(name, data):
    return "event: %s\ndata: %s\n\n" % (name, json.dumps(data, separators=(",", ":")))


start = dict(message, content=[], stop_reason=None,
             usage=dict(message["usage"], output_tokens=1))
deltas = events - 6
parts = [
    ev("message_start", {"type": "message_start", "message": start}),
    ev("content_block_start", {"type": "content_block_start", "index": 0,
                               "content_block": {"type": "text", "text": ""}}),
    ev("ping", {"type": "ping"}),
]
for i in range(deltas):
    parts.append(ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                            "delta": {"type": "text_delta", "text": " tok%d" % i}}))
parts += [
    ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ev("message_delta", {"type": "message_delta",
                         "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                         "usage": {"output_tokens": deltas}}),
    ev("message_stop", {"type": "message_stop"}),
]
put("anthropic-stream/v1/messages", "".join(parts))
# Translated: the role chunk, one chunk per text delta, the finish chunk,
# the usage chunk, [DONE].
print("messages=%d bytes messages_stream=%d bytes events=%d translated_events=%d" % (
    len(body), sum(len(p) for p in parts), len(parts), deltas + 4))
