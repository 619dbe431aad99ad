/*
 * aigw_client: aigw through its public C API. One gateway shared by every
 * thread (as the library intends: one connection pool); one request object
 * per thread, built once and sent again and again.
 *
 *   aigw_client --base http://127.0.0.1:PORT/v1 [--dead http://127.0.0.1:CLOSED/v1]
 *               [--mode latency|stream|mem] [--case provider|universal|fallback]
 *               [--threads N] [--duration S] [--warmup N] [--max N]
 *               [--iterations N] [--events N] [--requests N] [--checkpoint N]
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

static int run_stream(const struct opts *o)
{
    int xl = !strcmp(g_case, "compat") || !strcmp(g_case, "messages");
    g_streaming = 1;
    struct state *s = state_new(xl ? g_case : "stream");
    aigw_stream_callbacks cb = {s, NULL, on_data, on_event};
    size_t n = (size_t)o->iterations;
    uint64_t *first = calloc(n, 8), *last = calloc(n, 8), *total = calloc(n, 8);
    if (!first || !last || !total)
        die("out of memory");
    for (long i = -o->warmup; i < (long)n; i++) {
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
        if (code != 200 || s->t.events != o->expect_events) {
            fprintf(stderr, "aigw_client: stream: HTTP %u, %ld events, want 200 and %ld\n", code,
                    s->t.events, o->expect_events);
            return 1;
        }
        if (i >= 0) {
            first[i] = s->t.first - s->t.start;
            last[i] = s->t.last - s->t.start;
            total[i] = end - s->t.start;
        }
    }
    print_stream("aigw", o, first, last, total, n, s->t.events, s->t.bytes);
    free(first);
    free(last);
    free(total);
    state_free(s);
    return 0;
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
    const char *base = NULL, *dead = "http://127.0.0.1:9/v1", *anthropic = NULL;
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
    if (!strcmp(o.mode, "latency")) {
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
