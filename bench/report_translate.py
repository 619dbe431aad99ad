#!/usr/bin/env python3
"""The translation section of BENCHMARKS.md (bench/translate.sh's lines,
tagged layout=xlate). bench/report.py calls section(meta, d); run alone,

    report_translate.py RESULTS_FILE

prints the section for that file (bench/run.sh translate does).
"""
import statistics
import sys

from report import num  # one reader of numeric fields for every section

LAYOUT = "xlate"
PAIR_LAYOUT = "xlate-pair"  # compat and pass-through taking turns in one process
TARGET_ADDED_US = 5.0   # translation over pass-through, ~1 KB each way
TARGET_TTFE_US = 20.0   # translated stream's first event over pass-through's
TARGET_PEER_X = 100.0   # LiteLLM's added latency over aigw's


def _rows(d, kind, tool, case):
    return [r for r in d.get(kind, []) if r.get("layout") == LAYOUT
            and r.get("tool") == tool and r.get("case") == case]


def _med(rows, key):
    vals = [num(r.get(key)) for r in rows]
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def _paired(a_rows, b_rows, key):
    """Median over rounds of (a - b) within the same round."""
    b = {r.get("round"): num(r.get(key)) for r in b_rows}
    diffs = [num(r.get(key)) - b[r.get("round")] for r in a_rows
             if b.get(r.get("round")) is not None and num(r.get(key)) is not None]
    return statistics.median(diffs) if diffs else None


def _us(v):
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return "{:,.0f}".format(v)
    return "{:.1f}".format(v)


def _status(ok):
    return "not measured" if ok is None else ("**met**" if ok else "**missed**")


def section(meta, d):
    out = []
    w = out.append
    comp = _rows(d, "RESULT", "aigw", "compat")
    pas = _rows(d, "RESULT", "aigw", "messages")
    lit = [r for r in d.get("RESULT", []) if r.get("layout") == LAYOUT
           and r.get("tool") == "litellm" and r.get("case") == "anthropic" and r.get("threads") == "1"]
    s_comp = _rows(d, "STREAM", "aigw", "compat")
    s_pas = _rows(d, "STREAM", "aigw", "messages")
    w("## Unified API: the cost of translation")
    w("")
    if not (comp or pas or s_comp or s_pas):
        w("Not measured in this run (bench/translate.sh produced no figures).")
        w("")
        return out
    w("One nginx serves Anthropic Messages answers ({}). The same ~1 KB conversation "
      "(a system message and a 900-character user turn, `max_tokens` 256) goes, single thread, "
      "client on CPU 0 and nginx on CPU 1:".format(meta.get("xlate_upstream", "canned bodies")))
    w("")
    w("- **compat**: `compat/chat/completions` with model `anthropic/claude-3-5-haiku-20241022` "
      "(OpenAI request in, Messages request out, the Messages answer translated back to a "
      "`chat.completion` or `chat.completion.chunk` stream with `include_usage`);")
    w("- **pass-through**: `anthropic/v1/messages` with the equivalent Messages request "
      "(the same upstream bytes, no translation);")
    w("- **LiteLLM**: `litellm.completion(model=\"anthropic/claude-3-5-haiku-20241022\", "
      "api_base=<nginx>/anthropic/v1/messages)` in process, the same messages.")
    w("")
    w("Medians over {} interleaved rounds (spread = lowest and highest round median); "
      "added latency is the median of the per-round differences. The machine is shared: "
      "figures are noisy (load at start: {}).".format(
          len(comp) or len(s_comp), meta.get("load_start", "unknown")))
    w("")
    w("| path | median µs | p99 µs | spread of medians µs | requests |")
    w("| --- | ---: | ---: | --- | ---: |")
    for name, rows in (("aigw pass-through (`anthropic/v1/messages`)", pas),
                       ("aigw compat (`compat/chat/completions`)", comp),
                       ("LiteLLM (`anthropic/` model, in process)", lit)):
        if not rows:
            continue
        meds = [num(r["median_us"]) for r in rows]
        w("| {} | {} | {} | {}–{} | {:,} |".format(
            name, _us(_med(rows, "median_us")), _us(_med(rows, "p99_us")),
            _us(min(meds)), _us(max(meds)), sum(int(r["n"]) for r in rows)))
    w("")
    rounds_added = _paired(comp, pas, "median_us")
    added_p99 = _paired(comp, pas, "p99_us")
    pairs = [r for r in d.get("PAIR", []) if r.get("layout") == PAIR_LAYOUT
             and r.get("case") == "compat" and r.get("base") == "messages"
             and r.get("mode") is None]
    s_pairs = [r for r in d.get("PAIR", []) if r.get("layout") == PAIR_LAYOUT
               and r.get("case") == "compat" and r.get("base") == "messages"
               and r.get("mode") == "stream"]
    turn_added = _med(pairs, "added_median_us")
    if pairs:
        w("Turn by turn (`aigw_client --case compat --pair messages`: one process sends a compat "
          "request and a pass-through request in turn, which goes first alternating, so both meet "
          "the same moment of the shared machine): the compat request took {} µs longer than the "
          "pass-through request of its turn (median over {} runs of each run's median difference; "
          "its runs' quartiles {} to {} µs; {:,} turns in all). Separate rounds, as in the table "
          "above, differ by {} µs, but the drift between rounds is of that size too. The target is "
          "judged on the turn-by-turn figure.".format(
              _us(turn_added), len(pairs), _us(_med(pairs, "added_p25_us")),
              _us(_med(pairs, "added_p75_us")), sum(int(r["n"]) for r in pairs),
              _us(rounds_added)))
        w("")
    added = turn_added if pairs else rounds_added
    lit_added = None
    if lit and pas:
        lit_added = _med(lit, "median_us") - _med(pas, "median_us")
    if s_comp or s_pas:
        w("Streams (1,000 upstream events; `aigw_send_stream`, time from the call to the first and "
          "last `on_event`):")
        w("")
        w("| path | first event median µs | first p99 µs | last event median µs | events |")
        w("| --- | ---: | ---: | ---: | ---: |")
        for name, rows in (("pass-through", s_pas), ("compat (translated)", s_comp)):
            if rows:
                w("| {} | {} | {} | {} | {} |".format(
                    name, _us(_med(rows, "first_median_us")), _us(_med(rows, "first_p99_us")),
                    _us(_med(rows, "last_median_us")), rows[0].get("events", "?")))
        w("")
    rounds_ttfe = _paired(s_comp, s_pas, "first_median_us")
    last = _paired(s_comp, s_pas, "last_median_us")
    ttfe = _med(s_pairs, "added_first_median_us") if s_pairs else rounds_ttfe
    if s_pairs:
        w("Turn by turn, the same way (a compat stream and a pass-through stream in turn): the "
          "translated stream's first event came {} µs after the pass-through stream's (median over "
          "{} runs; quartiles {} to {} µs; {:,} pairs of streams). Separate rounds: {} µs.".format(
              _us(ttfe), len(s_pairs), _us(_med(s_pairs, "added_first_p25_us")),
              _us(_med(s_pairs, "added_first_p75_us")), sum(int(r["n"]) for r in s_pairs),
              _us(rounds_ttfe)))
        w("")
    instr = {(r.get("case"), r.get("mode")): num(r.get("ir")) for r in d.get("INSTR", [])
             if r.get("layout") == LAYOUT}
    if instr:
        w("Instructions (callgrind, which the machine's load does not change: each case run for N "
          "and 2N requests or streams, the difference over N, so start-up cancels out):")
        w("")
        w("| path | instructions per request | per 1,000-event stream | per upstream event |")
        w("| --- | ---: | ---: | ---: |")
        for name, case in (("pass-through", "messages"), ("compat (translated)", "compat")):
            whole, stream = instr.get((case, "whole")), instr.get((case, "stream"))
            w("| {} | {} | {} | {} |".format(
                name, "–" if whole is None else "{:,.0f}".format(whole),
                "–" if stream is None else "{:,.0f}".format(stream),
                "–" if stream is None else "{:,.0f}".format(stream / 1000)))
        cw, pw = instr.get(("compat", "whole")), instr.get(("messages", "whole"))
        cs, ps = instr.get(("compat", "stream")), instr.get(("messages", "stream"))
        if None not in (cw, pw, cs, ps):
            w("| translation adds | {:+,.0f} | {:+,.0f} | {:+,.0f} |".format(
                cw - pw, cs - ps, (cs - ps) / 1000))
        cf, pf = instr.get(("compat", "first")), instr.get(("messages", "first"))
        if None not in (cf, pf):
            w("")
            w("To a stream's first event (the call, the plan, the exchange and the events held until "
              "the first content event): pass-through {:,.0f}, compat {:,.0f} instructions "
              "({:+,.0f}).".format(pf, cf, cf - pf))
        w("")
    w("| target | measured | status |")
    w("| --- | --- | --- |")
    w("| translation adds ≤ {:.0f} µs per ~1 KB request/response over pass-through | {} | {} |".format(
        TARGET_ADDED_US,
        "–" if added is None else ("{:+.1f} µs median, turn by turn (rounds: {:+.1f} µs median, "
                                   "{:+.1f} µs p99)".format(added, rounds_added or 0, added_p99 or 0)
                                   if pairs else
                                   "{:+.1f} µs median ({:+.1f} µs p99)".format(added, added_p99 or 0)),
        _status(None if added is None else added <= TARGET_ADDED_US)))
    w("| translated stream's first event within {:.0f} µs of pass-through's | {} | {} |".format(
        TARGET_TTFE_US,
        "–" if ttfe is None else "{:+.1f} µs{} (whole stream {:+.1f} µs)".format(
            ttfe, ", turn by turn" if s_pairs else "", last or 0),
        _status(None if ttfe is None else ttfe <= TARGET_TTFE_US)))
    if lit_added is None or added is None:
        peer, ok = "LiteLLM not measured", None
    elif added <= 0:
        peer, ok = "LiteLLM adds {:,.0f} µs; aigw {:+.1f} µs (≤ 0)".format(lit_added, added), True
    else:
        x = lit_added / added
        peer, ok = "LiteLLM adds {:,.0f} µs = {:,.0f}× aigw's {:.1f} µs".format(lit_added, x, added), \
            x >= TARGET_PEER_X
    w("| ≥ {:.0f}× less added latency than LiteLLM's translation | {} | {} |".format(
        TARGET_PEER_X, peer, _status(ok)))
    w("")
    w("Run alone: `make bench-translate` (or `bench/run.sh translate` once `make bench-clients` has built the client).")
    w("")
    return out


if __name__ == "__main__":
    sys.path.insert(0, __import__("os").path.dirname(__file__))
    from report import parse  # noqa: E402
    m, data = parse(sys.argv[1])
    print("\n".join(section(m, data)))
