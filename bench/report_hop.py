"""The server-hop section of BENCHMARKS.md (bench/hop.sh's figures), called
by report.py as hop_section(d, w): d is report.py's parsed lines by kind, w
appends one line of markdown."""
import statistics

from report import num  # one reader of numeric fields for every section

HOPS = [
    ("direct", "client → nginx (no hop)"),
    ("nginx-proxy", "nginx `proxy_pass` (the floor for a hop)"),
    ("aigw-serve", "`aigw serve`"),
    ("litellm-proxy", "LiteLLM proxy (`litellm --config`)"),
    ("portkey-proxy", "Portkey gateway"),
]
THREADS = (1, 8, 64)


def _us(v):
    if v is None:
        return "–"
    return "{:,.0f}".format(v) if abs(v) >= 1000 else "{:.1f}".format(v)


def _agg(rows, tool, threads):
    rs = [r for r in rows if r.get("tool") == tool and r.get("threads") == str(threads)]
    if not rs:
        return None
    rounds = {}
    for r in rs:
        rounds[r.get("round", "1")] = r
    return {
        "median": statistics.median(num(r["median_us"]) for r in rs),
        "p99": statistics.median(num(r["p99_us"]) for r in rs),
        "rps": statistics.median(num(r["rps"]) for r in rs),
        "rounds": rounds,
    }


def _added(rows, tool, threads, key):
    """tool's figure minus direct's, round by round where both ran (the
    median of the differences), else of the medians."""
    a, b = _agg(rows, tool, threads), _agg(rows, "direct", threads)
    if not a or not b:
        return None
    both = [r for r in a["rounds"] if r in b["rounds"]]
    if both:
        return statistics.median(num(a["rounds"][r][key]) - num(b["rounds"][r][key]) for r in both)
    return a[key.replace("_us", "")] - b[key.replace("_us", "")]


def _status(ok):
    if ok is None:
        return "not measured"
    return "**met**" if ok else "**missed**"


def hop_section(d, w, meta=None):
    rows = [r for r in d.get("RESULT", []) if r.get("hop") == "1" and r.get("case") == "hop"]
    if not rows:
        return
    w("## The server hop: `aigw serve` between a client and the upstream")
    w("")
    w("The same libcurl client (`curl_client`, one kept-alive connection per thread, pinned to CPU 0) "
      "sends the chat request to nginx directly and through each proxy; the proxies themselves are not "
      "pinned. *Added* is the proxy's latency minus the direct one's (at 1 connection, the median of "
      "the per-round differences over interleaved rounds). The nginx proxy is a second nginx instance "
      "(1 worker, `proxy_pass` to a `keepalive` upstream, `proxy_buffering off`).")
    w("")
    hdr = "| path | connections | median µs | p99 µs | added median µs | added p99 µs | req/s |"
    w(hdr)
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for tool, label in HOPS:
        for t in THREADS:
            a = _agg(rows, tool, t)
            if not a:
                continue
            add_m = None if tool == "direct" else _added(rows, tool, t, "median_us")
            add_p = None if tool == "direct" else _added(rows, tool, t, "p99_us")
            w("| {} | {} | {} | {} | {} | {} | {:,.0f} |".format(
                label, t, _us(a["median"]), _us(a["p99"]), _us(add_m), _us(add_p), a["rps"]))
    w("")

    streams = [r for r in d.get("STREAM", []) if r.get("hop") in ("1", "py")]
    if streams:
        w("Time to the first event and to the end of the 1,000-event stream (median of each "
          "contender's requests; `curl_client` rows are libcurl with a memchr line splitter, `python` "
          "rows one stdlib client for all five, which the peers need: they stream only from a chat "
          "path, answered here by the same stream):")
        w("")
        w("| path | client | first event median µs | first event p99 µs | last event median µs |")
        w("| --- | --- | ---: | ---: | ---: |")
        labels = dict(HOPS)
        for client in ("1", "py"):
            for tool, _ in HOPS:
                for r in streams:
                    if r.get("tool") == tool and r.get("hop") == client:
                        w("| {} | {} | {} | {} | {} |".format(
                            labels[tool], "curl_client" if client == "1" else "python",
                            _us(num(r.get("first_median_us"))), _us(num(r.get("first_p99_us"))),
                            _us(num(r.get("last_median_us")))))
        w("")

    slow = d.get("SLOW", [])
    for r in slow:
        rss = num(r.get("rss_peak_kib"))
        w("**{} slow streams at once through `aigw serve`** (an upstream event a second, {} events "
          "each; `max_connections` {}): {} complete, {} refused, {} failed; all connections open "
          "after {} s; peak RSS {} MiB, peak threads {}.".format(
              r.get("clients"), r.get("events_max"), r.get("max_connections"), r.get("ok"),
              r.get("refused"), r.get("failed"), r.get("open_s"),
              "{:.0f}".format(rss / 1024) if rss else "?", r.get("threads_peak")))
        w("")

    steal = (meta or {}).get("hop_steal")
    if steal is not None:
        w("CPU time the virtual machine's host took (steal) during the 1-connection rounds: {} %.".format(steal))
        w("")

    # ---- turn by turn (the ratio target is judged on these where present)
    ngx = _added(rows, "nginx-proxy", 1, "median_us")
    aigw = _added(rows, "aigw-serve", 1, "median_us")
    turns = [r for r in d.get("TURN", []) if r.get("hop") == "turn" and r.get("base") == "direct"]
    t_ngx = [num(r["added_median_us"]) for r in turns if r.get("tool") == "nginx-proxy"]
    t_aigw = [num(r["added_median_us"]) for r in turns if r.get("tool") == "aigw-serve"]
    if t_ngx and t_aigw:
        r_ngx, r_aigw = ngx, aigw
        ngx, aigw = statistics.median(t_ngx), statistics.median(t_aigw)
        ratios = sorted(a / n for a, n in zip(t_aigw, t_ngx) if n > 0)
        w("Turn by turn (`curl_client --turn`: one connection to each of direct, nginx `proxy_pass` "
          "and `aigw serve`, one request to each per turn, the order rotating), so the three meet "
          "the same moment of the shared machine: nginx `proxy_pass` adds {} µs and `aigw serve` "
          "{} µs (medians over {} runs of each run's median per-turn difference from direct; "
          "per-run ratios {}). The separate rounds above give {} µs and {} µs. The ratio target "
          "is judged on the turn-by-turn figures.".format(
              _us(ngx), _us(aigw), len(t_aigw),
              ", ".join("{:.2f}×".format(x) for x in ratios) or "–", _us(r_ngx), _us(r_aigw)))
        w("")

    # ---- targets
    w("| target (issue 12) | measured | |")
    w("| --- | --- | --- |")

    def ratio_row(name, ok, text):
        w("| {} | {} | {} |".format(name, text, _status(ok)))

    if ngx is not None and aigw is not None and ngx > 0:
        ratio_row("added median ≤ 1.5× nginx proxy_pass's (1 connection)", aigw <= 1.5 * ngx,
                  "{} µs vs {} µs ({:.2f}×)".format(_us(aigw), _us(ngx), aigw / ngx))
    else:
        ratio_row("added median ≤ 1.5× nginx proxy_pass's (1 connection)", None, "–")
    a64, n64 = _agg(rows, "aigw-serve", 64), _agg(rows, "nginx-proxy", 64)
    if a64 and n64:
        ratio_row("req/s ≥ 0.7× nginx proxy_pass's at 64 connections", a64["rps"] >= 0.7 * n64["rps"],
                  "{:,.0f} vs {:,.0f} ({:.2f}×)".format(a64["rps"], n64["rps"], a64["rps"] / n64["rps"]))
    for tool, name, x in (("litellm-proxy", "LiteLLM proxy's", 20), ("portkey-proxy", "Portkey's", 5)):
        peer = _added(rows, tool, 1, "median_us")
        label = "added median ≥ {}× below the {} (1 connection)".format(x, name)
        if peer is None or aigw is None:
            ratio_row(label, None, "not run")
        else:
            ratio_row(label, aigw * x <= peer,
                      "{} µs vs {} µs ({:.0f}×)".format(_us(aigw), _us(peer), peer / aigw if aigw > 0 else 0))
    for r in slow:
        rss = num(r.get("rss_peak_kib"))
        ok = r.get("ok") == r.get("clients") and r.get("refused") == "0" and rss is not None and rss <= 256 * 1024
        ratio_row("{} slow streams: none refused, RSS ≤ 256 MiB".format(r.get("clients")), ok,
                  "{} of {} complete, {} refused, {:.0f} MiB".format(r.get("ok"), r.get("clients"),
                                                                    r.get("refused"), (rss or 0) / 1024))
    w("")
