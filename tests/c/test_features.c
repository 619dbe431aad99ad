/* Gateway features from C, against the mock (AIGW_MOCK_URL): the response
 * cache, the rate limit, log records (aigw_gateway_logs and the log
 * callback) and metrics. Mirrors tests/features.rs. */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define BODY "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
#define AUTH "Bearer sk-test-key"

/* A plain gateway (no cache, no rate limit) that only reads the mock's
 * counters, so those reads never touch the gateway under test. */
static aigw_gateway *g_stats;

static long mock_count(const char *key)
{
    return h_mock_key_count(g_stats, key);
}

static void sleep_ms(long ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* ---- a tiny JSON reader (enough to check records and metrics) --------- */

static const char *js_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Skips one JSON value starting at p; returns the first byte after it, or
 * NULL when it is malformed. */
static const char *js_skip(const char *p)
{
    p = js_ws(p);
    if (*p == '"') {
        for (p++; *p != '"'; p++) {
            if (*p == '\0')
                return NULL;
            if (*p == '\\' && *++p == '\0')
                return NULL;
        }
        return p + 1;
    }
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = js_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (close == '}') {
                if (*p != '"' || (p = js_skip(p)) == NULL)
                    return NULL;
                p = js_ws(p);
                if (*p != ':')
                    return NULL;
                p++;
            }
            if ((p = js_skip(p)) == NULL)
                return NULL;
            p = js_ws(p);
            if (*p == ',') {
                p = js_ws(p + 1);
                continue;
            }
            return *p == close ? p + 1 : NULL;
        }
    }
    if (*p == '\0' || strchr(",]}:", *p) != NULL)
        return NULL;
    while (*p != '\0' && strchr(",]}: \t\r\n", *p) == NULL)
        p++;
    return p;
}

/* The whole text is exactly one JSON value. */
static int js_valid(const char *s)
{
    const char *end = s ? js_skip(s) : NULL;
    return end != NULL && *js_ws(end) == '\0';
}

/* The value of member `key` of the object at obj, or NULL. */
static const char *js_get(const char *obj, const char *key)
{
    const char *p, *end;
    size_t klen = strlen(key);
    if (obj == NULL)
        return NULL;
    p = js_ws(obj);
    if (*p != '{')
        return NULL;
    p = js_ws(p + 1);
    while (*p == '"') {
        int match;
        if ((end = js_skip(p)) == NULL)
            return NULL;
        match = (size_t)(end - p - 2) == klen && strncmp(p + 1, key, klen) == 0;
        p = js_ws(end);
        if (*p != ':')
            return NULL;
        p = js_ws(p + 1);
        if (match)
            return p;
        if ((p = js_skip(p)) == NULL)
            return NULL;
        p = js_ws(p);
        if (*p != ',')
            return NULL;
        p = js_ws(p + 1);
    }
    return NULL;
}

/* Element i of the array at arr, or NULL. */
static const char *js_at(const char *arr, size_t i)
{
    const char *p;
    if (arr == NULL)
        return NULL;
    p = js_ws(arr);
    if (*p != '[')
        return NULL;
    p = js_ws(p + 1);
    if (*p == ']')
        return NULL;
    for (;;) {
        if (i-- == 0)
            return p;
        if ((p = js_skip(p)) == NULL)
            return NULL;
        p = js_ws(p);
        if (*p != ',')
            return NULL;
        p = js_ws(p + 1);
    }
}

/* Number of elements of the array at arr; -1 if it is not an array. */
static long js_len(const char *arr)
{
    const char *p;
    long n = 0;
    if (arr == NULL || *(p = js_ws(arr)) != '[' || js_skip(p) == NULL)
        return -1;
    while (js_at(p, (size_t)n) != NULL)
        n++;
    return n;
}

/* The string at v, unescaped into buf (\uXXXX above ASCII becomes '?'). */
static int js_str(const char *v, char *buf, size_t cap)
{
    size_t n = 0;
    if (v == NULL || *(v = js_ws(v)) != '"' || cap == 0)
        return 0;
    for (v++; *v != '"'; v++) {
        char c = *v;
        if (c == '\0')
            return 0;
        if (c == '\\') {
            v++;
            switch (*v) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                char hex[5] = {0};
                long u;
                if (strlen(v + 1) < 4)
                    return 0;
                memcpy(hex, v + 1, 4);
                u = strtol(hex, NULL, 16);
                c = u < 0x80 ? (char)u : '?';
                v += 4;
                break;
            }
            case '\0': return 0;
            default: c = *v; break;
            }
        }
        if (n + 1 < cap)
            buf[n++] = c;
    }
    buf[n] = '\0';
    return 1;
}

static int js_num(const char *v, double *out)
{
    char *end;
    double d;
    if (v == NULL)
        return 0;
    v = js_ws(v);
    if (!(*v == '-' || (*v >= '0' && *v <= '9')))
        return 0;
    d = strtod(v, &end);
    if (end == v)
        return 0;
    *out = d;
    return 1;
}

static int js_lit(const char *v, const char *lit)
{
    const char *end;
    if (v == NULL || (end = js_skip(v)) == NULL)
        return 0;
    v = js_ws(v);
    return (size_t)(end - v) == strlen(lit) && strncmp(v, lit, strlen(lit)) == 0;
}

/* Convenience: key's string equals want. */
static int js_str_is(const char *obj, const char *key, const char *want)
{
    char buf[4096];
    return js_str(js_get(obj, key), buf, sizeof buf) && strcmp(buf, want) == 0;
}

static double js_num_or(const char *obj, const char *key, double dflt)
{
    double d;
    return js_num(js_get(obj, key), &d) ? d : dflt;
}

/* ---- request helpers --------------------------------------------------- */

/* POST openai/chat/completions with `auth` (NULL: none), Content-Type, the
 * NULL-terminated header pairs in `extra` (may be NULL), and `body`. */
static aigw_request *chat(const char *auth, const char *const *extra, const char *body)
{
    aigw_request *req = h_request("POST", "openai/chat/completions", extra, body);
    if (req == NULL)
        return NULL;
    if (auth != NULL)
        CHECK_STATUS(aigw_request_set_header(req, "Authorization", auth), AIGW_OK);
    CHECK_STATUS(aigw_request_set_header(req, "Content-Type", "application/json"), AIGW_OK);
    return req;
}

/* Sends and returns the HTTP status (0 on failure), and copies the
 * response's cache status ("" when absent) and log id if asked. */
static unsigned send_chat(const aigw_gateway *gw, const char *auth, const char *const *extra,
                          const char *body, char *cache_status, char *log_id, char **body_out)
{
    aigw_request *req = chat(auth, extra, body);
    aigw_response *resp;
    unsigned status = 0;
    const char *h;
    if (cache_status)
        cache_status[0] = '\0';
    if (log_id)
        log_id[0] = '\0';
    if (body_out)
        *body_out = NULL;
    if (req == NULL)
        return 0;
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp == NULL)
        return 0;
    status = aigw_response_status(resp);
    if (cache_status && (h = aigw_response_header(resp, "cf-aig-cache-status")) != NULL)
        snprintf(cache_status, 16, "%s", h);
    if (log_id && (h = aigw_response_header(resp, "cf-aig-log-id")) != NULL)
        snprintf(log_id, 64, "%s", h);
    if (body_out)
        *body_out = h_body(resp);
    aigw_response_free(resp);
    return status;
}

/* aigw_gateway_logs, CHECKed; the caller frees with aigw_string_free. */
static char *get_logs(const aigw_gateway *gw, const char *filter)
{
    char *out = NULL;
    if (!CHECKF(aigw_gateway_logs(gw, filter, &out) == AIGW_OK && out != NULL,
                "aigw_gateway_logs(%s)", filter ? filter : "NULL"))
        return NULL;
    CHECKF(js_valid(out), "logs are not valid JSON: %.500s", out);
    return out;
}

static long count_logs(const aigw_gateway *gw, const char *filter)
{
    char *out = get_logs(gw, filter);
    long n = js_len(out);
    aigw_string_free(out);
    return n;
}

/* ---- cache ------------------------------------------------------------- */

static void test_cache_miss_hit_skip(void)
{
    char key[96], xmock[160], body[256], st1[16], st2[16], id1[64], id2[64];
    char *b1 = NULL, *b2 = NULL;
    const char *const hdr[] = {"x-mock", xmock, NULL};
    const char *const skip[] = {"x-mock", xmock, "cf-aig-skip-cache", "true", NULL};
    aigw_gateway *gw = h_gateway(",\"cache_ttl_s\":60");

    h_section("cache: MISS then HIT, one upstream call; skip-cache; another body");
    if (gw == NULL)
        return;
    h_unique_key(key, sizeof key, "cache-hit");
    snprintf(xmock, sizeof xmock, "key=%s", key);
    snprintf(body, sizeof body, "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
                                "\"content\":\"%s\"}]}", key);
    CHECK(send_chat(gw, AUTH, hdr, body, st1, id1, &b1) == 200);
    CHECKF(strcmp(st1, "MISS") == 0, "first: cf-aig-cache-status '%s'", st1);
    CHECK(send_chat(gw, AUTH, hdr, body, st2, id2, &b2) == 200);
    CHECKF(strcmp(st2, "HIT") == 0, "second: cf-aig-cache-status '%s'", st2);
    CHECK(b1 != NULL && b2 != NULL && strcmp(b1, b2) == 0);
    CHECKF(mock_count(key) == 1, "upstream calls %ld", mock_count(key));
    CHECK(id1[0] != '\0' && id2[0] != '\0' && strcmp(id1, id2) != 0);
    free(b1);
    free(b2);

    /* skip-cache: no cache status header, the upstream is called. */
    CHECK(send_chat(gw, AUTH, skip, body, st1, NULL, NULL) == 200);
    CHECKF(st1[0] == '\0', "skip-cache carried cf-aig-cache-status '%s'", st1);
    CHECKF(mock_count(key) == 2, "upstream calls %ld", mock_count(key));

    /* A different body is a different entry. */
    CHECK(send_chat(gw, AUTH, hdr, "{\"model\":\"gpt-4o-mini\",\"messages\":[]}", st1, NULL,
                    NULL) == 200);
    CHECKF(strcmp(st1, "MISS") == 0, "other body: '%s'", st1);
    CHECKF(mock_count(key) == 3, "upstream calls %ld", mock_count(key));
    aigw_gateway_free(gw);
}

static void test_cache_off_by_default(void)
{
    char key[96], xmock[160], st[16];
    const char *const hdr[] = {"x-mock", xmock, NULL};
    const char *const ttl[] = {"x-mock", xmock, "cf-aig-cache-ttl", "60", NULL};
    aigw_gateway *gw = h_gateway(NULL);

    h_section("cache: off by default; cf-aig-cache-ttl turns it on per request");
    if (gw == NULL)
        return;
    h_unique_key(key, sizeof key, "cache-off");
    snprintf(xmock, sizeof xmock, "key=%s", key);
    CHECK(send_chat(gw, AUTH, hdr, BODY, st, NULL, NULL) == 200);
    CHECKF(st[0] == '\0', "cache off, yet cf-aig-cache-status '%s'", st);
    CHECK(send_chat(gw, AUTH, hdr, BODY, st, NULL, NULL) == 200);
    CHECK(st[0] == '\0');
    CHECK(mock_count(key) == 2);
    CHECK(send_chat(gw, AUTH, ttl, BODY, st, NULL, NULL) == 200);
    CHECKF(strcmp(st, "MISS") == 0, "'%s'", st);
    CHECK(send_chat(gw, AUTH, ttl, BODY, st, NULL, NULL) == 200);
    CHECKF(strcmp(st, "HIT") == 0, "'%s'", st);
    CHECKF(mock_count(key) == 3, "upstream calls %ld", mock_count(key));
    aigw_gateway_free(gw);
}

static void test_cache_custom_key_ttl_failures(void)
{
    char key[96], xmock[160], ckey[128], st[16];
    char *b1 = NULL, *b2 = NULL;
    const char *const custom[] = {"x-mock", xmock, "cf-aig-cache-key", ckey, NULL};
    const char *const shortttl[] = {"x-mock", xmock, "cf-aig-cache-ttl", "1", "cf-aig-cache-key", ckey,
                              NULL};
    char fxmock[160];
    const char *const failing[] = {"x-mock", fxmock, "cf-aig-cache-key", ckey, NULL};
    aigw_gateway *gw = h_gateway(NULL);

    h_section("cache: custom key shared by different bodies");
    if (gw == NULL)
        return;
    h_unique_key(key, sizeof key, "cache-custom");
    snprintf(xmock, sizeof xmock, "key=%s", key);
    snprintf(ckey, sizeof ckey, "greeting");
    CHECK(send_chat(gw, AUTH, custom, BODY, st, NULL, &b1) == 200);
    CHECKF(strcmp(st, "MISS") == 0, "'%s'", st);
    CHECK(send_chat(gw, AUTH, custom, "{\"model\":\"x\"}", st, NULL, &b2) == 200);
    CHECKF(strcmp(st, "HIT") == 0, "custom key with another body: '%s'", st);
    CHECK(b1 != NULL && b2 != NULL && strcmp(b1, b2) == 0);
    CHECKF(mock_count(key) == 1, "upstream calls %ld", mock_count(key));
    free(b1);
    free(b2);

    h_section("cache: a 1 s TTL expires");
    h_unique_key(key, sizeof key, "cache-ttl");
    snprintf(xmock, sizeof xmock, "key=%s", key);
    snprintf(ckey, sizeof ckey, "short");
    CHECK(send_chat(gw, AUTH, shortttl, BODY, st, NULL, NULL) == 200);
    CHECKF(strcmp(st, "MISS") == 0, "'%s'", st);
    CHECK(send_chat(gw, AUTH, shortttl, BODY, st, NULL, NULL) == 200);
    CHECKF(strcmp(st, "HIT") == 0, "within the TTL: '%s'", st);
    sleep_ms(1150);
    CHECK(send_chat(gw, AUTH, shortttl, BODY, st, NULL, NULL) == 200);
    CHECKF(strcmp(st, "MISS") == 0, "after the TTL: '%s'", st);
    CHECKF(mock_count(key) == 2, "upstream calls %ld", mock_count(key));

    h_section("cache: non-2xx answers are not stored");
    h_unique_key(key, sizeof key, "cache-fail");
    snprintf(fxmock, sizeof fxmock, "status=500,key=%s", key);
    snprintf(ckey, sizeof ckey, "fails");
    CHECK(send_chat(gw, AUTH, failing, BODY, st, NULL, NULL) == 500);
    CHECKF(strcmp(st, "MISS") == 0, "'%s'", st);
    CHECK(send_chat(gw, AUTH, failing, BODY, st, NULL, NULL) == 500);
    CHECKF(strcmp(st, "MISS") == 0, "a 500 was served from the cache: '%s'", st);
    CHECKF(mock_count(key) == 2, "upstream calls %ld", mock_count(key));
    aigw_gateway_free(gw);
}

static void test_cache_auth_isolation(void)
{
    char key[96], xmock[160], st[16];
    char *ba = NULL, *bb = NULL;
    const char *const hdr[] = {"x-mock", xmock, NULL};
    aigw_gateway *gw = h_gateway(",\"cache_ttl_s\":60");

    h_section("cache: two Authorization values never share an entry");
    if (gw == NULL)
        return;
    h_unique_key(key, sizeof key, "cache-auth");
    snprintf(xmock, sizeof xmock, "key=%s", key);
    CHECK(send_chat(gw, "Bearer sk-key-A", hdr, BODY, st, NULL, NULL) == 200);
    CHECKF(strcmp(st, "MISS") == 0, "A: '%s'", st);
    CHECK(send_chat(gw, "Bearer sk-key-B", hdr, BODY, st, NULL, NULL) == 200);
    CHECKF(strcmp(st, "MISS") == 0, "B after A shared A's entry: '%s'", st);
    CHECKF(mock_count(key) == 2, "upstream calls %ld", mock_count(key));
    CHECK(send_chat(gw, "Bearer sk-key-A", hdr, BODY, st, NULL, &ba) == 200);
    CHECKF(strcmp(st, "HIT") == 0, "A again: '%s'", st);
    CHECK(send_chat(gw, "Bearer sk-key-B", hdr, BODY, st, NULL, &bb) == 200);
    CHECKF(strcmp(st, "HIT") == 0, "B again: '%s'", st);
    /* No credential at all is a third identity. */
    CHECK(send_chat(gw, NULL, hdr, BODY, st, NULL, NULL) == 200);
    CHECKF(strcmp(st, "MISS") == 0, "no auth: '%s'", st);
    CHECKF(mock_count(key) == 3, "upstream calls %ld", mock_count(key));
    free(ba);
    free(bb);
    aigw_gateway_free(gw);
}

static void test_cache_eviction(void)
{
    char key[96], xmock[160], ckey[64], st[16];
    const char *const big[] = {"x-mock", xmock, "cf-aig-cache-key", ckey, NULL};
    const char *const small[] = {"cf-aig-cache-key", ckey, NULL};
    aigw_gateway *gw = h_gateway(",\"cache_ttl_s\":60,\"cache_max_bytes\":300000");
    int i, hits = 0;

    h_section("cache: the byte bound evicts (6 x 100 KB into 300 KB)");
    if (gw == NULL)
        return;
    h_unique_key(key, sizeof key, "cache-evict");
    snprintf(xmock, sizeof xmock, "body_size=100000,key=%s", key);
    for (i = 0; i < 6; i++) {
        snprintf(ckey, sizeof ckey, "big%d", i);
        CHECK(send_chat(gw, AUTH, big, BODY, st, NULL, NULL) == 200);
        CHECKF(strcmp(st, "MISS") == 0, "big%d: '%s'", i, st);
    }
    CHECK(mock_count(key) == 6);
    for (i = 0; i < 6; i++) {
        snprintf(ckey, sizeof ckey, "big%d", i);
        CHECK(send_chat(gw, AUTH, big, BODY, st, NULL, NULL) == 200);
        hits += strcmp(st, "HIT") == 0;
    }
    CHECKF(hits >= 1 && hits <= 2, "%d hits: more than 300 KB stayed cached, or none", hits);
    CHECKF(mock_count(key) == 12 - hits, "upstream calls %ld, hits %d", mock_count(key), hits);
    aigw_gateway_free(gw);

    h_section("cache: the entry bound (5 entries into 2)");
    gw = h_gateway(",\"cache_ttl_s\":60,\"cache_max_entries\":2");
    if (gw == NULL)
        return;
    for (i = 0; i < 5; i++) {
        snprintf(ckey, sizeof ckey, "n%d", i);
        CHECK(send_chat(gw, AUTH, small, BODY, st, NULL, NULL) == 200);
    }
    hits = 0;
    for (i = 0; i < 5; i++) {
        snprintf(ckey, sizeof ckey, "n%d", i);
        CHECK(send_chat(gw, AUTH, small, BODY, st, NULL, NULL) == 200);
        hits += strcmp(st, "HIT") == 0;
    }
    CHECKF(hits <= 2, "%d hits with cache_max_entries 2", hits);
    aigw_gateway_free(gw);
}

/* A recorder for aigw_send_stream. */
struct srec {
    int heads;
    char head_status[16];
    char *bytes;
    size_t len, cap;
    char **events;
    size_t nev, evcap;
};

static int s_on_response(void *ud, const aigw_response *head)
{
    struct srec *r = ud;
    const char *h = aigw_response_header(head, "cf-aig-cache-status");
    r->heads++;
    snprintf(r->head_status, sizeof r->head_status, "%s", h ? h : "");
    return 0;
}

static int s_on_data(void *ud, const uint8_t *data, size_t len)
{
    struct srec *r = ud;
    if (r->len + len + 1 > r->cap) {
        r->cap = (r->len + len + 1) * 2;
        r->bytes = realloc(r->bytes, r->cap);
        if (r->bytes == NULL)
            abort();
    }
    memcpy(r->bytes + r->len, data, len);
    r->len += len;
    r->bytes[r->len] = '\0';
    return 0;
}

static int s_on_event(void *ud, const aigw_sse_event *ev)
{
    struct srec *r = ud;
    char *d;
    if (r->nev == r->evcap) {
        r->evcap = r->evcap ? r->evcap * 2 : 16;
        r->events = realloc(r->events, r->evcap * sizeof *r->events);
        if (r->events == NULL)
            abort();
    }
    d = malloc(ev->data_len + 1);
    if (d == NULL)
        abort();
    memcpy(d, ev->data, ev->data_len);
    d[ev->data_len] = '\0';
    r->events[r->nev++] = d;
    return 0;
}

static void srec_free(struct srec *r)
{
    size_t i;
    for (i = 0; i < r->nev; i++)
        free(r->events[i]);
    free(r->events);
    free(r->bytes);
    memset(r, 0, sizeof *r);
}

/* Streams; returns the head's cache status through `status` ("" if none). */
static int stream_once(const aigw_gateway *gw, const char *const *hdr, const char *body,
                       struct srec *r, char *status)
{
    aigw_stream_callbacks cb;
    aigw_response *head = NULL;
    aigw_error *err = NULL;
    aigw_request *req = chat(AUTH, hdr, body);
    aigw_status st;
    const char *h;
    status[0] = '\0';
    if (req == NULL)
        return 0;
    cb.userdata = r;
    cb.on_response = s_on_response;
    cb.on_data = s_on_data;
    cb.on_event = s_on_event;
    st = aigw_send_stream(gw, req, &cb, &head, &err);
    aigw_request_free(req);
    if (!CHECKF(st == AIGW_OK && head != NULL, "aigw_send_stream: %s: %s",
                aigw_status_str((int)st), aigw_error_message(err))) {
        aigw_error_free(err);
        return 0;
    }
    if ((h = aigw_response_header(head, "cf-aig-cache-status")) != NULL)
        snprintf(status, 16, "%s", h);
    aigw_response_free(head);
    return 1;
}

static void test_cache_stream_replay(void)
{
    static const char body[] =
        "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        "\"messages\":[]}";
    char key[96], xmock[160], st1[16], st2[16], st3[16];
    char *whole = NULL;
    const char *const hdr[] = {"x-mock", xmock, NULL};
    struct srec first, second;
    aigw_gateway *gw = h_gateway(",\"cache_ttl_s\":60");
    size_t i;

    h_section("cache: a stream is stored and replayed through the callbacks");
    if (gw == NULL)
        return;
    memset(&first, 0, sizeof first);
    memset(&second, 0, sizeof second);
    h_unique_key(key, sizeof key, "cache-stream");
    snprintf(xmock, sizeof xmock, "events=20,key=%s", key);
    CHECK(stream_once(gw, hdr, body, &first, st1));
    CHECKF(strcmp(st1, "MISS") == 0, "first stream: '%s'", st1);
    CHECKF(strcmp(first.head_status, "MISS") == 0, "on_response head: '%s'", first.head_status);
    CHECK(first.heads == 1);
    CHECKF(first.nev == 22, "%zu events (20 chunks, a usage chunk, [DONE])", first.nev);
    CHECK(stream_once(gw, hdr, body, &second, st2));
    CHECKF(strcmp(st2, "HIT") == 0, "second stream: '%s'", st2);
    CHECKF(strcmp(second.head_status, "HIT") == 0, "on_response head: '%s'",
           second.head_status);
    CHECKF(second.heads == 1, "on_response ran %d times on the replay", second.heads);
    CHECKF(mock_count(key) == 1, "upstream calls %ld", mock_count(key));
    CHECKF(second.len == first.len && first.len > 0 &&
               memcmp(first.bytes, second.bytes, first.len) == 0,
           "replayed bytes differ (%zu vs %zu)", second.len, first.len);
    CHECKF(second.nev == first.nev, "replayed %zu events, first had %zu", second.nev, first.nev);
    for (i = 0; i < first.nev && i < second.nev; i++)
        CHECKF(strcmp(first.events[i], second.events[i]) == 0, "event %zu: '%s' vs '%s'", i,
               first.events[i], second.events[i]);
    if (first.nev > 0)
        CHECK(strcmp(first.events[first.nev - 1], "[DONE]") == 0);

    /* A plain send of the same request gets the stored stream body. */
    CHECK(send_chat(gw, AUTH, hdr, body, st3, NULL, &whole) == 200);
    CHECKF(strcmp(st3, "HIT") == 0, "plain send after a stream: '%s'", st3);
    CHECK(whole != NULL && first.bytes != NULL && strcmp(whole, first.bytes) == 0);
    CHECK(mock_count(key) == 1);
    free(whole);
    srec_free(&first);
    srec_free(&second);
    aigw_gateway_free(gw);
}

struct coal {
    aigw_gateway *gw;
    pthread_barrier_t *barrier;
    const char *xmock;
    const char *body;
    unsigned status;
    char cache_status[16];
};

static void *coal_main(void *arg)
{
    struct coal *c = arg;
    const char *const hdr[] = {"x-mock", c->xmock, NULL};
    pthread_barrier_wait(c->barrier);
    c->status = send_chat(c->gw, AUTH, hdr, c->body, c->cache_status, NULL, NULL);
    return NULL;
}

static void test_cache_coalescing(void)
{
    enum { N = 8 };
    char key[96], xmock[160], body[256], fkey[96], fxmock[160];
    struct coal c[N];
    pthread_t t[N];
    pthread_barrier_t barrier;
    aigw_gateway *gw = h_gateway(",\"cache_ttl_s\":60");
    int i, misses = 0, hits = 0, ok = 1;

    h_section("cache: 8 identical concurrent misses make one upstream call");
    if (gw == NULL)
        return;
    h_unique_key(key, sizeof key, "coalesce");
    snprintf(xmock, sizeof xmock, "stall=300,key=%s", key);
    snprintf(body, sizeof body, "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
                                "\"content\":\"%s\"}]}", key);
    pthread_barrier_init(&barrier, NULL, N);
    for (i = 0; i < N; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].gw = gw;
        c[i].barrier = &barrier;
        c[i].xmock = xmock;
        c[i].body = body;
        if (pthread_create(&t[i], NULL, coal_main, &c[i]) != 0)
            abort();
    }
    for (i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        ok &= c[i].status == 200;
        misses += strcmp(c[i].cache_status, "MISS") == 0;
        hits += strcmp(c[i].cache_status, "HIT") == 0;
    }
    CHECK(ok);
    CHECKF(mock_count(key) == 1, "upstream calls %ld for 8 identical concurrent requests",
           mock_count(key));
    CHECKF(misses == 1 && hits == N - 1, "%d MISS, %d HIT", misses, hits);

    h_section("cache: a failed call is not shared with its waiters");
    h_unique_key(fkey, sizeof fkey, "nocoalesce");
    snprintf(fxmock, sizeof fxmock, "stall=100,status=503,key=%s", fkey);
    pthread_barrier_destroy(&barrier);
    pthread_barrier_init(&barrier, NULL, 4);
    for (i = 0; i < 4; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].gw = gw;
        c[i].barrier = &barrier;
        c[i].xmock = fxmock;
        c[i].body = "{\"model\":\"fails\"}";
        if (pthread_create(&t[i], NULL, coal_main, &c[i]) != 0)
            abort();
    }
    for (i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECKF(c[i].status == 503, "thread %d: status %u", i, c[i].status);
    }
    CHECKF(mock_count(fkey) == 4, "upstream calls %ld", mock_count(fkey));
    pthread_barrier_destroy(&barrier);
    aigw_gateway_free(gw);
}

/* ---- rate limit -------------------------------------------------------- */

/* Sends expecting AIGW_ERR_RATE_LIMITED; returns the "allowed in N ms"
 * figure (-1 if missing) and checks the refusal was immediate. */
static long send_limited(const aigw_gateway *gw, const char *const *hdr, const char *body,
                         const char *must_mention)
{
    aigw_request *req = chat(AUTH, hdr, body);
    aigw_error *err;
    const char *msg, *p;
    double t0;
    long wait = -1;
    if (req == NULL)
        return -1;
    t0 = h_now_ms();
    err = SEND_FAIL(gw, req, AIGW_ERR_RATE_LIMITED);
    CHECKF(h_now_ms() - t0 < 500.0, "refusal took %.0f ms", h_now_ms() - t0);
    aigw_request_free(req);
    msg = aigw_error_message(err);
    CHECK_CONTAINS(msg, "next request is allowed in");
    if (must_mention != NULL)
        CHECK_CONTAINS(msg, must_mention);
    if ((p = strstr(msg, "allowed in ")) != NULL) {
        p += strlen("allowed in ");
        if (*p >= '0' && *p <= '9') {
            wait = strtol(p, (char **)&p, 10);
            CHECKF(strncmp(p, " ms", 3) == 0, "unit after the wait in: %s", msg);
        }
    }
    CHECKF(wait >= 0, "no wait figure in: %s", msg);
    aigw_error_free(err);
    return wait;
}

static double realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Fixed windows are aligned to the clock: if the next edge of an
 * interval_s window is less than 3 s away, wait until just past it, so a
 * short burst stays within one window. */
static void avoid_window_edge(long interval_s)
{
    double now = realtime_ms(), period = (double)interval_s * 1000.0;
    double into = now - period * (double)(long long)(now / period);
    if (period - into < 3000.0)
        sleep_ms((long)(period - into) + 20);
}

static void test_rate_limit_basic(void)
{
    char key[96], xmock[160], st[16];
    const char *const hdr[] = {"x-mock", xmock, NULL};
    const char *techniques[] = {"fixed", "sliding"};
    int t, i;

    for (t = 0; t < 2; t++) {
        char extra[160], mention[64];
        aigw_gateway *gw;
        long wait;
        snprintf(extra, sizeof extra,
                 ",\"rate_limit\":{\"limit\":3,\"interval_s\":60,\"technique\":\"%s\"}",
                 techniques[t]);
        h_section(t == 0 ? "rate limit (fixed, 3 per 60 s): the 4th is refused at once"
                         : "rate limit (sliding, 3 per 60 s): the 4th is refused at once");
        gw = h_gateway(extra);
        if (gw == NULL)
            continue;
        h_unique_key(key, sizeof key, "rl-basic");
        snprintf(xmock, sizeof xmock, "key=%s", key);
        avoid_window_edge(60);
        for (i = 0; i < 3; i++)
            CHECK(send_chat(gw, AUTH, hdr, BODY, st, NULL, NULL) == 200);
        snprintf(mention, sizeof mention, "%s window", techniques[t]);
        wait = send_limited(gw, hdr, BODY, "3 requests per 60 s");
        CHECKF(wait >= 1 && wait <= 60000, "wait %ld ms", wait);
        /* Refused again, with the window named. */
        send_limited(gw, hdr, BODY, mention);
        CHECKF(mock_count(key) == 3, "upstream calls %ld: a refused request reached it",
               mock_count(key));
        aigw_gateway_free(gw);
    }
}

static void test_rate_limit_bad_config(void)
{
    const char *bad[] = {
        ",\"rate_limit\":{\"limit\":1,\"interval_s\":1,\"technique\":\"leaky\"}",
        ",\"rate_limit\":{\"limit\":\"many\",\"interval_s\":1}",
        ",\"cache_ttl_s\":\"soon\"",
        ",\"log_capacity\":-1",
        NULL,
    };
    int i;
    h_section("feature config: a bad value is AIGW_ERR_INVALID_CONFIG");
    for (i = 0; bad[i] != NULL; i++) {
        char config[4096];
        aigw_gateway *gw = SENTINEL;
        aigw_error *err = NULL;
        h_mock_config(config, sizeof config, bad[i]);
        CHECKF(aigw_gateway_new(config, &gw, &err) == AIGW_ERR_INVALID_CONFIG, "config %s",
               bad[i]);
        CHECK(gw == SENTINEL);
        CHECK_ERROR(err, AIGW_ERR_INVALID_CONFIG);
        aigw_error_free(err);
    }
}

static void test_rate_limit_window_edges(void)
{
    char key[96], xmock[160], st[16];
    const char *const hdr[] = {"x-mock", xmock, NULL};
    aigw_gateway *gw;
    long wait;
    double frac;

    h_section("rate limit (fixed, 2 per 1 s): a fresh count at the next whole second");
    gw = h_gateway(",\"rate_limit\":{\"limit\":2,\"interval_s\":1,\"technique\":\"fixed\"}");
    if (gw != NULL) {
        h_unique_key(key, sizeof key, "rl-fixed");
        snprintf(xmock, sizeof xmock, "key=%s", key);
        /* Start just after a whole second, so the burst fits one window. */
        frac = realtime_ms();
        frac -= 1000.0 * (double)(long long)(frac / 1000.0);
        sleep_ms(1000 - (long)frac + 20);
        CHECK(send_chat(gw, AUTH, hdr, BODY, st, NULL, NULL) == 200);
        CHECK(send_chat(gw, AUTH, hdr, BODY, st, NULL, NULL) == 200);
        wait = send_limited(gw, hdr, BODY, "fixed");
        CHECKF(wait >= 1 && wait <= 1000, "wait %ld ms: the window ends at the next second",
               wait);
        /* The wait is until the window's edge: then a fresh count. */
        sleep_ms(wait + 30);
        CHECK(send_chat(gw, AUTH, hdr, BODY, st, NULL, NULL) == 200);
        CHECK(send_chat(gw, AUTH, hdr, BODY, st, NULL, NULL) == 200);
        CHECKF(mock_count(key) == 4, "upstream calls %ld", mock_count(key));
        aigw_gateway_free(gw);
    }

    h_section("rate limit (sliding, 2 per 1 s): the oldest request leaves the window");
    gw = h_gateway(",\"rate_limit\":{\"limit\":2,\"interval_s\":1,\"technique\":\"sliding\"}");
    if (gw != NULL) {
        double t_a;
        h_unique_key(key, sizeof key, "rl-sliding");
        snprintf(xmock, sizeof xmock, "key=%s", key);
        t_a = h_now_ms();
        CHECK(send_chat(gw, AUTH, hdr, BODY, st, NULL, NULL) == 200); /* A */
        sleep_ms(500);
        CHECK(send_chat(gw, AUTH, hdr, BODY, st, NULL, NULL) == 200); /* B */
        wait = send_limited(gw, hdr, BODY, "sliding");
        /* A leaves 1 s after it was admitted: well under a full second from now. */
        CHECKF(wait >= 1 && wait <= 1000 - 400, "wait %ld ms (A admitted %.0f ms ago)", wait,
               h_now_ms() - t_a);
        sleep_ms(wait + 30);
        CHECK(send_chat(gw, AUTH, hdr, BODY, st, NULL, NULL) == 200); /* C replaces A */
        /* B is still in the window: full again. */
        wait = send_limited(gw, hdr, BODY, "sliding");
        CHECKF(wait >= 1 && wait < 1000, "wait %ld ms (until B leaves)", wait);
        CHECKF(mock_count(key) == 3, "upstream calls %ld", mock_count(key));
        aigw_gateway_free(gw);
    }
}

static void test_rate_limit_cache_hits_free(void)
{
    char key[96], xmock[160], st[16];
    const char *const hdr[] = {"x-mock", xmock, NULL};
    aigw_gateway *gw =
        h_gateway(",\"cache_ttl_s\":60,\"rate_limit\":{\"limit\":2,\"interval_s\":60}");
    int i, hits = 0;

    h_section("rate limit: cache hits are not counted");
    if (gw == NULL)
        return;
    h_unique_key(key, sizeof key, "rl-cache");
    snprintf(xmock, sizeof xmock, "key=%s", key);
    avoid_window_edge(60);
    for (i = 0; i < 10; i++) {
        CHECK(send_chat(gw, AUTH, hdr, BODY, st, NULL, NULL) == 200);
        hits += strcmp(st, "HIT") == 0;
    }
    CHECK(hits == 9);
    CHECK(send_chat(gw, AUTH, hdr, "{\"model\":\"other\"}", st, NULL, NULL) == 200);
    send_limited(gw, hdr, "{\"model\":\"third\"}", "2 requests per 60 s");
    /* Hits still served while the limit refuses new upstream calls. */
    CHECK(send_chat(gw, AUTH, hdr, BODY, st, NULL, NULL) == 200);
    CHECK(strcmp(st, "HIT") == 0);
    CHECKF(mock_count(key) == 2, "upstream calls %ld", mock_count(key));
    aigw_gateway_free(gw);
}

struct rl_thread {
    aigw_gateway *gw;
    pthread_barrier_t *barrier;
    const char *xmock;
    int admitted, refused, other;
};

static void *rl_main(void *arg)
{
    struct rl_thread *r = arg;
    int i;
    pthread_barrier_wait(r->barrier);
    for (i = 0; i < 10; i++) {
        aigw_request *req = chat(AUTH, NULL, BODY);
        aigw_response *resp = NULL;
        aigw_error *err = NULL;
        aigw_status st;
        if (req == NULL) {
            r->other++;
            continue;
        }
        aigw_request_set_header(req, "x-mock", r->xmock);
        st = aigw_send(r->gw, req, &resp, &err);
        if (st == AIGW_OK && aigw_response_status(resp) == 200)
            r->admitted++;
        else if (st == AIGW_ERR_RATE_LIMITED)
            r->refused++;
        else
            r->other++;
        aigw_response_free(resp);
        aigw_error_free(err);
        aigw_request_free(req);
    }
    return NULL;
}

static void test_rate_limit_threads(void)
{
    enum { N = 8 };
    const char *techniques[] = {"fixed", "sliding"};
    int t, i;

    for (t = 0; t < 2; t++) {
        char extra[160], key[96], xmock[160];
        struct rl_thread r[N];
        pthread_t th[N];
        pthread_barrier_t barrier;
        aigw_gateway *gw;
        int admitted = 0, refused = 0, other = 0;
        snprintf(extra, sizeof extra,
                 ",\"rate_limit\":{\"limit\":40,\"interval_s\":3600,\"technique\":\"%s\"}",
                 techniques[t]);
        h_section(t == 0 ? "rate limit (fixed): 8 threads x 10 -> exactly 40 admitted"
                         : "rate limit (sliding): 8 threads x 10 -> exactly 40 admitted");
        gw = h_gateway(extra);
        if (gw == NULL)
            continue;
        h_unique_key(key, sizeof key, "rl-threads");
        snprintf(xmock, sizeof xmock, "key=%s", key);
        pthread_barrier_init(&barrier, NULL, N);
        for (i = 0; i < N; i++) {
            memset(&r[i], 0, sizeof r[i]);
            r[i].gw = gw;
            r[i].barrier = &barrier;
            r[i].xmock = xmock;
            if (pthread_create(&th[i], NULL, rl_main, &r[i]) != 0)
                abort();
        }
        for (i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            admitted += r[i].admitted;
            refused += r[i].refused;
            other += r[i].other;
        }
        pthread_barrier_destroy(&barrier);
        /* A fixed window rolls over mid-test only at an hour boundary. */
        CHECKF(admitted == 40 || (t == 0 && admitted <= 80), "%s: %d admitted", techniques[t],
               admitted);
        CHECKF(refused == 80 - admitted && other == 0, "%d refused, %d other", refused, other);
        CHECKF(mock_count(key) == admitted, "upstream calls %ld, admitted %d", mock_count(key),
               admitted);
        aigw_gateway_free(gw);
    }
}

/* ---- logs -------------------------------------------------------------- */

static void test_log_record_fields(void)
{
    char evt[96], logid[64], *out, buf[256];
    const char *const hdr[] = {"cf-aig-metadata", "{\"user\":\"u1\",\"team\":7,\"beta\":true}",
                         "cf-aig-event-id", evt, NULL};
    const char *rec, *meta, *attempts, *ev;
    aigw_request *req;
    aigw_response *resp;
    aigw_gateway *gw = h_gateway(NULL);
    double tokens_in = (double)(strlen(BODY) / 4 + 1), cost, want, dur, ttfb;

    h_section("logs: a record per request: id = cf-aig-log-id, tokens, cost, metadata");
    if (gw == NULL)
        return;
    h_unique_key(evt, sizeof evt, "evt");
    req = chat(AUTH, hdr, BODY);
    resp = req ? SEND_OK(gw, req) : NULL;
    aigw_request_free(req);
    if (resp == NULL) {
        aigw_gateway_free(gw);
        return;
    }
    ev = aigw_response_header(resp, "cf-aig-event-id");
    CHECKF(ev != NULL && strcmp(ev, evt) == 0, "cf-aig-event-id echoed as '%s'",
           ev ? ev : "(none)");
    snprintf(logid, sizeof logid, "%s", aigw_response_header(resp, "cf-aig-log-id")
                                            ? aigw_response_header(resp, "cf-aig-log-id")
                                            : "");
    CHECKF(strlen(logid) == 26, "cf-aig-log-id '%s'", logid);
    aigw_response_free(resp);

    snprintf(buf, sizeof buf, "{\"event_id\":\"%s\"}", evt);
    out = get_logs(gw, buf);
    CHECKF(js_len(out) == 1, "%ld records for the event id: %.500s", js_len(out), out);
    rec = js_at(out, 0);
    CHECKF(js_str_is(rec, "id", logid), "record id vs header '%s': %.300s", logid, rec);
    CHECK(js_str_is(rec, "event_id", evt));
    CHECK(js_str_is(rec, "provider", "openai"));
    CHECK(js_str_is(rec, "model", "gpt-4o-mini"));
    CHECK(js_str_is(rec, "path", "openai/chat/completions"));
    CHECK(js_num_or(rec, "status_code", -1) == 200);
    CHECK(js_lit(js_get(rec, "success"), "true"));
    CHECK(js_lit(js_get(rec, "cached"), "false"));
    CHECK(js_num_or(rec, "step", -1) == 0);
    meta = js_get(rec, "metadata");
    CHECK(js_str_is(meta, "user", "u1"));
    CHECK(js_num_or(meta, "team", -1) == 7);
    CHECK(js_lit(js_get(meta, "beta"), "true"));
    CHECKF(js_num_or(rec, "tokens_in", -1) == tokens_in, "tokens_in %g, want %g",
           js_num_or(rec, "tokens_in", -1), tokens_in);
    CHECKF(js_num_or(rec, "tokens_out", -1) == 7, "tokens_out %g",
           js_num_or(rec, "tokens_out", -1));
    cost = js_num_or(rec, "cost", -1);
    want = tokens_in * 0.15e-6 + 7.0 * 0.60e-6;
    CHECKF(cost > 0 && (cost - want < 1e-12 && want - cost < 1e-12), "cost %.12g, want %.12g",
           cost, want);
    dur = js_num_or(rec, "duration_ms", -1);
    ttfb = js_num_or(rec, "ttfb_ms", -1);
    CHECKF(dur > 0 && ttfb >= 0 && ttfb <= dur, "duration_ms %g, ttfb_ms %g", dur, ttfb);
    attempts = js_get(rec, "attempts");
    CHECKF(js_len(attempts) == 1, "attempts: %.300s", attempts ? attempts : "(none)");
    CHECK(js_str(js_get(rec, "created_at"), buf, sizeof buf) && strlen(buf) > 0 &&
          buf[strlen(buf) - 1] == 'Z');
    CHECK(js_get(rec, "request_body") == NULL);
    CHECK_NOT_CONTAINS(out, "sk-test-key");
    aigw_string_free(out);
    aigw_gateway_free(gw);
}

static void test_log_filters(void)
{
    char last_id[64], st[16], *out;
    const char *const cc[] = {"cf-aig-custom-cost", "{\"total_cost\":1.5}", "cf-aig-event-id", "tc",
                        NULL};
    const char *const fail[] = {"x-mock", "status=404", "cf-aig-metadata", "{\"k\":\"v\"}", NULL};
    const char *const hidden[] = {"cf-aig-collect-log", "false", "cf-aig-event-id", "hidden", NULL};
    const char *bad_filters[] = {"{", "[]", "42", "{\"limit\":\"x\"}", "{\"limit\":-1}",
                                 "{\"success\":\"no\"}", "{\"provider\":1}",
                                 "{\"metadata\":[]}", "{\"bogus\":1}", "\xff\xfe", NULL};
    aigw_gateway *gw = h_gateway(NULL);
    const char *rec;
    int i;

    h_section("logs: filters (NULL, event_id, provider+limit, success, metadata, model)");
    if (gw == NULL)
        return;
    CHECK(count_logs(gw, NULL) == 0);
    CHECK(send_chat(gw, AUTH, cc, BODY, st, NULL, NULL) == 200);
    CHECK(send_chat(gw, AUTH, NULL, "{\"model\":\"my-model\"}", st, NULL, NULL) == 200);
    CHECK(send_chat(gw, AUTH, fail, BODY, st, last_id, NULL) == 404);

    CHECK(count_logs(gw, NULL) == 3);
    CHECK(count_logs(gw, "") == 3);
    CHECK(count_logs(gw, "{}") == 3);
    out = get_logs(gw, "{\"event_id\":\"tc\"}");
    CHECK(js_len(out) == 1);
    CHECKF(js_num_or(js_at(out, 0), "cost", -1) == 1.5, "custom total_cost: %.300s", out);
    aigw_string_free(out);

    out = get_logs(gw, "{\"provider\":\"openai\",\"limit\":1}");
    CHECK(js_len(out) == 1);
    CHECKF(js_str_is(js_at(out, 0), "id", last_id), "limit 1 keeps the newest (%s): %.300s",
           last_id, out);
    aigw_string_free(out);
    CHECK(count_logs(gw, "{\"provider\":\"openai\",\"limit\":2}") == 2);
    CHECK(count_logs(gw, "{\"provider\":\"anthropic\"}") == 0);
    CHECK(count_logs(gw, "{\"model\":\"my-model\"}") == 1);

    out = get_logs(gw, "{\"success\":false}");
    CHECK(js_len(out) == 1);
    rec = js_at(out, 0);
    CHECK(js_num_or(rec, "status_code", -1) == 404);
    CHECK(js_str_is(rec, "id", last_id));
    aigw_string_free(out);
    CHECK(count_logs(gw, "{\"success\":true}") == 2);
    CHECK(count_logs(gw, "{\"cached\":false}") == 3);
    CHECK(count_logs(gw, "{\"cached\":true}") == 0);
    CHECK(count_logs(gw, "{\"metadata\":{\"k\":\"v\"}}") == 1);
    CHECK(count_logs(gw, "{\"metadata\":{\"k\":\"w\"}}") == 0);
    CHECK(count_logs(gw, "{\"event_id\":\"nope\"}") == 0);

    /* Newest last: ids ascend. */
    out = get_logs(gw, NULL);
    {
        char a[64], b[64], c[64];
        CHECK(js_str(js_get(js_at(out, 0), "id"), a, sizeof a));
        CHECK(js_str(js_get(js_at(out, 1), "id"), b, sizeof b));
        CHECK(js_str(js_get(js_at(out, 2), "id"), c, sizeof c));
        CHECKF(strcmp(a, b) < 0 && strcmp(b, c) < 0 && strcmp(c, last_id) == 0,
               "ids not oldest first: %s %s %s", a, b, c);
    }
    aigw_string_free(out);

    h_section("logs: cf-aig-collect-log: false skips the record");
    CHECK(send_chat(gw, AUTH, hidden, BODY, st, NULL, NULL) == 200);
    CHECK(count_logs(gw, "{\"event_id\":\"hidden\"}") == 0);
    CHECK(count_logs(gw, NULL) == 3);

    h_section("logs: malformed filter -> AIGW_ERR_INVALID_ARGUMENT; NULLs; out untouched");
    for (i = 0; bad_filters[i] != NULL; i++) {
        char *o = SENTINEL;
        CHECKF(aigw_gateway_logs(gw, bad_filters[i], &o) == AIGW_ERR_INVALID_ARGUMENT,
               "filter %s", bad_filters[i]);
        CHECK(o == SENTINEL);
    }
    {
        char *o = SENTINEL;
        CHECK_STATUS(aigw_gateway_logs(NULL, NULL, &o), AIGW_ERR_NULL_ARGUMENT);
        CHECK(o == SENTINEL);
        CHECK_STATUS(aigw_gateway_logs(gw, NULL, NULL), AIGW_ERR_NULL_ARGUMENT);
        CHECK_STATUS(aigw_gateway_logs(gw, "{", NULL), AIGW_ERR_NULL_ARGUMENT);
    }
    aigw_gateway_free(gw);
}

static void test_log_metadata_validation(void)
{
    char key[96], xmock[160], st[16], *out;
    const char *bad[] = {
        "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6}",
        "{\"a\":{\"nested\":1}}",
        "{\"a\":[1,2]}",
        "{\"a\":null}",
        "[1]",
        "not json",
        NULL,
    };
    const char *const ok5[] = {"x-mock", xmock, "cf-aig-metadata",
                         "{\"a\":\"x\",\"b\":2,\"c\":true,\"d\":1.5,\"e\":\"y\"}", NULL};
    aigw_gateway *gw = h_gateway(NULL);
    int i;

    h_section("logs: cf-aig-metadata: 6 entries or a nested value -> AIGW_ERR_INVALID_REQUEST");
    if (gw == NULL)
        return;
    h_unique_key(key, sizeof key, "meta");
    snprintf(xmock, sizeof xmock, "key=%s", key);
    for (i = 0; bad[i] != NULL; i++) {
        const char *const hdr[] = {"x-mock", xmock, "cf-aig-metadata", bad[i], NULL};
        aigw_request *req = chat(AUTH, hdr, BODY);
        aigw_error *err;
        if (req == NULL)
            continue;
        err = SEND_FAIL(gw, req, AIGW_ERR_INVALID_REQUEST);
        CHECK_CONTAINS(aigw_error_message(err), "metadata");
        aigw_error_free(err);
        aigw_request_free(req);
    }
    CHECKF(mock_count(key) == -1 || mock_count(key) == 0,
           "an invalid request reached the upstream (%ld)", mock_count(key));
    CHECK(send_chat(gw, AUTH, ok5, BODY, st, NULL, NULL) == 200);
    CHECK(mock_count(key) == 1);
    out = get_logs(gw, "{\"metadata\":{\"c\":true,\"d\":1.5}}");
    CHECK(js_len(out) == 1);
    CHECK(js_str_is(js_get(js_at(out, 0), "metadata"), "e", "y"));
    aigw_string_free(out);
    aigw_gateway_free(gw);
}

static void test_log_payloads(void)
{
    static const char universal[] =
        "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
        "\"authorization\":\"Bearer sk-SECRET-U\",\"headers\":{\"api-key\":\"SECRET-K\"},"
        "\"query\":{\"model\":\"gpt-4o-mini\",\"messages\":[]}}]";
    const char *const nopay[] = {"cf-aig-collect-log-payload", "false", "cf-aig-event-id",
                           "nopayload", NULL};
    char st[16], buf[8192], *out;
    const char *rec;
    aigw_request *req;
    aigw_response *resp;
    aigw_gateway *gw = h_gateway(NULL);

    h_section("logs: no payloads unless log_payloads");
    if (gw == NULL)
        return;
    CHECK(send_chat(gw, AUTH, NULL, BODY, st, NULL, NULL) == 200);
    out = get_logs(gw, NULL);
    CHECK(js_len(out) == 1);
    CHECK(js_get(js_at(out, 0), "request_body") == NULL);
    CHECK(js_get(js_at(out, 0), "response_body") == NULL);
    aigw_string_free(out);
    aigw_gateway_free(gw);

    h_section("logs: log_payloads records bodies, never a credential");
    gw = h_gateway(",\"log_payloads\":true");
    if (gw == NULL)
        return;
    CHECK(send_chat(gw, "Bearer sk-SECRET-A", NULL, BODY, st, NULL, NULL) == 200);
    out = get_logs(gw, NULL);
    rec = js_at(out, 0);
    CHECKF(js_str(js_get(rec, "request_body"), buf, sizeof buf) && strcmp(buf, BODY) == 0,
           "request_body: %.300s", rec ? rec : "(none)");
    CHECK(js_str(js_get(rec, "response_body"), buf, sizeof buf) &&
          h_contains(buf, "chat.completion"));
    aigw_string_free(out);

    req = h_request("POST", "", NULL, universal);
    resp = req ? SEND_OK(gw, req) : NULL;
    CHECK(resp != NULL && aigw_response_status(resp) == 200);
    aigw_response_free(resp);
    aigw_request_free(req);
    out = get_logs(gw, NULL);
    CHECK(js_len(out) == 2);
    CHECK(js_get(js_at(out, 1), "request_body") != NULL);
    CHECK_NOT_CONTAINS(out, "SECRET");
    aigw_string_free(out);

    CHECK(send_chat(gw, AUTH, nopay, BODY, st, NULL, NULL) == 200);
    out = get_logs(gw, "{\"event_id\":\"nopayload\"}");
    CHECK(js_len(out) == 1);
    CHECK(js_get(js_at(out, 0), "request_body") == NULL);
    aigw_string_free(out);
    aigw_gateway_free(gw);
}

static void test_log_cached_record(void)
{
    char st[16], *out;
    const char *rec;
    aigw_gateway *gw = h_gateway(",\"cache_ttl_s\":60");

    h_section("logs: a cache hit is recorded as cached, at no cost");
    if (gw == NULL)
        return;
    CHECK(send_chat(gw, AUTH, NULL, BODY, st, NULL, NULL) == 200);
    CHECK(send_chat(gw, AUTH, NULL, BODY, st, NULL, NULL) == 200);
    CHECK(strcmp(st, "HIT") == 0);
    out = get_logs(gw, "{\"cached\":true}");
    CHECK(js_len(out) == 1);
    rec = js_at(out, 0);
    CHECK(js_lit(js_get(rec, "cached"), "true"));
    CHECK(js_lit(js_get(rec, "success"), "true"));
    CHECKF(js_num_or(rec, "cost", -1) == 0, "a hit cost %g", js_num_or(rec, "cost", -1));
    aigw_string_free(out);
    CHECK(count_logs(gw, "{\"cached\":false}") == 1);
    aigw_gateway_free(gw);
}

/* ---- the log callback ---------------------------------------------------- */

struct cb_count {
    pthread_mutex_t lock;
    long n;
    long bad_len;    /* len != strlen(record_json) */
    long not_object; /* not one JSON object */
    long secret;     /* a credential leaked */
    long hidden;     /* a collect-log: false record arrived */
};

static void count_cb(void *ud, const char *json, size_t len)
{
    struct cb_count *c = ud;
    int bad_len = json == NULL || strlen(json) != len;
    int not_object = json == NULL || len == 0 || json[0] != '{' || !js_valid(json);
    pthread_mutex_lock(&c->lock);
    c->n++;
    c->bad_len += bad_len;
    c->not_object += not_object;
    c->secret += json != NULL && strstr(json, "sk-test-key") != NULL;
    c->hidden += json != NULL && strstr(json, "\"hidden-evt\"") != NULL;
    pthread_mutex_unlock(&c->lock);
}

struct sender {
    aigw_gateway *gw;
    int n;
    int ok;
    atomic_int *stop; /* when non-NULL, send until it is set */
};

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    int i;
    for (i = 0; s->stop ? !atomic_load(s->stop) : i < s->n; i++) {
        char st[16];
        s->ok += send_chat(s->gw, AUTH, NULL, BODY, st, NULL, NULL) == 200;
    }
    s->n = i;
    return NULL;
}

/* Replacing the callback: each generation's userdata is freed right after
 * it is replaced, and flagged retired; a call after that is a bug. */
enum { GENS = 40 };
static atomic_int g_retired[GENS];
static atomic_int g_called_after_replaced;
static atomic_long g_gen_calls;

struct gen {
    int index;
    long calls;
    pthread_mutex_t lock;
};

static void gen_cb(void *ud, const char *json, size_t len)
{
    struct gen *g = ud;
    if (atomic_load(&g_retired[g->index]))
        atomic_store(&g_called_after_replaced, 1);
    (void)json;
    (void)len;
    pthread_mutex_lock(&g->lock);
    g->calls++;
    pthread_mutex_unlock(&g->lock);
    atomic_fetch_add(&g_gen_calls, 1);
}

static void test_log_callback(void)
{
    enum { T = 4 };
    struct cb_count c;
    struct sender s[T];
    pthread_t th[T];
    atomic_int stop;
    const char *const hidden[] = {"cf-aig-collect-log", "false", "cf-aig-event-id", "hidden-evt",
                            NULL};
    char st[16], *out, prev[64], id[64];
    aigw_gateway *gw = h_gateway(",\"log_capacity\":5");
    int i, ok = 0, sent = 0, sorted = 1;

    h_section("log callback: every record, from 4 sending threads; len == strlen");
    if (gw == NULL)
        return;
    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.lock, NULL);
    CHECK_STATUS(aigw_gateway_set_log_callback(gw, count_cb, &c), AIGW_OK);
    for (i = 0; i < T; i++) {
        s[i].gw = gw;
        s[i].n = 10;
        s[i].ok = 0;
        s[i].stop = NULL;
        if (pthread_create(&th[i], NULL, sender_main, &s[i]) != 0)
            abort();
    }
    for (i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        ok += s[i].ok;
    }
    CHECK(ok == 40);
    CHECKF(c.n == 40, "the callback saw %ld records of 40", c.n);
    CHECKF(c.bad_len == 0, "%ld records whose len != strlen", c.bad_len);
    CHECKF(c.not_object == 0, "%ld records that are not a JSON object", c.not_object);
    CHECK(c.secret == 0);

    /* collect-log: false never reaches the callback. */
    CHECK(send_chat(gw, AUTH, hidden, BODY, st, NULL, NULL) == 200);
    CHECKF(c.n == 40 && c.hidden == 0, "n %ld, hidden %ld", c.n, c.hidden);

    /* The ring keeps log_capacity records, oldest first. */
    out = get_logs(gw, NULL);
    CHECKF(js_len(out) == 5, "ring holds %ld, log_capacity 5", js_len(out));
    prev[0] = '\0';
    {
        char order[1024] = "", created[64];
        for (i = 0; i < 5; i++) {
            const char *r = js_at(out, (size_t)i);
            if (!js_str(js_get(r, "id"), id, sizeof id) ||
                !js_str(js_get(r, "created_at"), created, sizeof created)) {
                sorted = 0;
                break;
            }
            sorted &= strcmp(prev, id) < 0;
            snprintf(prev, sizeof prev, "%s", id);
            snprintf(order + strlen(order), sizeof order - strlen(order), "\n    %s %s", id,
                     created);
        }
        /* Records made concurrently: "oldest first" and sortable ids say the
         * array is in id (creation) order. */
        CHECKF(sorted, "records not oldest first (array order: id created_at):%s", order);
    }
    aigw_string_free(out);

    /* A single-threaded send: the record reaches it before send returns. */
    CHECK(send_chat(gw, AUTH, NULL, BODY, st, id, NULL) == 200);
    CHECK(c.n == 41);

    h_section("log callback: replaced and removed while 4 threads send");
    atomic_init(&stop, 0);
    atomic_init(&g_called_after_replaced, 0);
    atomic_init(&g_gen_calls, 0);
    for (i = 0; i < GENS; i++)
        atomic_init(&g_retired[i], 0);
    for (i = 0; i < T; i++) {
        s[i].gw = gw;
        s[i].n = 0;
        s[i].ok = 0;
        s[i].stop = &stop;
        if (pthread_create(&th[i], NULL, sender_main, &s[i]) != 0)
            abort();
    }
    {
        struct gen *cur = NULL;
        for (i = 0; i < GENS; i++) {
            struct gen *g = malloc(sizeof *g);
            if (g == NULL)
                abort();
            g->index = i;
            g->calls = 0;
            pthread_mutex_init(&g->lock, NULL);
            CHECK_STATUS(aigw_gateway_set_log_callback(gw, gen_cb, g), AIGW_OK);
            if (cur != NULL) {
                /* The old one is done: retire it and release its userdata. */
                atomic_store(&g_retired[cur->index], 1);
                pthread_mutex_destroy(&cur->lock);
                free(cur);
            }
            cur = g;
            sleep_ms(5);
            if (i % 4 == 3) {
                CHECK_STATUS(aigw_gateway_set_log_callback(gw, NULL, NULL), AIGW_OK);
                atomic_store(&g_retired[cur->index], 1);
                pthread_mutex_destroy(&cur->lock);
                free(cur);
                cur = NULL;
                sleep_ms(5);
            }
        }
        atomic_store(&stop, 1);
        for (i = 0; i < T; i++) {
            pthread_join(th[i], NULL);
            sent += s[i].n;
            ok = s[i].ok == s[i].n;
            CHECKF(ok, "thread %d: %d of %d sends ok", i, s[i].ok, s[i].n);
        }
        CHECK_STATUS(aigw_gateway_set_log_callback(gw, NULL, NULL), AIGW_OK);
        if (cur != NULL) {
            atomic_store(&g_retired[cur->index], 1);
            pthread_mutex_destroy(&cur->lock);
            free(cur);
        }
    }
    CHECK(sent > 0);
    CHECKF(atomic_load(&g_gen_calls) > 0, "no generation's callback ever ran (%d sends)", sent);
    CHECKF(!atomic_load(&g_called_after_replaced),
           "a callback ran after aigw_gateway_set_log_callback replaced it");
    CHECKF(atomic_load(&g_gen_calls) <= sent, "%ld calls for %d sends",
           (long)atomic_load(&g_gen_calls), sent);
    /* Removed: nothing is called (the counters above are unchanged). */
    {
        long before = c.n, gen_before = atomic_load(&g_gen_calls);
        CHECK(send_chat(gw, AUTH, NULL, BODY, st, NULL, NULL) == 200);
        CHECK(c.n == before && atomic_load(&g_gen_calls) == gen_before);
    }
    /* Set again: called again. */
    {
        long before = c.n;
        CHECK_STATUS(aigw_gateway_set_log_callback(gw, count_cb, &c), AIGW_OK);
        CHECK(send_chat(gw, AUTH, NULL, BODY, st, NULL, NULL) == 200);
        CHECKF(c.n == before + 1, "%ld calls, want %ld", c.n, before + 1);
    }
    CHECK_STATUS(aigw_gateway_set_log_callback(gw, NULL, NULL), AIGW_OK);

    h_section("log callback: NULL gw -> AIGW_ERR_NULL_ARGUMENT");
    CHECK_STATUS(aigw_gateway_set_log_callback(NULL, count_cb, &c), AIGW_ERR_NULL_ARGUMENT);
    CHECK_STATUS(aigw_gateway_set_log_callback(NULL, NULL, NULL), AIGW_ERR_NULL_ARGUMENT);
    pthread_mutex_destroy(&c.lock);
    aigw_gateway_free(gw);
}

/* ---- metrics ------------------------------------------------------------- */

/* The series object for provider/model in metrics JSON, or NULL. */
static const char *find_series(const char *json, const char *provider, const char *model)
{
    const char *series = js_get(json, "series");
    const char *s;
    size_t i;
    for (i = 0; (s = js_at(series, i)) != NULL; i++)
        if (js_str_is(s, "provider", provider) && js_str_is(s, "model", model))
            return s;
    return NULL;
}

static void test_metrics(void)
{
    char st[16], *json = SENTINEL, *text = SENTINEL, *o;
    const char *const fail[] = {"x-mock", "status=500", NULL};
    const char *mini, *big, *lat;
    aigw_gateway *gw = h_gateway(",\"cache_ttl_s\":60");
    int i;

    h_section("metrics: JSON per provider and model");
    if (gw == NULL)
        return;
    for (i = 0; i < 3; i++)
        CHECK(send_chat(gw, AUTH, NULL, BODY, st, NULL, NULL) == 200);
    CHECK(send_chat(gw, AUTH, fail, "{\"model\":\"gpt-4o\"}", st, NULL, NULL) == 500);

    if (CHECK_STATUS(aigw_gateway_metrics(gw, AIGW_METRICS_JSON, &json), AIGW_OK)) {
        CHECKF(js_valid(json), "metrics JSON invalid: %.500s", json);
        mini = find_series(json, "openai", "gpt-4o-mini");
        big = find_series(json, "openai", "gpt-4o");
        CHECKF(mini != NULL && big != NULL, "series missing: %.800s", json);
        CHECKF(js_num_or(mini, "requests", -1) == 3, "requests %g",
               js_num_or(mini, "requests", -1));
        CHECKF(js_num_or(mini, "cache_hits", -1) == 2, "cache_hits %g",
               js_num_or(mini, "cache_hits", -1));
        CHECK(js_num_or(mini, "errors", -1) == 0);
        CHECKF(js_num_or(mini, "tokens_out", -1) == 7, "tokens_out %g (hits bill nothing)",
               js_num_or(mini, "tokens_out", -1));
        CHECK(js_num_or(mini, "tokens_in", -1) == (double)(strlen(BODY) / 4 + 1));
        CHECK(js_num_or(mini, "cost", -1) > 0);
        lat = js_get(mini, "latency");
        CHECK(js_num_or(lat, "count", -1) == 3);
        CHECK(js_len(js_get(lat, "buckets")) > 1);
        CHECK(js_num_or(big, "requests", -1) == 1);
        CHECK(js_num_or(big, "errors", -1) == 1);
        CHECK(js_num_or(big, "cache_hits", -1) == 0);
        aigw_string_free(json);
    }

    h_section("metrics: Prometheus text");
    if (CHECK_STATUS(aigw_gateway_metrics(gw, AIGW_METRICS_PROMETHEUS, &text), AIGW_OK)) {
        CHECK(text != NULL && text != SENTINEL);
        CHECK_CONTAINS(text, "# TYPE aigw_requests_total counter");
        CHECK_CONTAINS(text, "aigw_requests_total{provider=\"openai\",model=\"gpt-4o-mini\"} 3\n");
        CHECK_CONTAINS(text, "# TYPE aigw_request_duration_seconds histogram");
        CHECK_CONTAINS(text, "aigw_request_duration_seconds_bucket{provider=\"openai\","
                             "model=\"gpt-4o-mini\",le=\"+Inf\"} 3\n");
        CHECK_CONTAINS(text, "aigw_request_duration_seconds_bucket{provider=\"openai\","
                             "model=\"gpt-4o\",le=\"+Inf\"} 1\n");
        CHECK_CONTAINS(text, "aigw_request_duration_seconds_count{provider=\"openai\","
                             "model=\"gpt-4o-mini\"} 3\n");
        CHECK(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
        aigw_string_free(text);
    }

    h_section("metrics: bad format and NULLs; aigw_string_free(NULL)");
    o = SENTINEL;
    CHECK_STATUS(aigw_gateway_metrics(gw, 7, &o), AIGW_ERR_INVALID_ARGUMENT);
    CHECK(o == SENTINEL);
    CHECK_STATUS(aigw_gateway_metrics(gw, -1, &o), AIGW_ERR_INVALID_ARGUMENT);
    CHECK(o == SENTINEL);
    CHECK_STATUS(aigw_gateway_metrics(gw, AIGW_METRICS_JSON, NULL), AIGW_ERR_NULL_ARGUMENT);
    CHECK_STATUS(aigw_gateway_metrics(NULL, AIGW_METRICS_JSON, &o), AIGW_ERR_NULL_ARGUMENT);
    CHECK(o == SENTINEL);
    aigw_string_free(NULL);
    CHECK(1);

    /* A fresh gateway has no series. */
    aigw_gateway_free(gw);
    gw = h_gateway(NULL);
    if (gw != NULL && CHECK_STATUS(aigw_gateway_metrics(gw, AIGW_METRICS_JSON, &o), AIGW_OK)) {
        CHECKF(js_len(js_get(o, "series")) == 0, "fresh gateway: %s", o);
        aigw_string_free(o);
    }
    aigw_gateway_free(gw);
}

int main(void)
{
    g_stats = h_gateway(NULL);
    if (g_stats == NULL)
        return h_finish();

    test_cache_miss_hit_skip();
    test_cache_off_by_default();
    test_cache_custom_key_ttl_failures();
    test_cache_auth_isolation();
    test_cache_eviction();
    test_cache_stream_replay();
    test_cache_coalescing();

    test_rate_limit_basic();
    test_rate_limit_bad_config();
    test_rate_limit_window_edges();
    test_rate_limit_cache_hits_free();
    test_rate_limit_threads();

    test_log_record_fields();
    test_log_filters();
    test_log_metadata_validation();
    test_log_payloads();
    test_log_cached_record();
    test_log_callback();

    test_metrics();

    aigw_gateway_free(g_stats);
    return h_finish();
}
