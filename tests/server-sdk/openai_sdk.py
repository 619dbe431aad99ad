"""The official openai Python SDK against `aigw serve`, with the hosted
gateway's base URL form: plain, streaming, and 32 concurrent streams.

Usage: python3 openai_sdk.py BASE_URL   (.../v1/ACCOUNT_TAG/GATEWAY/openai)
"""
import sys
from concurrent.futures import ThreadPoolExecutor

from openai import OpenAI

REPLY = "Hello from the aigw mock."
STREAMED = "".join(f"tok{i} " for i in range(5))
MESSAGES = [{"role": "user", "content": "What is Cloudflare?"}]


def main(base_url):
    client = OpenAI(api_key="sk-python-sdk", base_url=base_url, max_retries=0)
    done = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert done.choices[0].message.content == REPLY, done
    assert done.usage.completion_tokens == 7, done.usage
    print("ok - python openai: plain chat completion")

    def stream(_):
        text = ""
        for chunk in client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
        return text

    assert stream(0) == STREAMED
    print("ok - python openai: streaming chat completion")

    with ThreadPoolExecutor(max_workers=32) as pool:
        texts = list(pool.map(stream, range(32)))
    bad = [t for t in texts if t != STREAMED]
    assert not bad, bad[:3]
    print("ok - python openai: 32 concurrent streams, each with the right text")

    # The gateway's own errors reach the SDK as API errors with a status.
    broken = OpenAI(api_key="k", base_url=base_url.rsplit("/", 1)[0] + "/nope", max_retries=0)
    try:
        broken.chat.completions.create(model="m", messages=MESSAGES)
        raise AssertionError("an unknown provider was accepted")
    except Exception as e:  # openai.BadRequestError
        assert getattr(e, "status_code", None) == 400, e
    print("ok - python openai: an unknown provider is a 400 APIError")


if __name__ == "__main__":
    main(sys.argv[1])
