/*
 * aigw_client: aigw through its public C API. One gateway shared by every
 * thread (as the library intends: one connection pool); one request object
 * per thread, built once and sent again and again.
 *
 *   aigw_client --base http://127.0.0.1:PORT/v1 [--dead http://127.0.0.1:CLOSED/v1]
 *               [--mode latency|stream|mem] [--case provider|universal|fallback]
 *               [--threads N] [--duration S] [--warmup N] [--max N]
 *               [--iterations N] [--events N] [--requests N] [--checkpoint N]
 *               [--pair CASE [--pair-events N]]
 *
 * Cases (latency and mem):
 *   provider   POST custom-nginx/chat/completions (config base_url = --base)
 *   universal  POST "" with one step: custom-nginx chat/completions (served)
 *   fallback   POST "" with two steps: custom-dead (a refused port, --dead),
 *              then custom-nginx; the response must come from step 1
 * stream: aigw_send_stream of POST custom-nginx/stream, timing the first and
 * the last on_event.
 * Translation (bench/translate.sh; --anthropic URL is the anthropic
 * provider's base URL), latency and stream:
 *   compat     POST compat/chat/completions, model anthropic/..., translated
 *   messages   POST anthropic/v1/messages, the same request passed through
 * --pair CASE (latency, one thread): requests of --case and of CASE take
 * turns, one each, so both see the same moment of a shared machine; prints
 * a RESULT line for each and a PAIR line with the median and p99 of the
 * per-turn differences (--case minus CASE). With --mode stream (the
 * translation cases), streams take turns the same way and the PAIR line
 * holds the differences of their first events; --pair-events N is CASE's
 * event count (--events is --case's).
 */
#define _GNU_SOURCE
#include "bench_common.h"

#include "aigw.h"

static aigw_gateway *g_gw;
static const char *g_case = "provider";

#define STEP(provider)                                                          \
    "{\"provider\":\"" provider "\",\"endpoint\":\"chat/completions\","         \
    "\"authorization\":\"Bearer " BENCH_API_KEY "\",\"query\":" BENCH_CHAT_BODY "}"

static const char UNIVERSAL_BODY[] = "[" STEP("custom-nginx") "]";
static const char FALLBACK_BODY[] = "[" STEP("custom-dead") "," STEP("custom-nginx") "]";

/* The translation cases' request, ~1 KB in either format (LiteLLM's driver
 * sends the same messages). */
#define FOX "The quick brown fox jumps over the lazy dog. "
#define FOX5 FOX FOX FOX FOX FOX
#define XL_TEXT FOX5 FOX5 FOX5 FOX5
#define XL_SYSTEM "You are a helpful assistant."
#define XL_TAIL(stream) ",\"max_tokens\":256" stream "}"
#define XL_COMPAT(stream)                                                       \
    "{\"model\":\"anthropic/claude-3-5-haiku-20241022\",\"messages\":["         \
    "{\"role\":\"system\",\"content\":\"" XL_SYSTEM "\"},"                      \
    "{\"role\":\"user\",\"content\":\"" XL_TEXT "\"}]" XL_TAIL(stream)
#define XL_MESSAGES(stream)                                                     \
    "{\"model\":\"claude-3-5-haiku-20241022\",\"system\":\"" XL_SYSTEM "\","      \
    "\"messages\":[{\"role\":\"user\",\"content\":\"" XL_TEXT "\"}]" XL_TAIL(stream)
#define XL_STREAM ",\"stream\":true,\"stream_options\":{\"include_usage\":true}"
static int g_streaming;

static void fail(const char *what, aigw_status st, aigw_error *err)
{
    fprintf(stderr, "aigw_client: %s: %s (%d): %s\n", what, aigw_status_str((int)st), (int)st,
            err ? aigw_error_message(err) : "");
    aigw_error_free(err);
}

static void must(aigw_status st, const char *what)
{
    if (st != AIGW_OK)
        die("aigw_client: %s: %s", what, aigw_status_str((int)st));
}

struct state {
    aigw_request *req;
    int32_t want_step;
    const char *want_body; /* the answer must hold this (the translated format's marker) */
    struct stream_timing t;
};

static struct state *state_new(const char *which)
{
    struct state *s = calloc(1, sizeof *s);
    const char *body;
    if (!s)
        die("out of memory");
    if (!strcmp(which, "provider") || !strcmp(which, "stream")) {
        int stream = !strcmp(which, "stream");
        must(aigw_request_new("POST", stream ? "custom-nginx/stream" : "custom-nginx/chat/completions",
                              &s->req),
             "aigw_request_new");
        must(aigw_request_set_header(s->req, "Authorization", "Bearer " BENCH_API_KEY), "header");
        body = stream ? BENCH_STREAM_BODY : BENCH_CHAT_BODY;
    } else if (!strcmp(which, "compat")) {
        must(aigw_request_new("POST", "compat/chat/completions", &s->req), "aigw_request_new");
        must(aigw_request_set_header(s->req, "Authorization", "Bearer " BENCH_API_KEY), "header");
        body = g_streaming ? XL_COMPAT(XL_STREAM) : XL_COMPAT("");
        s->want_body = "\"object\":\"chat.completion\"";
    } else if (!strcmp(which, "messages")) {
        must(aigw_request_new("POST", "anthropic/v1/messages", &s->req), "aigw_request_new");
        must(aigw_request_set_header(s->req, "x-api-key", BENCH_API_KEY), "header");
        must(aigw_request_set_header(s->req, "anthropic-version", "2023-06-01"), "header");
        body = g_streaming ? XL_MESSAGES(",\"stream\":true") : XL_MESSAGES("");
        s->want_body = "\"type\":\"message\"";
    } else if (!strcmp(which, "universal") || !strcmp(which, "fallback")) {
        int fb = !strcmp(which, "fallback");
        must(aigw_request_new("POST", "", &s->req), "aigw_request_new");
        body = fb ? FALLBACK_BODY : UNIVERSAL_BODY;
        s->want_step = fb ? 1 : 0;
    } else {
        die("aigw_client: unknown case %s", which);
    }
    must(aigw_request_set_header(s->req, "Content-Type", "application/json"), "header");
    must(aigw_request_set_body(s->req, (const uint8_t *)body, strlen(body)), "set_body");
    return s;
}

static void state_free(struct state *s)
{
    aigw_request_free(s->req);
    free(s);
}

static int one_request(void *arg)
{
    struct state *s = arg;
    aigw_response *resp = NULL;
    aigw_error *err = NULL;
    aigw_status st = aigw_send(g_gw, s->req, &resp, &err);
    if (st != AIGW_OK) {
        fail("aigw_send", st, err);
        return 1;
    }
    size_t len = 0;
    const uint8_t *body = aigw_response_body(resp, &len);
    uint16_t code = aigw_response_status(resp);
    int32_t step = aigw_response_step(resp);
    int bad = code != 200 || len == 0 || step != s->want_step ||
              (s->want_body && !memmem(body, len, s->want_body, strlen(s->want_body)));
    if (bad)
        fprintf(stderr, "aigw_client: HTTP %u from step %d (want 200 from step %d): %.*s\n", code,
                step, s->want_step, (int)(len > 300 ? 300 : len), (const char *)body);
    aigw_response_free(resp);
    return bad;
}

/* ---- streaming ----------------------------------------------------------- */

static int on_data(void *ud, const uint8_t *data, size_t len)
{
    (void)data;
    ((struct state *)ud)->t.bytes += len;
    return 0;
}

static int on_event(void *ud, const aigw_sse_event *ev)
{
    (void)ev;
    stream_event_seen(&((struct state *)ud)->t);
    return 0;
}

/* One stream of s: its first and last event and its end, from the call. */
static int stream_once(struct state *s, long expect_events, uint64_t *first, uint64_t *last,
                       uint64_t *total)
{
    aigw_stream_callbacks cb = {s, NULL, on_data, on_event};
    aigw_response *head = NULL;
    aigw_error *err = NULL;
    memset(&s->t, 0, sizeof s->t);
    s->t.start = now_ns();
    aigw_status st = aigw_send_stream(g_gw, s->req, &cb, &head, &err);
    uint64_t end = now_ns();
    if (st != AIGW_OK) {
        fail("aigw_send_stream", st, err);
        return 1;
    }
    uint16_t code = aigw_response_status(head);
    aigw_response_free(head);
    if (code != 200 || s->t.events != expect_events) {
        fprintf(stderr, "aigw_client: stream: HTTP %u, %ld events, want 200 and %ld\n", code,
                s->t.events, expect_events);
        return 1;
    }
    *first = s->t.first - s->t.start;
    *last = s->t.last - s->t.start;
    *total = end - s->t.start;
    return 0;
}

static int run_stream(const struct opts *o)
{
    int xl = !strcmp(g_case, "compat") || !strcmp(g_case, "messages");
    g_streaming = 1;
    struct state *s = state_new(xl ? g_case : "stream");
    size_t n = (size_t)o->iterations;
    uint64_t *first = calloc(n, 8), *last = calloc(n, 8), *total = calloc(n, 8);
    uint64_t f, l, t;
    if (!first || !last || !total)
        die("out of memory");
    for (long i = -o->warmup; i < (long)n; i++) {
        if (stream_once(s, o->expect_events, &f, &l, &t))
            return 1;
        if (i >= 0) {
            first[i] = f;
            last[i] = l;
            total[i] = t;
        }
    }
    print_stream("aigw", o, first, last, total, n, s->t.events, s->t.bytes);
    free(first);
    free(last);
    free(total);
    state_free(s);
    return 0;
}

/* ---- paired latency --------------------------------------------------- */

static int run_pair(const struct opts *o, const char *other)
{
    struct state *s[2] = {state_new(g_case), state_new(other)};
    size_t cap = o->max_per_thread > 0 ? (size_t)o->max_per_thread : 1;
    uint64_t *lat[2] = {malloc(cap * sizeof(uint64_t)), malloc(cap * sizeof(uint64_t))};
    uint64_t *diff = malloc(cap * sizeof(uint64_t));
    if (!lat[0] || !lat[1] || !diff)
        die("out of memory");
    for (long i = 0; i < o->warmup; i++)
        if (one_request(s[0]) || one_request(s[1]))
            return 1;
    uint64_t budget = (uint64_t)(o->duration_s * 1e9), start = now_ns(), end = start;
    size_t n = 0;
    while (n < cap && end - start < budget) {
        uint64_t t[2];
        /* Which case goes first alternates too: neither always follows the other. */
        for (int k = 0; k < 2; k++) {
            int c = (int)((n + (size_t)k) & 1);
            uint64_t t0 = now_ns();
            if (one_request(s[c]))
                return 1;
            t[c] = now_ns() - t0;
        }
        lat[0][n] = t[0];
        lat[1][n] = t[1];
        diff[n] = turn_diff(t[0], t[1]);
        n++;
        end = now_ns();
    }
    double wall_s = (double)(end - start) / 1e9;
    print_result("aigw", g_case, 1, lat[0], n, wall_s);
    print_result("aigw", other, 1, lat[1], n, wall_s);
    printf("PAIR tool=aigw case=%s base=%s n=%zu", g_case, other, n);
    print_turn_diffs("added", diff, n);
    printf("\n");
    fflush(stdout);
    for (int k = 0; k < 2; k++) {
        state_free(s[k]);
        free(lat[k]);
    }
    free(diff);
    return n == 0;
}

/* Streams of --case and of CASE in turn (the same alternation as above). */
static int run_stream_pair(const struct opts *o, const char *other, long other_events)
{
    g_streaming = 1;
    struct state *s[2] = {state_new(g_case), state_new(other)};
    long want[2] = {o->expect_events, other_events};
    size_t n = (size_t)o->iterations;
    uint64_t *v[2][3], *diff = calloc(n ? n : 1, 8);
    for (int c = 0; c < 2; c++)
        for (int k = 0; k < 3; k++)
            if (!(v[c][k] = calloc(n ? n : 1, 8)))
                die("out of memory");
    if (!diff)
        die("out of memory");
    uint64_t f, l, t;
    for (long i = -o->warmup; i < (long)n; i++) {
        for (int k = 0; k < 2; k++) {
            int c = (int)((i + k) & 1);
            if (stream_once(s[c], want[c], &f, &l, &t))
                return 1;
            if (i >= 0) {
                v[c][0][i] = f;
                v[c][1][i] = l;
                v[c][2][i] = t;
            }
        }
        if (i >= 0)
            diff[i] = turn_diff(v[0][0][i], v[1][0][i]);
    }
    struct opts shown = *o;
    for (int c = 0; c < 2; c++) {
        shown.label = c ? other : g_case;
        print_stream("aigw", &shown, v[c][0], v[c][1], v[c][2], n, s[c]->t.events, s[c]->t.bytes);
    }
    printf("PAIR tool=aigw case=%s base=%s mode=stream n=%zu", g_case, other, n);
    print_turn_diffs("added_first", diff, n);
    printf("\n");
    fflush(stdout);
    for (int c = 0; c < 2; c++) {
        state_free(s[c]);
        for (int k = 0; k < 3; k++)
            free(v[c][k]);
    }
    free(diff);
    return n == 0;
}

/* ---- memory ---------------------------------------------------------- */

static int run_mem(const struct opts *o)
{
    struct state *s = state_new(g_case);
    for (long i = 1; i <= o->requests; i++) {
        if (one_request(s))
            return 1;
        if (i == o->checkpoint || i == o->requests) {
            long hwm, rss;
            read_rss(&hwm, &rss);
            printf("MEM tool=aigw case=%s requests=%ld vmhwm_kib=%ld vmrss_kib=%ld\n", g_case, i,
                   hwm, rss);
            fflush(stdout);
        }
    }
    state_free(s);
    return 0;
}

static int json_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\')
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    struct opts o;
    const char *base = NULL, *dead = "http://127.0.0.1:9/v1", *anthropic = NULL, *pair = NULL;
    long pair_events = -1;
    opts_defaults(&o);
    o.label = NULL;
    for (int i = 1; i < argc; i++) {
        if (opts_common(&o, argc, argv, &i))
            continue;
        if (!strcmp(argv[i], "--base") && i + 1 < argc)
            base = argv[++i];
        else if (!strcmp(argv[i], "--dead") && i + 1 < argc)
            dead = argv[++i];
        else if (!strcmp(argv[i], "--anthropic") && i + 1 < argc)
            anthropic = argv[++i];
        else if (!strcmp(argv[i], "--pair") && i + 1 < argc)
            pair = argv[++i];
        else if (!strcmp(argv[i], "--pair-events") && i + 1 < argc)
            pair_events = atol(argv[++i]);
        else
            die("aigw_client: unknown or incomplete option %s (see the comment atop aigw_client.c)",
                argv[i]);
    }
    if (o.label)
        g_case = o.label;
    o.label = g_case;
    if (!base || !json_safe(base) || !json_safe(dead) || (anthropic && !json_safe(anthropic)))
        die("aigw_client: --base URL is required (and URLs must not hold quotes)");

    char config[2048];
    snprintf(config, sizeof config,
             "{\"providers\":{\"custom-nginx\":{\"base_url\":\"%s\"},"
             "\"custom-dead\":{\"base_url\":\"%s\"}%s%s%s}}",
             base, dead, anthropic ? ",\"anthropic\":{\"base_url\":\"" : "",
             anthropic ? anthropic : "", anthropic ? "\"}" : "");
    aigw_error *err = NULL;
    aigw_status st = aigw_gateway_new(config, &g_gw, &err);
    if (st != AIGW_OK) {
        fail("aigw_gateway_new", st, err);
        return 1;
    }
    int rc;
    if (pair && !strcmp(o.mode, "stream")) {
        if (strcmp(g_case, "compat") && strcmp(g_case, "messages"))
            die("aigw_client: paired streams are the translation cases (compat, messages)");
        rc = run_stream_pair(&o, pair, pair_events >= 0 ? pair_events : o.expect_events);
    } else if (pair) {
        if (strcmp(o.mode, "latency") || o.threads != 1)
            die("aigw_client: --pair takes --mode latency or stream, and one thread");
        rc = run_pair(&o, pair);
    } else if (!strcmp(o.mode, "latency")) {
        void **states = calloc((size_t)o.threads, sizeof *states);
        for (int i = 0; i < o.threads; i++)
            states[i] = state_new(g_case);
        rc = run_latency("aigw", &o, one_request, states);
        for (int i = 0; i < o.threads; i++)
            state_free(states[i]);
        free(states);
    } else if (!strcmp(o.mode, "stream")) {
        if (strcmp(g_case, "compat") && strcmp(g_case, "messages"))
            o.label = "stream";
        rc = run_stream(&o);
    } else if (!strcmp(o.mode, "mem")) {
        rc = run_mem(&o);
    } else {
        die("aigw_client: unknown mode %s", o.mode);
    }
    aigw_gateway_free(g_gw);
    return rc;
}
