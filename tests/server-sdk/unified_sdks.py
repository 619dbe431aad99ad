"""The official openai, anthropic and google-genai Python SDKs against
`aigw serve`, by base URL: the unified API (`/compat`, every dialect of the
mock behind it) and the pass-through paths (`/anthropic`,
`/google-ai-studio`).

Usage: python3 unified_sdks.py SERVER STORED_KEY_SERVER
  SERVER             http://127.0.0.1:PORT, anthropic, google-ai-studio and
                     openai pointed at the mock, no stored keys
  STORED_KEY_SERVER  the same, with stored keys: anthropic's from
                     api_key_env ("ant-stored"), openai's api_key ("oai-stored")
Prints one "ok - ..." line per check; any failure raises (exit status 1).
"""
import json
import sys

import anthropic
import openai
from google import genai

REPLY = "Hello from the aigw mock."
STREAMED = "".join(f"tok{i} " for i in range(5))
USER = [{"role": "user", "content": "Say hello."}]
MODELS = ["anthropic/claude-3-5-haiku", "google-ai-studio/gemini-2.0-flash", "openai/gpt-4o-mini"]
TOOLS_OAI = [
    {"type": "function", "function": {"name": n, "parameters": {
        "type": "object", "properties": {"arg": {"type": "integer"}}}}}
    for n in ("lookup", "fetch")
]
TOOLS_ANT = [{"name": "lookup", "input_schema": {"type": "object", "properties": {"arg": {"type": "integer"}}}}]
checks = 0


def ok(what):
    global checks
    checks += 1
    print(f"ok - {what}")


def oai(base, headers=None, key="sk-caller"):
    return openai.OpenAI(base_url=base, api_key=key, max_retries=0, default_headers=headers or {},
                         _strict_response_validation=True)


def ant(base, headers=None, key="sk-caller"):
    return anthropic.Anthropic(base_url=base, api_key=key, max_retries=0, default_headers=headers or {},
                               _strict_response_validation=True)


def raises(exc_type, status, fn):
    try:
        fn()
    except exc_type as e:
        assert e.status_code == status, (e.status_code, e)
        return e
    raise AssertionError(f"no {exc_type.__name__}")


def openai_compat(server):
    base = f"{server}/compat"
    for model in MODELS:
        provider = model.split("/")[0]
        c = oai(base)
        r = c.chat.completions.create(model=model, messages=USER)
        assert r.choices[0].message.content == REPLY and r.choices[0].finish_reason == "stop", r
        assert r.usage.completion_tokens == 7 and r.usage.total_tokens == r.usage.prompt_tokens + 7, r.usage
        raw = c.chat.completions.with_raw_response.create(model=model, messages=USER)
        assert raw.headers["cf-aig-provider"] == provider, raw.headers
        ok(f"openai sdk /compat {model}: chat completion, cf-aig-provider {provider}")

        text, usage, chunks = "", None, 0
        for chunk in c.chat.completions.create(model=model, messages=USER, stream=True,
                                               stream_options={"include_usage": True}):
            chunks += 1
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
            if chunk.usage:
                assert chunk.choices == [], chunk
                usage = chunk.usage
        assert text == STREAMED, text
        assert usage is not None and usage.completion_tokens > 0, usage
        ok(f"openai sdk /compat {model}: stream with include_usage ({chunks} chunks)")

        # Two parallel tool calls, assembled by the SDK's own stream helper.
        tc = oai(base, {"x-mock": "tool_calls=2"})
        with tc.chat.completions.stream(model=model, messages=USER, tools=TOOLS_OAI) as s:
            final = s.get_final_completion()
        calls = final.choices[0].message.tool_calls
        assert final.choices[0].finish_reason == "tool_calls", final
        assert [t.function.name for t in calls] == ["lookup", "fetch"], calls
        assert [json.loads(t.function.arguments) for t in calls] == [{"arg": 0}, {"arg": 1}], calls
        assert len({t.id for t in calls}) == 2 and all(t.id for t in calls), calls
        r = tc.chat.completions.create(model=model, messages=USER, tools=TOOLS_OAI)
        assert [t.function.name for t in r.choices[0].message.tool_calls] == ["lookup", "fetch"], r
        # The tool results go back under their calls' ids.
        follow = USER + [r.choices[0].message.model_dump(exclude_none=True)] + [
            {"role": "tool", "tool_call_id": t.id, "content": "42"} for t in r.choices[0].message.tool_calls]
        r2 = c.chat.completions.create(model=model, messages=follow, tools=TOOLS_OAI)
        assert r2.choices[0].message.content == REPLY, r2
        ok(f"openai sdk /compat {model}: parallel tool calls (stream helper, plain, results)")

    for model in ["google-ai-studio/text-embedding-004", "openai/text-embedding-3-small"]:
        # Not strict: the SDK asks for base64 and validates before decoding it.
        e = openai.OpenAI(base_url=base, api_key="sk-caller", max_retries=0).embeddings.create(
            model=model, input=["one", "two"])
        assert len(e.data) == 2 and [d.index for d in e.data] == [0, 1], e
        assert all(len(d.embedding) > 0 for d in e.data), e
        ok(f"openai sdk /compat {model}: embeddings")

    c = oai(base)
    e = raises(openai.BadRequestError, 400,
               lambda: c.chat.completions.create(model="nosuch/model", messages=USER))
    assert "nosuch" in str(e.message), e.message
    raises(openai.BadRequestError, 400, lambda: c.chat.completions.create(model="gpt-4o", messages=USER))
    ok("openai sdk /compat: unknown or missing provider is a 400 BadRequestError")
    # The mock's Anthropic dialect refuses a conversation starting with an
    # assistant turn; its message comes back in the OpenAI error shape.
    e = raises(openai.BadRequestError, 400, lambda: c.chat.completions.create(
        model="anthropic/claude-3-5-haiku", messages=[{"role": "assistant", "content": "hi"}]))
    assert e.body and e.body.get("message"), e.body
    for status, exc in [(429, openai.RateLimitError), (503, openai.InternalServerError)]:
        raises(exc, status, lambda: oai(base, {"x-mock": f"status={status}"}).chat.completions.create(
            model="google-ai-studio/gemini-2.0-flash", messages=USER))
    ok("openai sdk /compat: upstream 400, 429, 503 are the SDK's typed errors")


def anthropic_sdk(server):
    for base, models in [(f"{server}/anthropic", ["claude-3-5-haiku"]), (f"{server}/compat", MODELS)]:
        where = base.rsplit("/", 1)[1]
        for model in models:
            c = ant(base)
            m = c.messages.create(model=model, max_tokens=50, messages=USER)
            assert m.content[0].text == REPLY and m.stop_reason == "end_turn", m
            assert m.usage.output_tokens == 7, m.usage
            with c.messages.stream(model=model, max_tokens=50, messages=USER) as s:
                final = s.get_final_message()
            assert final.content[0].text == STREAMED and final.stop_reason == "end_turn", final
            ok(f"anthropic sdk /{where} {model}: messages.create and messages.stream")

            tc = ant(base, {"x-mock": "tool_calls=2"})
            m = tc.messages.create(model=model, max_tokens=50, messages=USER, tools=TOOLS_ANT)
            assert [b.type for b in m.content] == ["tool_use", "tool_use"] and m.stop_reason == "tool_use", m
            with tc.messages.stream(model=model, max_tokens=50, messages=USER, tools=TOOLS_ANT) as s:
                final = s.get_final_message()
            assert [b.input for b in final.content] == [{"arg": 0}, {"arg": 1}], final
            assert final.stop_reason == "tool_use", final
            follow = USER + [
                {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": b.id, "content": "42"} for b in m.content]}]
            m2 = c.messages.create(model=model, max_tokens=50, messages=follow, tools=TOOLS_ANT)
            assert m2.stop_reason == "end_turn", m2
            ok(f"anthropic sdk /{where} {model}: tool use (plain, streamed, results)")

        c = ant(base)
        e = raises(anthropic.BadRequestError, 400, lambda: c.messages.create(
            model=models[0], max_tokens=50, messages=[{"role": "assistant", "content": "first"}]))
        assert e.body["type"] == "error" and e.body["error"]["message"], e.body
        raises(anthropic.RateLimitError, 429, lambda: ant(base, {"x-mock": "status=429"}).messages.create(
            model=models[0], max_tokens=50, messages=USER))
        ok(f"anthropic sdk /{where}: 400 and 429 are the SDK's typed errors")
    raises(anthropic.BadRequestError, 400, lambda: ant(f"{server}/compat").messages.create(
        model="nosuch/model", max_tokens=50, messages=USER))
    ok("anthropic sdk /compat: an unknown provider is a 400 BadRequestError")


def genai_sdk(server):
    c = genai.Client(api_key="goog-caller", http_options={"base_url": f"{server}/google-ai-studio"})
    r = c.models.generate_content(model="gemini-2.0-flash", contents="Say hello.")
    assert r.text == REPLY, r
    assert r.usage_metadata.candidates_token_count == 7, r.usage_metadata
    ok("google-genai /google-ai-studio: generate_content")
    text = "".join(ch.text or "" for ch in c.models.generate_content_stream(
        model="gemini-2.0-flash", contents="Say hello."))
    assert text == STREAMED, text
    ok("google-genai /google-ai-studio: generate_content_stream")


def stored_keys(stored):
    """The server holds keys for anthropic (api_key_env) and openai
    (api_key); the mock's `echo` shows the credential that went upstream."""
    echo = {"x-mock": "echo"}

    def seen(raw, name):
        return [v for n, v in json.loads(raw.http_response.text)["headers"] if n.lower() == name]

    # The openai SDK refuses to start without an api_key and sends it as
    # `Authorization: Bearer`, which would win over the stored key; an
    # omitted header (openai.Omit, per request: the SDK checks the request's
    # own headers) leaves the choice to the gateway.
    keyless_oai = {"Authorization": openai.Omit()}
    for key, headers, want in [("unused", keyless_oai, "Bearer oai-stored"), ("sk-mine", {}, "Bearer sk-mine")]:
        raw = oai(f"{stored}/openai", echo, key=key).chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=USER, extra_headers=headers)
        assert seen(raw, "authorization") == [want], seen(raw, "authorization")
    ok("stored key: openai sdk with Authorization omitted gets the stored key; its own key wins")
    # The anthropic SDK needs a key unless Authorization is explicitly omitted.
    keyless = anthropic.Anthropic(base_url=f"{stored}/anthropic", api_key=None, max_retries=0,
                                  default_headers={"Authorization": anthropic.Omit(), **echo})
    raw = keyless.messages.with_raw_response.create(model="claude-3-5-haiku", max_tokens=50, messages=USER)
    assert seen(raw, "x-api-key") == ["ant-stored"], seen(raw, "x-api-key")
    raw = ant(f"{stored}/anthropic", echo, key="sk-ant-mine").messages.with_raw_response.create(
        model="claude-3-5-haiku", max_tokens=50, messages=USER)
    # This SDK sends its api_key as `Authorization: Bearer`; on the
    # pass-through path it goes on as sent, and the stored key stays out.
    assert seen(raw, "x-api-key") == [] and seen(raw, "authorization") == ["Bearer sk-ant-mine"], \
        json.loads(raw.http_response.text)["headers"]
    ok("stored key: anthropic sdk with Authorization omitted gets the stored key; its own key wins")
    # Through the unified API, a keyless SDK reaches each provider on its stored key.
    for model in ["anthropic/claude-3-5-haiku", "openai/gpt-4o-mini"]:
        r = oai(f"{stored}/compat", key="unused").chat.completions.create(
            model=model, messages=USER, extra_headers=keyless_oai)
        assert r.choices[0].message.content == REPLY, r
    ok("stored key: keyless openai sdk on /compat reaches anthropic and openai")


if __name__ == "__main__":
    server, stored = sys.argv[1], sys.argv[2]
    openai_compat(server)
    anthropic_sdk(server)
    genai_sdk(server)
    stored_keys(stored)
    print(f"unified sdks: {checks} checks passed")
