/*
 * curl_client: the floor. Plain libcurl, one easy handle per thread, reused
 * (so its connection is kept alive), POSTing the chat request.
 *
 *   curl_client --url URL [--header "Name: value"]... [--tool NAME] [--mode latency|stream|mem]
 *               [--case LABEL] [--threads N] [--duration S] [--warmup N]
 *               [--max N] [--iterations N] [--events N] [--requests N]
 *               [--checkpoint N]
 *   curl_client --turn TOOL=URL --turn TOOL=URL... [--duration S] [--warmup N] [--max N]
 *
 * latency: RESULT lines (bench_common.h). stream: POSTs to URL, splits the
 * text/event-stream body into lines with memchr and counts an event at each
 * blank line that ends an event with data (the least a client must do),
 * timing the first and last event. mem: VmHWM after --checkpoint and after
 * --requests requests on one thread.
 *
 * --turn (latency, one connection each): a request to every URL per turn,
 * the order rotating from turn to turn, so all of them meet the same moment
 * of a shared machine. A RESULT line for each TOOL, then a TURN line for
 * each but the first, with the median and quartiles of its per-turn
 * difference from the first (`added_*`).
 *
 * The same binary drives Portkey: --url http://127.0.0.1:PORT/v1/chat/completions
 * --header "x-portkey-provider: openai" --header "x-portkey-custom-host: ...".
 */
#define _GNU_SOURCE
#include "bench_common.h"

#include <curl/curl.h>

#define MAX_HEADERS 16

static const char *g_url;
static const char *g_tool = "curl"; /* the tool= field: "portkey" when driving Portkey */
static const char *g_headers[MAX_HEADERS];
static int g_nheaders;

#define MAX_TURNS 8
static const char *g_turn_tool[MAX_TURNS], *g_turn_url[MAX_TURNS];
static int g_nturns;

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_append(struct buf *b, const char *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q)
            die("out of memory");
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* The body is collected, as any client that uses the response must. */
static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    buf_append(ud, p, size * nmemb);
    return size * nmemb;
}

struct state {
    CURL *h;
    struct curl_slist *hdrs;
    struct buf body;
    char errbuf[CURL_ERROR_SIZE];
    /* streaming */
    struct buf line; /* a partial line carried over between writes */
    int has_data;
    struct stream_timing t;
};

static struct state *state_new(const char *url, const char *post_body)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s)
        die("out of memory");
    s->h = curl_easy_init();
    if (!s->h)
        die("curl_easy_init failed");
    s->hdrs = curl_slist_append(s->hdrs, "Content-Type: application/json");
    s->hdrs = curl_slist_append(s->hdrs, "Authorization: Bearer " BENCH_API_KEY);
    s->hdrs = curl_slist_append(s->hdrs, "Expect:");
    for (int i = 0; i < g_nheaders; i++)
        s->hdrs = curl_slist_append(s->hdrs, g_headers[i]);
    curl_easy_setopt(s->h, CURLOPT_URL, url);
    curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->hdrs);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, post_body);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE, (long)strlen(post_body));
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, &s->body);
    curl_easy_setopt(s->h, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->h, CURLOPT_TCP_NODELAY, 1L);
    return s;
}

static void state_free(struct state *s)
{
    curl_slist_free_all(s->hdrs);
    curl_easy_cleanup(s->h);
    free(s->body.p);
    free(s->line.p);
    free(s);
}

static int check(struct state *s, CURLcode rc)
{
    long code = 0;
    if (rc != CURLE_OK) {
        fprintf(stderr, "curl_client: %s: %s\n", curl_easy_strerror(rc), s->errbuf);
        return 1;
    }
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200 || s->body.len == 0) {
        fprintf(stderr, "curl_client: HTTP %ld, %zu body bytes: %.*s\n", code, s->body.len,
                (int)(s->body.len > 300 ? 300 : s->body.len), s->body.p ? s->body.p : "");
        return 1;
    }
    return 0;
}

static int one_request(void *arg)
{
    struct state *s = arg;
    s->body.len = 0;
    return check(s, curl_easy_perform(s->h));
}

/* ---- streaming: a minimal SSE line splitter -------------------------- */

static void sse_line(struct state *s, const char *p, size_t n)
{
    if (n && p[n - 1] == '\r')
        n--;
    if (n == 0) {
        if (s->has_data)
            stream_event_seen(&s->t);
        s->has_data = 0;
    } else if (n >= 5 && memcmp(p, "data:", 5) == 0) {
        s->has_data = 1;
    }
}

static size_t on_stream(char *p, size_t size, size_t nmemb, void *ud)
{
    struct state *s = ud;
    size_t n = size * nmemb, off = 0;
    s->t.bytes += n;
    s->body.len = 1; /* something arrived, for check() */
    while (off < n) {
        const char *nl = memchr(p + off, '\n', n - off);
        if (!nl) {
            buf_append(&s->line, p + off, n - off);
            break;
        }
        size_t len = (size_t)(nl - (p + off));
        if (s->line.len) {
            buf_append(&s->line, p + off, len);
            sse_line(s, s->line.p, s->line.len);
            s->line.len = 0;
        } else {
            sse_line(s, p + off, len);
        }
        off += len + 1;
    }
    return n;
}

static int run_stream(const struct opts *o)
{
    struct state *s = state_new(g_url, BENCH_STREAM_BODY);
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
    size_t n = (size_t)o->iterations;
    uint64_t *first = calloc(n, 8), *last = calloc(n, 8), *total = calloc(n, 8);
    if (!first || !last || !total)
        die("out of memory");
    for (long i = -o->warmup; i < (long)n; i++) {
        memset(&s->t, 0, sizeof s->t);
        s->line.len = 0;
        s->has_data = 0;
        s->body.len = 0;
        s->t.start = now_ns();
        CURLcode rc = curl_easy_perform(s->h);
        uint64_t end = now_ns();
        if (check(s, rc))
            return 1;
        if (s->t.events != o->expect_events) {
            fprintf(stderr, "curl_client: stream: %ld events, want %ld\n", s->t.events,
                    o->expect_events);
            return 1;
        }
        if (i >= 0) {
            first[i] = s->t.first - s->t.start;
            last[i] = s->t.last - s->t.start;
            total[i] = end - s->t.start;
        }
    }
    print_stream(g_tool, o, first, last, total, n, s->t.events, s->t.bytes);
    free(first);
    free(last);
    free(total);
    state_free(s);
    return 0;
}

/* ---- turn by turn ------------------------------------------------------ */

static int run_turns(const struct opts *o)
{
    int k = g_nturns;
    size_t cap = o->max_per_thread > 0 ? (size_t)o->max_per_thread : 1;
    struct state *s[MAX_TURNS];
    uint64_t *lat[MAX_TURNS], *diff[MAX_TURNS], t[MAX_TURNS];
    for (int c = 0; c < k; c++) {
        s[c] = state_new(g_turn_url[c], BENCH_CHAT_BODY);
        lat[c] = malloc(cap * sizeof(uint64_t));
        diff[c] = malloc(cap * sizeof(uint64_t));
        if (!lat[c] || !diff[c])
            die("out of memory");
    }
    for (long i = 0; i < o->warmup; i++)
        for (int c = 0; c < k; c++)
            if (one_request(s[c]))
                return 1;
    uint64_t budget = (uint64_t)(o->duration_s * 1e9), start = now_ns(), end = start;
    size_t n = 0;
    while (n < cap && end - start < budget) {
        for (int j = 0; j < k; j++) {
            int c = (int)((n + (size_t)j) % (size_t)k);
            uint64_t t0 = now_ns();
            if (one_request(s[c]))
                return 1;
            t[c] = now_ns() - t0;
        }
        for (int c = 0; c < k; c++) {
            lat[c][n] = t[c];
            diff[c][n] = turn_diff(t[c], t[0]);
        }
        n++;
        end = now_ns();
    }
    double wall_s = (double)(end - start) / 1e9;
    for (int c = 0; c < k; c++)
        print_result(g_turn_tool[c], o->label, 1, lat[c], n, wall_s);
    for (int c = 1; c < k; c++) {
        printf("TURN tool=%s base=%s case=%s n=%zu", g_turn_tool[c], g_turn_tool[0], o->label, n);
        print_turn_diffs("added", diff[c], n);
        printf("\n");
    }
    fflush(stdout);
    for (int c = 0; c < k; c++) {
        state_free(s[c]);
        free(lat[c]);
        free(diff[c]);
    }
    return n == 0;
}

/* ---- memory ------------------------------------------------------------ */

static int run_mem(const struct opts *o)
{
    struct state *s = state_new(g_url, BENCH_CHAT_BODY);
    for (long i = 1; i <= o->requests; i++) {
        if (one_request(s))
            return 1;
        if (i == o->checkpoint || i == o->requests) {
            long hwm, rss;
            read_rss(&hwm, &rss);
            printf("MEM tool=%s case=%s requests=%ld vmhwm_kib=%ld vmrss_kib=%ld\n", g_tool,
                   o->label, i, hwm, rss);
            fflush(stdout);
        }
    }
    state_free(s);
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    opts_defaults(&o);
    for (int i = 1; i < argc; i++) {
        if (opts_common(&o, argc, argv, &i))
            continue;
        if (!strcmp(argv[i], "--url") && i + 1 < argc)
            g_url = argv[++i];
        else if (!strcmp(argv[i], "--tool") && i + 1 < argc)
            g_tool = argv[++i];
        else if (!strcmp(argv[i], "--header") && i + 1 < argc && g_nheaders < MAX_HEADERS)
            g_headers[g_nheaders++] = argv[++i];
        else if (!strcmp(argv[i], "--turn") && i + 1 < argc && g_nturns < MAX_TURNS) {
            char *eq = strchr(argv[++i], '=');
            if (!eq || eq == argv[i])
                die("curl_client: --turn takes TOOL=URL");
            *eq = '\0';
            g_turn_tool[g_nturns] = argv[i];
            g_turn_url[g_nturns++] = eq + 1;
        }
        else
            die("curl_client: unknown or incomplete option %s (see the comment atop curl_client.c)",
                argv[i]);
    }
    if (!g_url && !g_nturns)
        die("curl_client: --url (or --turn) is required");
    if (g_nturns && (g_nturns < 2 || strcmp(o.mode, "latency") || o.threads != 1))
        die("curl_client: --turn takes two or more URLs, --mode latency and one thread");
    if (curl_global_init(CURL_GLOBAL_ALL))
        die("curl_global_init failed");
    int rc;
    if (g_nturns) {
        rc = run_turns(&o);
    } else if (!strcmp(o.mode, "latency")) {
        void **states = calloc((size_t)o.threads, sizeof *states);
        for (int i = 0; i < o.threads; i++)
            states[i] = state_new(g_url, BENCH_CHAT_BODY);
        rc = run_latency(g_tool, &o, one_request, states);
        for (int i = 0; i < o.threads; i++)
            state_free(states[i]);
        free(states);
    } else if (!strcmp(o.mode, "stream")) {
        rc = run_stream(&o);
    } else if (!strcmp(o.mode, "mem")) {
        rc = run_mem(&o);
    } else {
        die("curl_client: unknown mode %s", o.mode);
    }
    curl_global_cleanup();
    return rc;
}
