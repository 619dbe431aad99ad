#!/usr/bin/env python3
"""LiteLLM contender: the in-process Python SDK (PyPI `litellm`), timed the
way the C clients time theirs, printing the same RESULT lines.

    litellm_driver.py --api-base http://127.0.0.1:PORT/v1 [--threads 1,2,8]
                      [--duration S] [--warmup N] [--max N] [--case chat|anthropic]

Each thread calls litellm.completion(model="openai/gpt-4o-mini",
api_base=..., api_key="sk-bench") back to back; latency per call with
time.perf_counter_ns() (CLOCK_MONOTONIC). --case anthropic (bench/translate.sh)
is LiteLLM's own translation instead: model="anthropic/claude-3-5-haiku-20241022",
the ~1 KB conversation aigw_client's compat case sends, api_base = the Messages
URL on nginx. Nothing may leave 127.0.0.1: the
cost map is the bundled one, telemetry is off, no callbacks are set.
"""
import argparse
import os
import sys
import threading
import time

# Before the import: the bundled model-cost map instead of fetching it.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.setdefault("LITELLM_LOG", "ERROR")
os.environ.setdefault("LITELLM_TELEMETRY", "False")

import litellm  # noqa: E402

litellm.telemetry = False
litellm.success_callback = []
litellm.failure_callback = []
litellm.callbacks = []
litellm.suppress_debug_info = True

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write a haiku about benchmarks."},
]
# --case anthropic: the same conversation as aigw_client's compat case.
XL_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "The quick brown fox jumps over the lazy dog. " * 20},
]
CASES = {
    "chat": dict(model="openai/gpt-4o-mini", messages=MESSAGES),
    "anthropic": dict(model="anthropic/claude-3-5-haiku-20241022", messages=XL_MESSAGES,
                      max_tokens=256),
}
CASE = "chat"


def one(api_base):
    r = litellm.completion(api_base=api_base, api_key="sk-bench", **CASES[CASE])
    if not r.choices or not r.choices[0].message.content:
        raise RuntimeError("empty completion: %r" % (r,))


def pct(sorted_ns, q):
    n = len(sorted_ns)
    if n == 0:
        return 0.0
    rank = min(n, max(1, int(q * n + 0.999999)))
    return sorted_ns[rank - 1] / 1000.0


def median(sorted_ns):
    n = len(sorted_ns)
    if n == 0:
        return 0.0
    if n % 2:
        return sorted_ns[n // 2] / 1000.0
    return (sorted_ns[n // 2 - 1] + sorted_ns[n // 2]) / 2000.0


def run(api_base, threads, duration, warmup, cap):
    barrier = threading.Barrier(threads)
    lats = [[] for _ in range(threads)]
    spans = [[0, 0] for _ in range(threads)]
    errors = []

    def worker(i):
        try:
            for _ in range(warmup):
                one(api_base)
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        barrier.wait()
        if errors:
            return
        budget = int(duration * 1e9)
        start = t = time.perf_counter_ns()
        mine = lats[i]
        try:
            while len(mine) < cap and t - start < budget:
                one(api_base)
                t2 = time.perf_counter_ns()
                mine.append(t2 - t)
                t = t2
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        spans[i] = [start, t]

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        print("litellm_driver: %d thread(s) failed: %r" % (len(errors), errors[0]), file=sys.stderr)
        return 1
    allv = sorted(v for l in lats for v in l)
    first = min(s[0] for s in spans)
    last = max(s[1] for s in spans)
    wall = (last - first) / 1e9
    n = len(allv)
    print(
        "RESULT tool=litellm case=%s threads=%d n=%d median_us=%.2f p99_us=%.2f p90_us=%.2f "
        "mean_us=%.2f min_us=%.2f max_us=%.2f rps=%.0f wall_s=%.3f"
        % (CASE, threads, n, median(allv), pct(allv, 0.99), pct(allv, 0.90),
           (sum(allv) / n / 1000.0) if n else 0.0, pct(allv, 0.0),
           (allv[-1] / 1000.0) if n else 0.0, n / wall if wall > 0 else 0.0, wall),
        flush=True,
    )
    return 0 if n else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api-base", required=True)
    ap.add_argument("--threads", default="1")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--max", type=int, default=1000000)
    ap.add_argument("--case", choices=sorted(CASES), default="chat")
    a = ap.parse_args()
    global CASE
    CASE = a.case
    print("INFO tool=litellm version=%s python=%s" % (
        getattr(litellm, "version", None) or _dist_version("litellm"),
        sys.version.split()[0]), flush=True)
    rc = 0
    for n in [int(x) for x in a.threads.split(",") if x]:
        rc |= run(a.api_base, n, a.duration, a.warmup, a.max)
    return rc


def _dist_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
