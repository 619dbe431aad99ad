#!/usr/bin/env python3
"""Checks against the official SDKs (openai, anthropic, google-genai).

  sdk_check.py mock URL      the mock's dialects, driven by each SDK
                             (base_url pointed at the mock): the SDKs must
                             accept its answers and streams, and get its
                             validation errors as their own error types.
  sdk_check.py samples DIR   aigw's translated outputs, written by
                             `AIGW_COMPAT_SAMPLES=DIR cargo test --test compat`,
                             served back to the SDKs from 127.0.0.1 and
                             parsed with strict response validation
                             (ChatCompletion, ChatCompletionChunk through the
                             SDK's stream accumulator, anthropic Message and
                             its stream events through MessageStream).

Every check that fails raises; the exit status is non-zero.
"""

import http.server
import json
import os
import sys
import threading

import anthropic
import openai
from google import genai
from google.genai import types as gtypes

KEY = "sk-test"
checks = 0


def ok(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


def openai_client(base, headers=None):
    return openai.OpenAI(base_url=base, api_key=KEY, max_retries=0,
                         default_headers=headers or {}, _strict_response_validation=True)


def anthropic_client(base, headers=None):
    return anthropic.Anthropic(base_url=base, api_key=KEY, max_retries=0,
                               default_headers=headers or {}, _strict_response_validation=True)


TOOLS_OAI = [{"type": "function", "function": {"name": "lookup", "parameters": {
    "type": "object", "properties": {"arg": {"type": "integer"}}}}}]
TOOLS_ANT = [{"name": "lookup", "input_schema": {"type": "object", "properties": {"arg": {"type": "integer"}}}}]
USER = [{"role": "user", "content": "Say hello."}]


def check_mock(url):
    # Anthropic.
    c = anthropic_client(url)
    m = c.messages.create(model="claude-3-5-haiku", max_tokens=50, messages=USER)
    ok(m.content[0].text == "Hello from the aigw mock." and m.stop_reason == "end_turn", "anthropic text")
    c = anthropic_client(url, {"x-mock": "tool_calls=2,cache_read=5,cache_write=2"})
    m = c.messages.create(model="claude-3-5-haiku", max_tokens=50, messages=USER, tools=TOOLS_ANT)
    ok([b.type for b in m.content] == ["tool_use", "tool_use"] and m.stop_reason == "tool_use", "anthropic tools")
    ok(m.usage.cache_read_input_tokens == 5 and m.usage.cache_creation_input_tokens == 2, "anthropic cache usage")
    results = [{"type": "tool_result", "tool_use_id": b.id, "content": "42"} for b in m.content]
    m2 = anthropic_client(url).messages.create(model="claude-3-5-haiku", max_tokens=50, tools=TOOLS_ANT, messages=[
        USER[0], {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]},
        {"role": "user", "content": results}])
    ok(m2.stop_reason == "end_turn", "anthropic tool results accepted")
    for headers in [{}, {"x-mock": "tool_calls=2"}]:
        with anthropic_client(url, headers).messages.stream(
                model="claude-3-5-haiku", max_tokens=50, messages=USER, tools=TOOLS_ANT) as s:
            final = s.get_final_message()
        if headers:
            ok([b.input for b in final.content] == [{"arg": 0}, {"arg": 1}], "anthropic streamed tools")
        else:
            ok(final.content[0].text == "tok0 tok1 tok2 tok3 tok4 ", "anthropic streamed text")
    for bad in [
        dict(messages=[{"role": "assistant", "content": "first"}]),
        dict(messages=[USER[0], {"role": "user", "content": "again"}]),
        dict(messages=[USER[0], {"role": "assistant", "content": [
            {"type": "tool_use", "id": "t1", "name": "lookup", "input": {}}]}, {"role": "user", "content": "no result"}]),
    ]:
        try:
            anthropic_client(url).messages.create(model="c", max_tokens=5, **bad)
            ok(False, f"anthropic mock accepted {bad}")
        except anthropic.BadRequestError as e:
            ok(e.body["error"]["type"] == "invalid_request_error", "anthropic error shape")

    # OpenAI.
    c = openai_client(url + "/v1")
    r = c.chat.completions.create(model="gpt-4o-mini", messages=USER)
    ok(r.choices[0].message.content == "Hello from the aigw mock.", "openai text")
    r = openai_client(url + "/v1", {"x-mock": "tool_calls=2"}).chat.completions.create(
        model="gpt-4o-mini", messages=USER, tools=TOOLS_OAI)
    ok(len(r.choices[0].message.tool_calls) == 2 and r.choices[0].finish_reason == "tool_calls", "openai tools")
    with openai_client(url + "/v1", {"x-mock": "tool_calls=2"}).chat.completions.stream(
            model="gpt-4o-mini", messages=USER, tools=TOOLS_OAI) as s:
        final = s.get_final_completion()
    ok([t.function.arguments for t in final.choices[0].message.tool_calls] == ['{"arg":0}', '{"arg":1}'],
       "openai streamed tools")
    e = c.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    ok(len(e.data) == 2 and len(e.data[0].embedding) == 8, "openai embeddings")

    # Gemini.
    g = genai.Client(api_key=KEY, http_options=gtypes.HttpOptions(base_url=url))
    r = g.models.generate_content(model="gemini-2.0-flash", contents="Say hello.")
    ok(r.text == "Hello from the aigw mock.", "gemini text")
    ok(r.usage_metadata.prompt_token_count > 0, "gemini usage")
    text = "".join(ch.text or "" for ch in g.models.generate_content_stream(model="gemini-2.0-flash", contents="hi"))
    ok(text == "tok0 tok1 tok2 tok3 tok4 ", "gemini stream")
    tool = gtypes.Tool(function_declarations=[gtypes.FunctionDeclaration(
        name="lookup", parameters=gtypes.Schema(type="OBJECT", properties={"arg": gtypes.Schema(type="INTEGER")}))])
    gt = genai.Client(api_key=KEY, http_options=gtypes.HttpOptions(base_url=url, headers={"x-mock": "tool_calls=2"}))
    r = gt.models.generate_content(model="gemini-2.0-flash", contents="hi",
                                   config=gtypes.GenerateContentConfig(tools=[tool]))
    ok([fc.name for fc in r.function_calls] == ["lookup", "lookup"], "gemini function calls")
    e = g.models.embed_content(model="text-embedding-004", contents=["a", "bb"])
    ok(len(e.embeddings) == 2, "gemini batch embeddings")
    try:
        g.models.generate_content(model="gemini-2.0-flash", contents=[
            gtypes.Content(role="model", parts=[gtypes.Part(text="first")])])
        ok(False, "gemini mock accepted a model-first conversation")
    except genai.errors.ClientError as e:
        ok(e.code == 400, "gemini error")


class Replay(http.server.BaseHTTPRequestHandler):
    """Answers every POST with the current sample."""
    sample = (200, "application/json", b"{}")

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        status, ctype, body = Replay.sample
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def check_samples(directory):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Replay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    names = sorted(os.listdir(directory))
    ok(len(names) >= 15, f"expected the compat test's samples in {directory}, found {names}")
    for name in names:
        body = open(os.path.join(directory, name), "rb").read()
        kind = name.split(".")[-2]
        sse = name.endswith(".sse")
        Replay.sample = (400 if "error" in kind else 200, "text/event-stream" if sse else "application/json", body)
        if kind == "chat":
            r = openai_client(base).chat.completions.create(model="m", messages=USER)
            ok(r.object == "chat.completion" and r.choices[0].finish_reason is not None, name)
            if r.usage is not None:
                ok(r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, name)
        elif kind == "chunks":
            chunks = list(openai_client(base).chat.completions.create(model="m", messages=USER, stream=True))
            ok(chunks and chunks[0].choices[0].delta.role == "assistant", name + ": role first")
            with openai_client(base).chat.completions.stream(model="m", messages=USER) as s:
                final = s.get_final_completion()
            ok(final.choices[0].finish_reason in ("stop", "length", "tool_calls"), name)
            for t in final.choices[0].message.tool_calls or []:
                ok(isinstance(json.loads(t.function.arguments), dict) and t.id, name + ": tool call")
        elif kind == "message":
            m = anthropic_client(base).messages.create(model="m", max_tokens=5, messages=USER)
            ok(m.type == "message" and m.stop_reason is not None, name)
        elif kind == "message_stream":
            with anthropic_client(base).messages.stream(model="m", max_tokens=5, messages=USER) as s:
                events = list(s)
                final = s.get_final_message()
            ok(events[0].type == "message_start" and final.stop_reason is not None, name)
            for b in final.content:
                ok(b.type in ("text", "tool_use"), name)
        elif kind == "embeddings":
            e = openai_client(base).embeddings.create(model="m", input="x", encoding_format="float")
            ok(e.object == "list" and e.data and isinstance(e.data[0].embedding, list), name)
        elif kind == "embeddings_b64":
            # The SDK's default: it asks for base64 and decodes it (its strict
            # mode checks the type before decoding, as with the real API).
            e = openai.OpenAI(base_url=base, api_key=KEY, max_retries=0).embeddings.create(model="m", input="x")
            v = e.data[0].embedding
            ok(len(v) == 4 and all(isinstance(x, float) and -1 <= x <= 1 for x in v), name)
        elif kind == "error":
            try:
                openai_client(base).chat.completions.create(model="m", messages=USER)
                ok(False, name)
            except openai.BadRequestError as e:
                ok("mock status" in e.message, name)
        elif kind == "anthropic_error":
            try:
                anthropic_client(base).messages.create(model="m", max_tokens=5, messages=USER)
                ok(False, name)
            except anthropic.BadRequestError as e:
                ok(e.body["error"]["message"], name)
        else:
            ok(False, f"unknown sample kind {name}")
        print(f"  ok {name}")
    server.shutdown()


if __name__ == "__main__":
    mode, arg = sys.argv[1], sys.argv[2]
    (check_mock if mode == "mock" else check_samples)(arg)
    print(f"sdk_check {mode}: {checks} checks passed")
