/* aigw_send_stream: every clause of API.md's "Streaming" section, from C,
 * against the mock (AIGW_MOCK_URL). */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHAT_QUERY \
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
#define CHAT_STREAM_BODY                                                                \
    "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\","   \
    "\"content\":\"hi\"}]}"

/* ---- a recorder for every callback ------------------------------------ */

struct ev {
    char *event;
    char *data;
    char *id;
};

enum { CB_NONE = 0, CB_RESPONSE, CB_DATA, CB_EVENT };

struct rec {
    /* configuration */
    int abort_in;         /* CB_* that returns non-zero */
    int abort_at;         /* ... on its abort_at-th call (1-based) */
    int light;            /* don't keep events, only count them */
    /* what happened */
    int n_response, n_data, n_event;
    int after_abort;      /* callbacks run after the aborting one returned */
    int aborted;
    int data_before_response;
    int event_before_data; /* an event whose data was not yet in on_data's bytes */
    unsigned head_status;
    size_t head_body_len;
    int head_step;
    char head_step_hdr[32];
    int head_has_step_hdr;
    char *bytes;
    size_t len, cap;
    size_t search_from; /* for event_before_data */
    struct ev *evs;
    size_t nev, evcap;
    size_t event_bytes; /* sum of data_len over all events */
    int bad_event_name; /* in light mode: an event not named "message" */
    int bad_event_id;   /* in light mode: a non-empty id */
    int done_seen;      /* "[DONE]" was the last event */
    pthread_t caller;   /* the thread that called rec_init (and sends) */
    int off_thread;     /* a callback ran on another thread */
};

static void rec_init(struct rec *r)
{
    memset(r, 0, sizeof *r);
    r->head_step = -1;
    r->caller = pthread_self();
}

static void rec_free(struct rec *r)
{
    size_t i;
    for (i = 0; i < r->nev; i++) {
        free(r->evs[i].event);
        free(r->evs[i].data);
        free(r->evs[i].id);
    }
    free(r->evs);
    free(r->bytes);
    memset(r, 0, sizeof *r);
}

static char *dup_n(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        abort();
    if (n > 0)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static const void *find_mem(const void *hay, size_t hlen, const void *needle, size_t nlen)
{
    const unsigned char *h = hay;
    size_t i;
    if (nlen == 0)
        return hay;
    if (hlen < nlen)
        return NULL;
    for (i = 0; i + nlen <= hlen; i++)
        if (h[i] == *(const unsigned char *)needle && memcmp(h + i, needle, nlen) == 0)
            return h + i;
    return NULL;
}

static int note_call(struct rec *r, int which)
{
    int n;
    if (r->aborted)
        r->after_abort++;
    if (!pthread_equal(pthread_self(), r->caller))
        r->off_thread = 1;
    n = which == CB_RESPONSE ? ++r->n_response : which == CB_DATA ? ++r->n_data : ++r->n_event;
    if (r->abort_in == which && n == r->abort_at) {
        r->aborted = 1;
        return 1;
    }
    return 0;
}

static int rec_on_response(void *ud, const aigw_response *head)
{
    struct rec *r = ud;
    const char *step;
    size_t len = 12345;
    if (r->n_data > 0 || r->n_event > 0)
        r->data_before_response = 1;
    r->head_status = aigw_response_status(head);
    (void)aigw_response_body(head, &len);
    r->head_body_len = len;
    r->head_step = (int)aigw_response_step(head);
    step = aigw_response_header(head, "cf-aig-step");
    r->head_has_step_hdr = step != NULL;
    snprintf(r->head_step_hdr, sizeof r->head_step_hdr, "%s", step ? step : "");
    return note_call(r, CB_RESPONSE);
}

static int rec_on_data(void *ud, const uint8_t *data, size_t len)
{
    struct rec *r = ud;
    if (r->n_response == 0)
        r->data_before_response = 1;
    if (r->len + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + len + 1)
            cap *= 2;
        r->bytes = realloc(r->bytes, cap);
        if (r->bytes == NULL)
            abort();
        r->cap = cap;
    }
    if (len > 0)
        memcpy(r->bytes + r->len, data, len);
    r->len += len;
    r->bytes[r->len] = '\0';
    return note_call(r, CB_DATA);
}

static int rec_on_event(void *ud, const aigw_sse_event *e)
{
    struct rec *r = ud;
    const char *at;
    if (r->n_response == 0)
        r->data_before_response = 1;
    /* The event's data must already have come through on_data: its last
     * line, at least, appears verbatim in the bytes delivered so far. */
    {
        const char *last = e->data;
        size_t i, last_len;
        for (i = 0; i < e->data_len; i++)
            if (e->data[i] == '\n')
                last = e->data + i + 1;
        last_len = e->data_len - (size_t)(last - e->data);
        at = find_mem(r->bytes ? r->bytes + r->search_from : "", r->len - r->search_from, last,
                      last_len);
        if (at == NULL)
            r->event_before_data = 1;
        else if (last_len > 0)
            r->search_from = (size_t)(at - r->bytes) + last_len;
    }
    r->event_bytes += e->data_len;
    r->done_seen = e->data_len == 6 && memcmp(e->data, "[DONE]", 6) == 0;
    if (r->light) {
        if (e->event_len != 7 || memcmp(e->event, "message", 7) != 0)
            r->bad_event_name = 1;
        if (e->id_len != 0)
            r->bad_event_id = 1;
    } else {
        if (r->nev == r->evcap) {
            r->evcap = r->evcap ? r->evcap * 2 : 16;
            r->evs = realloc(r->evs, r->evcap * sizeof *r->evs);
            if (r->evs == NULL)
                abort();
        }
        r->evs[r->nev].event = dup_n(e->event, e->event_len);
        r->evs[r->nev].data = dup_n(e->data, e->data_len);
        r->evs[r->nev].id = dup_n(e->id, e->id_len);
        r->nev++;
    }
    return note_call(r, CB_EVENT);
}

static aigw_stream_callbacks rec_callbacks(struct rec *r)
{
    aigw_stream_callbacks cb;
    cb.userdata = r;
    cb.on_response = rec_on_response;
    cb.on_data = rec_on_data;
    cb.on_event = rec_on_event;
    return cb;
}

/* ---- a tiny WHATWG SSE parser, to check on_event against on_data ------- */

struct parsed {
    struct ev *evs;
    size_t n, cap;
};

static void parsed_free(struct parsed *p)
{
    size_t i;
    for (i = 0; i < p->n; i++) {
        free(p->evs[i].event);
        free(p->evs[i].data);
        free(p->evs[i].id);
    }
    free(p->evs);
    memset(p, 0, sizeof *p);
}

static void sse_parse(const char *buf, size_t len, struct parsed *out)
{
    char *data = malloc(len + 1), *event = malloc(len + 1), *id = malloc(len + 1);
    size_t dlen = 0, elen = 0, idlen = 0, pos = 0;
    int have_data = 0;
    memset(out, 0, sizeof *out);
    if (data == NULL || event == NULL || id == NULL)
        abort();
    while (pos < len) {
        size_t start = pos, end, colon, vstart;
        while (pos < len && buf[pos] != '\n' && buf[pos] != '\r')
            pos++;
        if (pos >= len)
            break; /* an unterminated last line is not a line */
        end = pos;
        if (buf[pos] == '\r' && pos + 1 < len && buf[pos + 1] == '\n')
            pos += 2;
        else
            pos++;
        if (end == start) { /* blank line: dispatch */
            if (have_data) {
                if (out->n == out->cap) {
                    out->cap = out->cap ? out->cap * 2 : 16;
                    out->evs = realloc(out->evs, out->cap * sizeof *out->evs);
                    if (out->evs == NULL)
                        abort();
                }
                out->evs[out->n].event = elen ? dup_n(event, elen) : dup_n("message", 7);
                out->evs[out->n].data = dup_n(data, dlen);
                out->evs[out->n].id = dup_n(id, idlen);
                out->n++;
            }
            have_data = 0;
            dlen = 0;
            elen = 0;
            continue;
        }
        if (buf[start] == ':')
            continue; /* comment */
        for (colon = start; colon < end && buf[colon] != ':'; colon++)
            ;
        vstart = colon < end ? colon + 1 : end;
        if (vstart < end && buf[vstart] == ' ')
            vstart++;
        if (colon - start == 4 && memcmp(buf + start, "data", 4) == 0) {
            if (have_data)
                data[dlen++] = '\n';
            memcpy(data + dlen, buf + vstart, end - vstart);
            dlen += end - vstart;
            have_data = 1;
        } else if (colon - start == 5 && memcmp(buf + start, "event", 5) == 0) {
            memcpy(event, buf + vstart, end - vstart);
            elen = end - vstart;
        } else if (colon - start == 2 && memcmp(buf + start, "id", 2) == 0) {
            memcpy(id, buf + vstart, end - vstart);
            idlen = end - vstart;
        }
    }
    free(data);
    free(event);
    free(id);
}

/* on_event's events equal the events parsed from on_data's bytes. */
static void check_events_match_bytes(const struct rec *r, int line)
{
    struct parsed p;
    size_t i;
    sse_parse(r->bytes ? r->bytes : "", r->len, &p);
    h_check(p.n == r->nev, __FILE__, line, "events parsed from on_data == on_event count",
            "parsed %zu, on_event %zu", p.n, r->nev);
    for (i = 0; i < p.n && i < r->nev; i++) {
        int same = strcmp(p.evs[i].event, r->evs[i].event) == 0 &&
                   strcmp(p.evs[i].data, r->evs[i].data) == 0 &&
                   strcmp(p.evs[i].id, r->evs[i].id) == 0;
        if (!h_check(same, __FILE__, line, "on_event event equals the parsed on_data event",
                     "#%zu: parsed {%s|%s|%s} vs on_event {%s|%s|%s}", i, p.evs[i].event,
                     p.evs[i].data, p.evs[i].id, r->evs[i].event, r->evs[i].data,
                     r->evs[i].id))
            break;
    }
    parsed_free(&p);
}

/* The events are the mock's: n token chunks "tok<i> ", named "message",
 * no id, then [DONE] (unless `done` is 0). */
static void check_token_events(const struct rec *r, size_t n, int done, int line)
{
    size_t i;
    char want[32];
    h_check(r->nev == n + (done ? 1u : 0u), __FILE__, line, "event count", "got %zu, want %zu",
            r->nev, n + (done ? 1u : 0u));
    for (i = 0; i < r->nev; i++) {
        const struct ev *e = &r->evs[i];
        int ok = strcmp(e->event, "message") == 0 && e->id[0] == '\0';
        if (i < n) {
            snprintf(want, sizeof want, "\"tok%zu \"", i);
            ok = ok && e->data[0] == '{' && h_contains(e->data, "chat.completion.chunk") &&
                 h_contains(e->data, want);
        } else {
            ok = ok && strcmp(e->data, "[DONE]") == 0;
        }
        if (!h_check(ok, __FILE__, line, "token event", "#%zu: event \"%s\" id \"%s\" data %s",
                     i, e->event, e->id, e->data))
            break;
    }
}

static int count_occurrences(const char *hay, const char *needle)
{
    int n = 0;
    size_t nl = strlen(needle);
    const char *p = hay;
    if (hay == NULL)
        return 0;
    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += nl;
    }
    return n;
}

/* ---- sending ---------------------------------------------------------- */

static aigw_request *stream_request(const char *directives)
{
    const char *h[] = {
        "Authorization", "Bearer sk-stream", "Content-Type", "application/json",
        "x-mock", directives, NULL,
    };
    if (directives == NULL)
        h[4] = NULL;
    return h_request("POST", "openai/chat/completions", h, CHAT_STREAM_BODY);
}

static aigw_request *universal_request(const char *steps)
{
    static const char *const h[] = {"Content-Type", "application/json", NULL};
    return h_request("POST", "", h, steps);
}

/* Streams with the recorder; expects `want`. On AIGW_OK returns the head
 * (caller frees); on failure CHECKs *out untouched and the error, and puts
 * the error in *errp (if errp is not NULL; caller frees). */
static aigw_response *stream_expect(const aigw_gateway *gw, const aigw_request *req,
                                    struct rec *r, aigw_status want, aigw_error **errp,
                                    int line)
{
    aigw_stream_callbacks cb = rec_callbacks(r);
    aigw_response *out = SENTINEL;
    aigw_error *err = NULL;
    aigw_status st;
    if (errp != NULL)
        *errp = NULL;
    if (gw == NULL || req == NULL) {
        h_check(0, __FILE__, line, "stream preconditions", NULL);
        return NULL;
    }
    st = aigw_send_stream(gw, req, &cb, &out, &err);
    h_check(st == want, __FILE__, line, "aigw_send_stream status", "got %s (%d), want %s: %s",
            aigw_status_str((int)st), (int)st, aigw_status_str((int)want),
            err ? aigw_error_message(err) : "(no error object)");
    if (st == AIGW_OK) {
        h_check(out != SENTINEL && out != NULL, __FILE__, line, "*out set on AIGW_OK", NULL);
        h_check(err == NULL, __FILE__, line, "no error object on AIGW_OK", NULL);
        aigw_error_free(err);
        if (want != AIGW_OK) {
            aigw_response_free(out);
            return NULL;
        }
        return out;
    }
    h_check(out == SENTINEL, __FILE__, line, "*out untouched on failure", NULL);
    if (want != AIGW_OK)
        h_check_error(err, (long)want, __FILE__, line);
    if (errp != NULL)
        *errp = err;
    else
        aigw_error_free(err);
    return NULL;
}
#define STREAM_OK(gw, req, r) stream_expect((gw), (req), (r), AIGW_OK, NULL, __LINE__)
#define STREAM_FAIL(gw, req, r, want, errp) \
    stream_expect((gw), (req), (r), (want), (errp), __LINE__)

static void check_head(const aigw_response *head, unsigned status, int step, int universal,
                       int line)
{
    size_t len = 999;
    const char *hdr;
    char want[16];
    if (head == NULL)
        return;
    h_check(aigw_response_status(head) == status, __FILE__, line, "*out status", "got %u want %u",
            (unsigned)aigw_response_status(head), status);
    h_check(aigw_response_body(head, &len) != NULL && len == 0, __FILE__, line,
            "*out body is empty", "len %zu", len);
    h_check(aigw_response_step(head) == step, __FILE__, line, "*out step", "got %d want %d",
            (int)aigw_response_step(head), step);
    hdr = aigw_response_header(head, "cf-aig-step");
    if (universal == 1 && status >= 200 && status <= 299) {
        snprintf(want, sizeof want, "%d", step);
        h_check(hdr != NULL && strcmp(hdr, want) == 0, __FILE__, line, "*out cf-aig-step",
                "got %s want %s", hdr ? hdr : "(absent)", want);
    } else if (universal == 0) {
        h_check(hdr == NULL, __FILE__, line, "no cf-aig-step on a provider endpoint",
                "got %s", hdr ? hdr : "");
    }
}

/* The recorder saw exactly one on_response, first, matching the head. */
static void check_rec_head(const struct rec *r, unsigned status, int step, int universal,
                           int line)
{
    char want[16];
    h_check(r->n_response == 1, __FILE__, line, "on_response exactly once", "got %d",
            r->n_response);
    h_check(!r->data_before_response, __FILE__, line, "on_response before any data", NULL);
    h_check(!r->off_thread, __FILE__, line, "callbacks run on the calling thread", NULL);
    h_check(r->head_status == status, __FILE__, line, "on_response status", "got %u want %u",
            r->head_status, status);
    h_check(r->head_body_len == 0, __FILE__, line, "on_response head body is empty",
            "len %zu", r->head_body_len);
    h_check(r->head_step == step, __FILE__, line, "on_response step", "got %d want %d",
            r->head_step, step);
    if (universal == 1 && status >= 200 && status <= 299) {
        snprintf(want, sizeof want, "%d", step);
        h_check(r->head_has_step_hdr && strcmp(r->head_step_hdr, want) == 0, __FILE__, line,
                "on_response cf-aig-step", "got %s want %s",
                r->head_has_step_hdr ? r->head_step_hdr : "(absent)", want);
    } else if (universal == 0) {
        h_check(!r->head_has_step_hdr, __FILE__, line,
                "on_response: no cf-aig-step on a provider endpoint", NULL);
    }
}

/* ---- tests ------------------------------------------------------------ */

static void test_five_events(aigw_gateway *gw)
{
    aigw_request *req = stream_request(NULL); /* the body's "stream": true streams */
    struct rec r;
    aigw_response *head;
    h_section("5-event stream: on_response once, on_data == SSE body, on_event matches");
    rec_init(&r);
    head = STREAM_OK(gw, req, &r);
    check_head(head, 200, 0, 0, __LINE__);
    CHECK_CONTAINS(aigw_response_header(head, "content-type"), "text/event-stream");
    check_rec_head(&r, 200, 0, 0, __LINE__);
    CHECK(r.n_data >= 1);
    CHECK(r.after_abort == 0);
    CHECK(!r.event_before_data);
    check_token_events(&r, 5, 1, __LINE__);
    check_events_match_bytes(&r, __LINE__);
    /* The whole SSE body: starts with the first data line, ends after [DONE]. */
    CHECKF(r.len > 6 && strncmp(r.bytes, "data: {", 7) == 0, "bytes start: %.40s",
           r.bytes ? r.bytes : "");
    CHECKF(r.len >= 14 && strcmp(r.bytes + r.len - 14, "data: [DONE]\n\n") == 0,
           "bytes end: %s", r.len >= 20 ? r.bytes + r.len - 20 : "");
    CHECK(strlen(r.bytes) == r.len); /* no NULs, nothing lost */
    aigw_response_free(head);
    rec_free(&r);

    /* The `stream` directive streams even without "stream": true. */
    {
        static const char *const h[] = {"x-mock", "stream,events=3", NULL};
        aigw_request *req2 = h_request("POST", "openai/chat/completions", h, CHAT_QUERY);
        rec_init(&r);
        head = STREAM_OK(gw, req2, &r);
        check_head(head, 200, 0, 0, __LINE__);
        check_rec_head(&r, 200, 0, 0, __LINE__);
        check_token_events(&r, 3, 1, __LINE__);
        check_events_match_bytes(&r, __LINE__);
        aigw_response_free(head);
        rec_free(&r);
        aigw_request_free(req2);
    }

    /* The request is only read: sending it again gives the same stream. */
    rec_init(&r);
    head = STREAM_OK(gw, req, &r);
    check_token_events(&r, 5, 1, __LINE__);
    aigw_response_free(head);
    rec_free(&r);
    aigw_request_free(req);
}

static void test_universal_stream_head(aigw_gateway *gw)
{
    aigw_request *req =
        universal_request("[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                          "\"authorization\":\"Bearer sk-u\",\"headers\":{\"x-mock\":\"stream\"},"
                          "\"query\":" CHAT_QUERY "}]");
    struct rec r;
    aigw_response *head;
    h_section("Universal single-step stream: cf-aig-step 0 in the head");
    rec_init(&r);
    head = STREAM_OK(gw, req, &r);
    check_head(head, 200, 0, 1, __LINE__);
    check_rec_head(&r, 200, 0, 1, __LINE__);
    check_token_events(&r, 5, 1, __LINE__);
    check_events_match_bytes(&r, __LINE__);
    aigw_response_free(head);
    rec_free(&r);
    aigw_request_free(req);
}

static void test_big_stream(aigw_gateway *gw)
{
    aigw_request *req = stream_request("stream,events=10000");
    struct rec r;
    aigw_response *head;
    struct parsed p;
    size_t i, data_bytes = 0;
    h_section("10,000-event stream");
    rec_init(&r);
    r.light = 1;
    head = STREAM_OK(gw, req, &r);
    check_head(head, 200, 0, 0, __LINE__);
    CHECK(r.n_response == 1);
    CHECKF(r.n_event == 10001, "got %d events", r.n_event);
    CHECK(r.done_seen);
    CHECK(!r.bad_event_name);
    CHECK(!r.bad_event_id);
    CHECK(!r.event_before_data);
    CHECK(r.len > 10000u * 50u);
    CHECK(strlen(r.bytes ? r.bytes : "") == r.len);
    /* Events and bytes agree: parse the bytes and compare counts/sizes. */
    sse_parse(r.bytes ? r.bytes : "", r.len, &p);
    CHECKF(p.n == 10001, "parsed %zu events", p.n);
    for (i = 0; i < p.n; i++)
        data_bytes += strlen(p.evs[i].data);
    CHECKF(data_bytes == r.event_bytes, "parsed data bytes %zu, on_event data bytes %zu",
           data_bytes, r.event_bytes);
    CHECK(p.n > 9999 && h_contains(p.evs[9999].data, "\"tok9999 \""));
    parsed_free(&p);
    printf("  10,000-event stream: %d events, %zu bytes in %d on_data calls\n", r.n_event,
           r.len, r.n_data);
    aigw_response_free(head);
    rec_free(&r);
    aigw_request_free(req);
}

/* Replace runs of digits with '#' (the mock's ids and timestamps vary). */
static char *normalize_digits(const char *s)
{
    char *out = dup_n(s, strlen(s)), *w = out;
    for (; *s != '\0'; s++) {
        if (*s >= '0' && *s <= '9') {
            if (w == out || w[-1] != '#')
                *w++ = '#';
        } else {
            *w++ = *s;
        }
    }
    *w = '\0';
    return out;
}

static void test_byte_per_write_crlf(aigw_gateway *gw)
{
    aigw_request *plain = stream_request("stream,events=5");
    aigw_request *odd = stream_request("stream,events=5,byte_per_write,crlf");
    aigw_request *odd2 = stream_request("stream,events=5,crlf");
    struct rec a, b, c;
    aigw_response *ha, *hb, *hc;
    size_t i;
    h_section("byte_per_write + crlf stream: the same events");
    rec_init(&a);
    rec_init(&b);
    rec_init(&c);
    ha = STREAM_OK(gw, plain, &a);
    hb = STREAM_OK(gw, odd, &b);
    hc = STREAM_OK(gw, odd2, &c);
    CHECK(h_contains(b.bytes, "\r\n"));
    CHECK(!h_contains(a.bytes, "\r"));
    check_rec_head(&b, 200, 0, 0, __LINE__);
    check_token_events(&b, 5, 1, __LINE__);
    check_token_events(&c, 5, 1, __LINE__);
    check_events_match_bytes(&b, __LINE__);
    check_events_match_bytes(&c, __LINE__);
    CHECK(!b.event_before_data);
    CHECKF(a.nev == b.nev && a.nev == c.nev, "%zu vs %zu vs %zu events", a.nev, b.nev, c.nev);
    for (i = 0; i < a.nev && i < b.nev && i < c.nev; i++) {
        char *na = normalize_digits(a.evs[i].data), *nb = normalize_digits(b.evs[i].data);
        char *nc = normalize_digits(c.evs[i].data);
        CHECKF(strcmp(na, nb) == 0 && strcmp(na, nc) == 0, "#%zu: %s vs %s vs %s", i, na, nb, nc);
        CHECK(strcmp(a.evs[i].event, b.evs[i].event) == 0);
        CHECK(strcmp(a.evs[i].id, b.evs[i].id) == 0);
        free(na);
        free(nb);
        free(nc);
    }
    printf("  byte_per_write: %d on_data calls for %zu bytes\n", b.n_data, b.len);
    aigw_response_free(ha);
    aigw_response_free(hb);
    aigw_response_free(hc);
    rec_free(&a);
    rec_free(&b);
    rec_free(&c);
    aigw_request_free(plain);
    aigw_request_free(odd);
    aigw_request_free(odd2);
}

/* Only on_event set, or only on_data, and so on. */
static void test_null_callbacks(aigw_gateway *gw)
{
    aigw_request *req = stream_request("stream,events=4");
    aigw_request *brk = stream_request("stream,events=6,break_after=2");
    aigw_stream_callbacks cb;
    aigw_response *out;
    aigw_error *err;
    struct rec r;
    int mask;
    h_section("NULL callbacks and NULL cb");

    memset(&cb, 0, sizeof cb);
    out = NULL;
    err = NULL;
    CHECK_STATUS(aigw_send_stream(gw, req, &cb, &out, &err), AIGW_OK);
    CHECK(out != NULL && aigw_response_status(out) == 200);
    CHECK(err == NULL);
    aigw_response_free(out);
    aigw_error_free(err);

    out = NULL;
    err = NULL;
    CHECK_STATUS(aigw_send_stream(gw, req, NULL, &out, &err), AIGW_OK);
    CHECK(out != NULL && aigw_response_status(out) == 200);
    check_head(out, 200, 0, 0, __LINE__);
    CHECK(err == NULL);
    aigw_response_free(out);
    aigw_error_free(err);

    /* error is optional too. */
    out = NULL;
    CHECK_STATUS(aigw_send_stream(gw, req, NULL, &out, NULL), AIGW_OK);
    aigw_response_free(out);

    /* A broken stream is still reported with no callbacks at all. */
    out = SENTINEL;
    err = NULL;
    CHECK_STATUS(aigw_send_stream(gw, brk, NULL, &out, &err), AIGW_ERR_STREAM_INTERRUPTED);
    CHECK(out == SENTINEL);
    CHECK_ERROR(err, AIGW_ERR_STREAM_INTERRUPTED);
    aigw_error_free(err);

    /* Every subset of the three callbacks. */
    for (mask = 0; mask < 8; mask++) {
        rec_init(&r);
        cb = rec_callbacks(&r);
        if (!(mask & 1))
            cb.on_response = NULL;
        if (!(mask & 2))
            cb.on_data = NULL;
        if (!(mask & 4))
            cb.on_event = NULL;
        out = NULL;
        err = NULL;
        CHECKF(aigw_send_stream(gw, req, &cb, &out, &err) == AIGW_OK, "mask %d: %s", mask,
               err ? aigw_error_message(err) : "");
        CHECK(out != NULL && aigw_response_status(out) == 200);
        CHECKF(r.n_response == ((mask & 1) ? 1 : 0), "mask %d: on_response %d", mask,
               r.n_response);
        CHECKF((r.n_data > 0) == ((mask & 2) != 0), "mask %d: on_data %d", mask, r.n_data);
        CHECKF(r.n_event == ((mask & 4) ? 5 : 0), "mask %d: on_event %d", mask, r.n_event);
        aigw_response_free(out);
        aigw_error_free(err);
        rec_free(&r);
    }
    aigw_request_free(req);
    aigw_request_free(brk);
}

static void test_non_sse(aigw_gateway *gw)
{
    static const char *const h[] = {"Content-Type", "application/json", NULL};
    aigw_request *req = h_request("POST", "openai/chat/completions", h, CHAT_QUERY);
    aigw_request *err_req;
    struct rec r;
    aigw_response *head;
    h_section("a non-SSE body (plain JSON): on_data only, no on_event");
    rec_init(&r);
    head = STREAM_OK(gw, req, &r);
    check_head(head, 200, 0, 0, __LINE__);
    CHECK_CONTAINS(aigw_response_header(head, "content-type"), "application/json");
    check_rec_head(&r, 200, 0, 0, __LINE__);
    CHECK(r.n_data >= 1);
    CHECK(r.n_event == 0);
    CHECK(r.len > 0 && r.bytes[0] == '{' && r.bytes[r.len - 1] == '}');
    CHECK_CONTAINS(r.bytes, "\"chat.completion\"");
    CHECK_CONTAINS(r.bytes, "Hello from the aigw mock.");
    CHECK(strlen(r.bytes ? r.bytes : "") == r.len);
    aigw_response_free(head);
    rec_free(&r);
    aigw_request_free(req);

    /* A non-2xx answer to a provider endpoint is AIGW_OK too, through the
     * callbacks, as in aigw_send. */
    {
        static const char *const h4[] = {"Content-Type", "application/json", "x-mock",
                                         "status=404", NULL};
        err_req = h_request("POST", "openai/chat/completions", h4, CHAT_STREAM_BODY);
    }
    rec_init(&r);
    head = STREAM_OK(gw, err_req, &r);
    check_head(head, 404, 0, 0, __LINE__);
    check_rec_head(&r, 404, 0, 0, __LINE__);
    CHECK(r.n_event == 0);
    CHECK_CONTAINS(r.bytes, "mock status 404");
    aigw_response_free(head);
    rec_free(&r);
    aigw_request_free(err_req);
}

#define STEP(mock, query)                                                          \
    "{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","                  \
    "\"authorization\":\"Bearer sk-u\",\"headers\":{\"x-mock\":\"" mock "\"},"     \
    "\"query\":" query "}"

static void test_universal_fallback(aigw_gateway *gw)
{
    static const struct {
        const char *name;
        const char *steps;
    } cases[] = {
        {"step 0 error_first, step 1 streams",
         "[" STEP("stream,error_first", CHAT_QUERY) "," STEP("stream", CHAT_QUERY) "]"},
        {"step 0 error_data_first, step 1 streams",
         "[" STEP("stream,error_data_first", CHAT_QUERY) "," STEP("stream", CHAT_QUERY) "]"},
        {"step 0 status=503, step 1 streams",
         "[" STEP("status=503", CHAT_QUERY) "," STEP("stream", CHAT_QUERY) "]"},
        {"step 0 error_first with body stream:true, step 1 body stream:true",
         "[" STEP("error_first", CHAT_STREAM_BODY) "," STEP("events=5", CHAT_STREAM_BODY) "]"},
        {"step 0 drop, step 1 error_first, step 2 streams",
         "[" STEP("drop", CHAT_QUERY) "," STEP("stream,error_first", CHAT_QUERY) "," STEP(
             "stream", CHAT_QUERY) "]"},
    };
    size_t i;
    h_section("Universal: nothing of a failed step reaches any callback");
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        aigw_request *req = universal_request(cases[i].steps);
        struct rec r;
        aigw_response *head;
        int serving = i == 4 ? 2 : 1;
        printf("  %s\n", cases[i].name);
        rec_init(&r);
        head = STREAM_OK(gw, req, &r);
        check_head(head, 200, serving, 1, __LINE__);
        check_rec_head(&r, 200, serving, 1, __LINE__);
        CHECK_NOT_CONTAINS(r.bytes, "mock stream error");
        CHECK_NOT_CONTAINS(r.bytes, "mock status");
        CHECK_NOT_CONTAINS(r.bytes, "error");
        check_token_events(&r, 5, 1, __LINE__);
        check_events_match_bytes(&r, __LINE__);
        CHECK(!r.event_before_data);
        aigw_response_free(head);
        rec_free(&r);
        aigw_request_free(req);
    }
}

static void test_universal_all_fail(aigw_gateway *gw)
{
    aigw_request *req;
    struct rec r;
    aigw_response *head;
    h_section("Universal: every step fails -> AIGW_OK, the latest response via callbacks");

    req = universal_request("[" STEP("status=503", CHAT_STREAM_BODY) "," STEP(
        "status=500", CHAT_STREAM_BODY) "]");
    rec_init(&r);
    head = STREAM_OK(gw, req, &r);
    check_head(head, 500, 1, 1, __LINE__);
    check_rec_head(&r, 500, 1, 1, __LINE__);
    CHECK_CONTAINS(r.bytes, "mock status 500");
    CHECK_NOT_CONTAINS(r.bytes, "mock status 503");
    CHECK(r.n_event == 0);
    aigw_response_free(head);
    rec_free(&r);
    aigw_request_free(req);

    /* Both steps 2xx but with an error event first: the latest (step 1's)
     * stream is what gets delivered; step 0's never is. */
    req = universal_request("[" STEP("stream,error_first", CHAT_QUERY) "," STEP(
        "stream,error_data_first", CHAT_QUERY) "]");
    rec_init(&r);
    head = STREAM_OK(gw, req, &r);
    /* (universal=2: whether a failed step's 2xx head carries cf-aig-step is
     * not specified; only the step index is checked) */
    check_head(head, 200, 1, 2, __LINE__);
    check_rec_head(&r, 200, 1, 2, __LINE__);
    CHECKF(count_occurrences(r.bytes, "mock stream error") == 1, "bytes: %s",
           r.bytes ? r.bytes : "");
    CHECK_NOT_CONTAINS(r.bytes, "event: error"); /* step 1 is error_data_first */
    CHECKF(r.nev == 1 && strcmp(r.evs[0].event, "message") == 0 &&
               h_contains(r.evs[0].data, "mock stream error"),
           "%zu events", r.nev);
    check_events_match_bytes(&r, __LINE__);
    aigw_response_free(head);
    rec_free(&r);
    aigw_request_free(req);
}

static void test_after_commit(void)
{
    aigw_gateway *gw = h_gateway(",\"stream_idle_timeout_ms\":300");
    aigw_request *req;
    aigw_error *err;
    struct rec r;
    double t0, dt;
    char key[96], steps[1024];
    h_section("after commit: a broken stream is AIGW_ERR_STREAM_INTERRUPTED");
    if (gw == NULL)
        return;

    req = stream_request("stream,events=10,break_after=4");
    rec_init(&r);
    STREAM_FAIL(gw, req, &r, AIGW_ERR_STREAM_INTERRUPTED, &err);
    if (err != NULL)
        printf("  break_after=4: %s\n", aigw_error_message(err));
    aigw_error_free(err);
    check_rec_head(&r, 200, 0, 0, __LINE__);
    check_token_events(&r, 4, 0, __LINE__);
    CHECK(!r.done_seen);
    rec_free(&r);
    aigw_request_free(req);

    h_section("after commit: a stalled stream is AIGW_ERR_STREAM_INTERRUPTED (\"stalled\")");
    req = stream_request("stream,events=10,stall_after=3");
    rec_init(&r);
    t0 = h_now_ms();
    STREAM_FAIL(gw, req, &r, AIGW_ERR_STREAM_INTERRUPTED, &err);
    dt = h_now_ms() - t0;
    if (err != NULL) {
        printf("  stall_after=3: %s (%.0f ms)\n", aigw_error_message(err), dt);
        CHECK_CONTAINS(aigw_error_message(err), "stalled");
    }
    aigw_error_free(err);
    CHECKF(dt >= 250 && dt < 3000, "took %.0f ms", dt);
    check_rec_head(&r, 200, 0, 0, __LINE__);
    check_token_events(&r, 3, 0, __LINE__);
    rec_free(&r);
    aigw_request_free(req);

    /* No fallback after commit: the Universal step 1 is never tried. */
    h_section("after commit: no fallback to the next step");
    h_unique_key(key, sizeof key, "stream-nofallback");
    snprintf(steps, sizeof steps,
             "[" STEP("stream,events=10,break_after=4", CHAT_QUERY) ","
             "{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
             "\"headers\":{\"x-mock\":\"stream,key=%s\"},\"query\":" CHAT_QUERY "}]",
             key);
    req = universal_request(steps);
    rec_init(&r);
    STREAM_FAIL(gw, req, &r, AIGW_ERR_STREAM_INTERRUPTED, NULL);
    check_rec_head(&r, 200, 0, 1, __LINE__);
    check_token_events(&r, 4, 0, __LINE__);
    CHECKF(h_mock_key_count(gw, key) <= 0, "step 1 was requested %ld times",
           h_mock_key_count(gw, key));
    rec_free(&r);
    aigw_request_free(req);

    /* The per-gateway default is used by Universal too; a stall in step 0
     * after commit does not fall back either. */
    req = universal_request("[" STEP("stream,events=10,stall_after=2", CHAT_QUERY) "," STEP(
        "stream", CHAT_QUERY) "]");
    rec_init(&r);
    t0 = h_now_ms();
    STREAM_FAIL(gw, req, &r, AIGW_ERR_STREAM_INTERRUPTED, &err);
    dt = h_now_ms() - t0;
    if (err != NULL)
        CHECK_CONTAINS(aigw_error_message(err), "stalled");
    aigw_error_free(err);
    CHECKF(dt < 3000, "took %.0f ms", dt);
    check_rec_head(&r, 200, 0, 1, __LINE__);
    check_token_events(&r, 2, 0, __LINE__);
    rec_free(&r);
    aigw_request_free(req);

    aigw_gateway_free(gw);
}

static void test_abort(aigw_gateway *gw)
{
    aigw_request *req = stream_request("stream,events=8");
    struct rec r;
    aigw_error *err;
    h_section("abort: a callback returning non-zero -> AIGW_ERR_ABORTED, nothing after it");

    rec_init(&r);
    r.abort_in = CB_RESPONSE;
    r.abort_at = 1;
    STREAM_FAIL(gw, req, &r, AIGW_ERR_ABORTED, &err);
    aigw_error_free(err);
    CHECK(r.aborted);
    CHECK(r.n_response == 1);
    CHECK(r.n_data == 0);
    CHECK(r.n_event == 0);
    CHECK(r.after_abort == 0);
    rec_free(&r);

    rec_init(&r);
    r.abort_in = CB_DATA;
    r.abort_at = 1;
    STREAM_FAIL(gw, req, &r, AIGW_ERR_ABORTED, NULL);
    CHECK(r.aborted);
    CHECK(r.n_response == 1);
    CHECK(r.n_data == 1);
    CHECK(r.n_event == 0); /* the data call aborted before its events */
    CHECK(r.after_abort == 0);
    rec_free(&r);

    rec_init(&r);
    r.abort_in = CB_EVENT;
    r.abort_at = 1;
    STREAM_FAIL(gw, req, &r, AIGW_ERR_ABORTED, NULL);
    CHECK(r.aborted);
    CHECK(r.n_event == 1);
    CHECK(r.after_abort == 0);
    rec_free(&r);

    rec_init(&r);
    r.abort_in = CB_EVENT;
    r.abort_at = 3;
    STREAM_FAIL(gw, req, &r, AIGW_ERR_ABORTED, NULL);
    CHECK(r.aborted);
    CHECK(r.n_event == 3);
    CHECK(r.after_abort == 0);
    check_token_events(&r, 3, 0, __LINE__);
    rec_free(&r);
    aigw_request_free(req);

    /* byte_per_write, events 20 ms apart: several on_data calls (how the
     * bytes are split into calls is up to TCP and the library, but the
     * pauses guarantee at least one call per event); abort in the 3rd. */
    req = stream_request("stream,events=8,delay_ms=20,byte_per_write");
    rec_init(&r);
    r.abort_in = CB_DATA;
    r.abort_at = 3;
    STREAM_FAIL(gw, req, &r, AIGW_ERR_ABORTED, NULL);
    CHECKF(r.n_data == 3, "%d on_data calls", r.n_data);
    CHECK(r.n_event <= 3);
    CHECK(r.after_abort == 0);
    rec_free(&r);
    aigw_request_free(req);

    /* Non-SSE body, abort in on_data. */
    {
        static const char *const h[] = {"Content-Type", "application/json", NULL};
        req = h_request("POST", "openai/chat/completions", h, CHAT_QUERY);
    }
    rec_init(&r);
    r.abort_in = CB_DATA;
    r.abort_at = 1;
    STREAM_FAIL(gw, req, &r, AIGW_ERR_ABORTED, NULL);
    CHECK(r.n_data == 1 && r.after_abort == 0 && r.n_event == 0);
    rec_free(&r);
    aigw_request_free(req);

    /* The gateway is fine afterwards (the aborted connection is not reused
     * half-read). */
    req = stream_request("stream,events=5");
    rec_init(&r);
    aigw_response_free(STREAM_OK(gw, req, &r));
    check_token_events(&r, 5, 1, __LINE__);
    rec_free(&r);
    aigw_request_free(req);
}

static int count_cb(void *ud, const aigw_response *head)
{
    (void)head;
    (*(int *)ud)++;
    return 0;
}

static void test_null_arguments(aigw_gateway *gw)
{
    aigw_request *req = stream_request("stream");
    aigw_stream_callbacks cb;
    aigw_response *out = SENTINEL;
    aigw_error *err = NULL;
    int calls = 0;
    h_section("NULL gw/req/out -> AIGW_ERR_NULL_ARGUMENT; *out untouched");
    memset(&cb, 0, sizeof cb);
    cb.userdata = &calls;
    cb.on_response = count_cb;

    CHECK_STATUS(aigw_send_stream(NULL, req, &cb, &out, &err), AIGW_ERR_NULL_ARGUMENT);
    CHECK(out == SENTINEL);
    if (err != NULL)
        CHECK_ERROR(err, AIGW_ERR_NULL_ARGUMENT);
    aigw_error_free(err);
    err = NULL;
    CHECK_STATUS(aigw_send_stream(gw, NULL, &cb, &out, &err), AIGW_ERR_NULL_ARGUMENT);
    CHECK(out == SENTINEL);
    if (err != NULL)
        CHECK_ERROR(err, AIGW_ERR_NULL_ARGUMENT);
    aigw_error_free(err);
    err = NULL;
    CHECK_STATUS(aigw_send_stream(gw, req, &cb, NULL, &err), AIGW_ERR_NULL_ARGUMENT);
    if (err != NULL)
        CHECK_ERROR(err, AIGW_ERR_NULL_ARGUMENT);
    aigw_error_free(err);
    CHECK_STATUS(aigw_send_stream(gw, req, NULL, NULL, NULL), AIGW_ERR_NULL_ARGUMENT);
    CHECK_STATUS(aigw_send_stream(NULL, NULL, NULL, NULL, NULL), AIGW_ERR_NULL_ARGUMENT);
    CHECKF(calls == 0, "%d callbacks ran", calls);

    /* Other failures leave *out untouched too. */
    {
        aigw_request *bad = h_request("POST", "nosuchprovider/chat", NULL, "{}");
        out = SENTINEL;
        err = NULL;
        CHECK_STATUS(aigw_send_stream(gw, bad, &cb, &out, &err), AIGW_ERR_UNKNOWN_PROVIDER);
        CHECK(out == SENTINEL);
        CHECK_ERROR(err, AIGW_ERR_UNKNOWN_PROVIDER);
        aigw_error_free(err);
        CHECK(calls == 0);
        aigw_request_free(bad);
    }
    aigw_request_free(req);
}


/* ---- a one-shot SSE server, for what the mock cannot send --------------
 * (ids, named events, multi-line data, comments, lone CR, CRLF split across
 * writes). Listens on 127.0.0.1 only, answers one request with a chunked
 * text/event-stream body written piece by piece, then closes. */

struct sse_server {
    int fd;
    int port;
    const char *const *pieces; /* NULL-terminated; each its own chunk + write */
    long pause_ms;             /* between pieces */
    pthread_t thread;
    int started;
};

static void pause_ms(long ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *sse_server_main(void *arg)
{
    struct sse_server *s = arg;
    char req[8192], chunk_head[32];
    size_t got = 0;
    long content_length = 0;
    const char *end = NULL, *cl;
    const char *const *piece;
    int one = 1, c = accept(s->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Read the head, then Content-Length bytes of body. */
    while (got < sizeof req - 1) {
        ssize_t r = read(c, req + got, sizeof req - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        req[got] = '\0';
        if (end == NULL && (end = strstr(req, "\r\n\r\n")) != NULL) {
            cl = strstr(req, "ontent-Length:");
            if (cl == NULL)
                cl = strstr(req, "ontent-length:");
            if (cl != NULL && cl < end)
                content_length = strtol(cl + 14, NULL, 10);
        }
        if (end != NULL && got >= (size_t)(end + 4 - req) + (size_t)content_length)
            break;
    }
    write_all(c,
              "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
              "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
              strlen("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"));
    for (piece = s->pieces; *piece != NULL; piece++) {
        size_t n = strlen(*piece);
        snprintf(chunk_head, sizeof chunk_head, "%zx\r\n", n);
        if (write_all(c, chunk_head, strlen(chunk_head)) != 0 || write_all(c, *piece, n) != 0 ||
            write_all(c, "\r\n", 2) != 0)
            break;
        if (s->pause_ms > 0 && piece[1] != NULL)
            pause_ms(s->pause_ms);
    }
    write_all(c, "0\r\n\r\n", 5);
    shutdown(c, SHUT_WR);
    /* Wait for the client to close, so the last bytes are not reset. */
    while (read(c, req, sizeof req) > 0)
        ;
    close(c);
    return NULL;
}

static int sse_server_start(struct sse_server *s, const char *const *pieces, long pause)
{
    struct sockaddr_in addr;
    socklen_t alen = sizeof addr;
    memset(s, 0, sizeof *s);
    s->pieces = pieces;
    s->pause_ms = pause;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!CHECK(s->fd >= 0) ||
        !CHECK(bind(s->fd, (struct sockaddr *)&addr, sizeof addr) == 0) ||
        !CHECK(listen(s->fd, 4) == 0) ||
        !CHECK(getsockname(s->fd, (struct sockaddr *)&addr, &alen) == 0)) {
        if (s->fd >= 0)
            close(s->fd);
        return -1;
    }
    s->port = ntohs(addr.sin_port);
    s->started = pthread_create(&s->thread, NULL, sse_server_main, s) == 0;
    if (!CHECK(s->started)) {
        close(s->fd);
        return -1;
    }
    return 0;
}

static void sse_server_stop(struct sse_server *s)
{
    if (s->started) {
        /* Unblock accept() if nobody came. */
        shutdown(s->fd, SHUT_RDWR);
        pthread_join(s->thread, NULL);
    }
    close(s->fd);
}

struct want_ev {
    const char *event, *data, *id;
};

static void run_crafted(const char *name, const char *const *pieces, long pause,
                        const struct want_ev *want, size_t nwant)
{
    struct sse_server srv;
    char config[256];
    aigw_gateway *gw = NULL;
    aigw_error *err = NULL;
    aigw_request *req;
    aigw_response *head;
    struct rec r;
    size_t i, total = 0;
    printf("  %s\n", name);
    if (sse_server_start(&srv, pieces, pause) != 0)
        return;
    snprintf(config, sizeof config,
             "{\"providers\":{\"custom-sse\":{\"base_url\":\"http://127.0.0.1:%d\"}}}", srv.port);
    if (!CHECKF(aigw_gateway_new(config, &gw, &err) == AIGW_OK, "%s", aigw_error_message(err))) {
        aigw_error_free(err);
        sse_server_stop(&srv);
        return;
    }
    req = h_request("POST", "custom-sse/events", NULL, "{}");
    rec_init(&r);
    head = STREAM_OK(gw, req, &r);
    check_head(head, 200, 0, 0, __LINE__);
    check_rec_head(&r, 200, 0, 0, __LINE__);
    for (i = 0; pieces[i] != NULL; i++)
        total += strlen(pieces[i]);
    CHECKF(r.len == total, "on_data delivered %zu bytes, the server sent %zu", r.len, total);
    CHECK(!r.event_before_data);
    check_events_match_bytes(&r, __LINE__);
    CHECKF(r.nev == nwant, "%zu events, want %zu", r.nev, nwant);
    for (i = 0; i < r.nev && i < nwant; i++) {
        CHECKF(strcmp(r.evs[i].event, want[i].event) == 0, "#%zu event \"%s\" want \"%s\"", i,
               r.evs[i].event, want[i].event);
        CHECKF(strcmp(r.evs[i].data, want[i].data) == 0, "#%zu data \"%s\" want \"%s\"", i,
               r.evs[i].data, want[i].data);
        CHECKF(strcmp(r.evs[i].id, want[i].id) == 0, "#%zu id \"%s\" want \"%s\"", i,
               r.evs[i].id, want[i].id);
    }
    aigw_response_free(head);
    rec_free(&r);
    aigw_request_free(req);
    aigw_gateway_free(gw);
    sse_server_stop(&srv);
}

static void test_crafted_sse(void)
{
    static const char *const body[] = {
        ": a comment\n"
        "retry: 1000\n"
        "event: greeting\n"
        "id: 7\n"
        "data: line one\n"
        "data: line two\n"
        "\n",
        "data: the id carries over\n\n",
        "id\n"
        "data: id reset\n\n",
        "event: ping\n"
        "data:\n\n",
        "data:no-space\n\n",
        "data:  two spaces\n\n",
        "data: lone CR\r\r",
        "data: CRLF\r\ndata: joined\r\n\r\n",
        "data: unterminated at EOF, never dispatched\n",
        NULL,
    };
    static const struct want_ev want[] = {
        {"greeting", "line one\nline two", "7"},
        {"message", "the id carries over", "7"},
        {"message", "id reset", ""},
        {"ping", "", ""},
        {"message", "no-space", ""},
        {"message", " two spaces", ""},
        {"message", "lone CR", ""},
        {"message", "CRLF\njoined", ""},
    };
    /* Line endings split across reads: a CR ending one write and its LF
     * starting the next are one line ending, not two. */
    static const char *const split[] = {
        "data: a\r", "\ndata: b\r", "\n\r", "\nevent: e", "v\ndata: c", "\r\n", "\r\n", NULL,
    };
    static const struct want_ev want_split[] = {
        {"message", "a\nb", ""},
        {"ev", "c", ""},
    };
    h_section("SSE parsing: ids, names, multi-line data, comments, CR/LF/CRLF");
    run_crafted("one write per event", body, 0, want, sizeof want / sizeof want[0]);
    run_crafted("events written 15 ms apart", body, 15, want, sizeof want / sizeof want[0]);
    run_crafted("CR | LF split across writes", split, 30, want_split,
                sizeof want_split / sizeof want_split[0]);
}

/* ---- threads ---------------------------------------------------------- */

#define STREAM_THREADS 6

struct worker {
    const aigw_gateway *gw;
    int index;
    int rounds_ok;
};

static void *stream_worker(void *arg)
{
    struct worker *w = arg;
    int round;
    for (round = 0; round < 3; round++) {
        char directives[64];
        int events = 20 + w->index * 7 + round;
        aigw_request *req;
        struct rec r;
        aigw_response *head;
        snprintf(directives, sizeof directives, "stream,events=%d,delay_ms=2", events);
        req = stream_request(directives);
        rec_init(&r);
        head = STREAM_OK(w->gw, req, &r);
        if (CHECKF(head != NULL && r.nev == (size_t)events + 1 && r.done_seen &&
                       r.n_response == 1 && !r.event_before_data && !r.off_thread,
                   "thread %d round %d: %zu events, want %d", w->index, round, r.nev,
                   events + 1)) {
            check_events_match_bytes(&r, __LINE__);
            w->rounds_ok++;
        }
        aigw_response_free(head);
        rec_free(&r);
        aigw_request_free(req);
    }
    return NULL;
}

static void test_threads(aigw_gateway *gw)
{
    pthread_t t[STREAM_THREADS];
    struct worker w[STREAM_THREADS];
    int i, started[STREAM_THREADS];
    h_section("6 threads streaming through one gateway at once");
    for (i = 0; i < STREAM_THREADS; i++) {
        w[i].gw = gw;
        w[i].index = i;
        w[i].rounds_ok = 0;
        started[i] = pthread_create(&t[i], NULL, stream_worker, &w[i]) == 0;
        CHECK(started[i]);
    }
    for (i = 0; i < STREAM_THREADS; i++) {
        if (started[i])
            pthread_join(t[i], NULL);
        CHECKF(w[i].rounds_ok == 3, "thread %d: %d/3 streams ok", i, w[i].rounds_ok);
    }
}

int main(void)
{
    aigw_gateway *gw = h_gateway(NULL);
    if (gw != NULL) {
        test_five_events(gw);
        test_universal_stream_head(gw);
        test_big_stream(gw);
        test_byte_per_write_crlf(gw);
        test_null_callbacks(gw);
        test_non_sse(gw);
        test_universal_fallback(gw);
        test_universal_all_fail(gw);
        test_abort(gw);
        test_null_arguments(gw);
        test_threads(gw);
    }
    test_crafted_sse();
    test_after_commit();
    aigw_gateway_free(gw);
    return h_finish();
}
