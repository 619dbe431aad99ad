/*
 * stream_chat: stream a chat completion through aigw and print the tokens as
 * they arrive. Ctrl-C cancels the request cleanly.
 *
 *   stream_chat [BASE_URL [API_KEY [MODEL]]]
 *
 * BASE_URL defaults to $AIGW_MOCK_URL/v1 (the project's mock provider, which
 * streams when the body has "stream": true). The built-in `openai` provider
 * is pointed at BASE_URL, so any OpenAI-compatible server works, e.g.
 *
 *   stream_chat https://api.openai.com/v1 "$OPENAI_API_KEY" gpt-4o-mini
 *
 * API_KEY defaults to "sk-demo", MODEL to "gpt-4o-mini".
 *
 * Each SSE event's data is a `chat.completion.chunk`; this pulls out
 * `choices[0].delta.content` with a small string search (no JSON library)
 * and stops printing at `data: [DONE]`. SIGINT (Ctrl-C) calls
 * aigw_cancel_trigger(), which is async-signal-safe, so the blocked
 * aigw_send_stream() returns AIGW_ERR_CANCELLED promptly.
 *
 * Prints the serving HTTP status at the end. Exit status: 0 on a complete
 * 2xx stream, 130 when cancelled, 2 on bad usage, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aigw.h"

/* ---- Ctrl-C ------------------------------------------------------------ */

/* Set before the handler is installed and cleared only after it is removed,
 * so the handler never sees a freed handle. */
static aigw_cancel *g_cancel;

static void on_sigint(int sig)
{
    (void)sig;
    aigw_cancel_trigger(g_cancel); /* async-signal-safe: one atomic store */
}

/* ---- tiny JSON helpers --------------------------------------------------- */

/* Appends `s` to dst as the inside of a JSON string. Returns 0, or -1 when
 * it does not fit. */
static int json_escape(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(dst);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char tmp[8];
        size_t k;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            tmp[2] = '\0';
        } else if (c < 0x20) {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
        } else {
            tmp[0] = (char)c;
            tmp[1] = '\0';
        }
        k = strlen(tmp);
        if (n + k + 1 > cap)
            return -1;
        memcpy(dst + n, tmp, k + 1);
        n += k;
    }
    return 0;
}

static int hex4(const char *p, const char *end, unsigned *out)
{
    unsigned v = 0;
    int i;
    if (end - p < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static void put_utf8(unsigned cp, FILE *f)
{
    if (cp < 0x80) {
        fputc((int)cp, f);
    } else if (cp < 0x800) {
        fputc((int)(0xC0 | (cp >> 6)), f);
        fputc((int)(0x80 | (cp & 0x3F)), f);
    } else if (cp < 0x10000) {
        fputc((int)(0xE0 | (cp >> 12)), f);
        fputc((int)(0x80 | ((cp >> 6) & 0x3F)), f);
        fputc((int)(0x80 | (cp & 0x3F)), f);
    } else {
        fputc((int)(0xF0 | (cp >> 18)), f);
        fputc((int)(0x80 | ((cp >> 12) & 0x3F)), f);
        fputc((int)(0x80 | ((cp >> 6) & 0x3F)), f);
        fputc((int)(0x80 | (cp & 0x3F)), f);
    }
}

/* Finds `"key"` in [p, end) followed (after blanks) by ':'; returns the
 * first byte of its value, or NULL. Good enough for the flat, well-formed
 * chunks providers send; not a general JSON parser. */
static const char *find_key(const char *p, const char *end, const char *key)
{
    size_t klen = strlen(key);
    for (; p + klen + 2 <= end; p++) {
        const char *q;
        if (*p != '"' || memcmp(p + 1, key, klen) != 0 || p[1 + klen] != '"')
            continue;
        q = p + 2 + klen;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
            q++;
        if (q < end && *q == ':') {
            q++;
            while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
                q++;
            return q;
        }
    }
    return NULL;
}

/* Prints the JSON string starting at p (at its opening quote), unescaped.
 * Returns the number of bytes printed, or -1 if p is not a string. */
static long print_json_string(const char *p, const char *end, FILE *f)
{
    long printed = 0;
    if (p >= end || *p != '"')
        return -1;
    for (p++; p < end && *p != '"'; p++) {
        if (*p != '\\') {
            fputc((unsigned char)*p, f);
            printed++;
            continue;
        }
        if (++p >= end)
            break;
        switch (*p) {
        case 'n': fputc('\n', f); break;
        case 't': fputc('\t', f); break;
        case 'r': fputc('\r', f); break;
        case 'b': fputc('\b', f); break;
        case 'f': fputc('\f', f); break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(p + 1, end, &cp) != 0)
                return printed;
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && end - p > 6 && p[1] == '\\' && p[2] == 'u' &&
                hex4(p + 3, end, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
            put_utf8(cp, f);
            break;
        }
        default: fputc((unsigned char)*p, f); break; /* \" \\ \/ */
        }
        printed++;
    }
    return printed;
}

/* ---- the stream ------------------------------------------------------- */

struct chat {
    unsigned status;
    int is_sse;
    int done;
    long events;
    long chars;
};

static int on_response(void *userdata, const aigw_response *head)
{
    struct chat *c = userdata;
    const char *ct = aigw_response_header(head, "content-type");
    c->status = aigw_response_status(head);
    c->is_sse = ct != NULL && strstr(ct, "text/event-stream") != NULL;
    if (c->status < 200 || c->status > 299)
        fprintf(stderr, "stream_chat: upstream answered HTTP %u:\n", c->status);
    return 0;
}

/* Non-SSE bodies (an error answer, or a server that ignored "stream")
 * are shown as they are. */
static int on_data(void *userdata, const uint8_t *data, size_t len)
{
    struct chat *c = userdata;
    if (!c->is_sse)
        fwrite(data, 1, len, (c->status >= 200 && c->status <= 299) ? stdout : stderr);
    return 0;
}

static int on_event(void *userdata, const aigw_sse_event *ev)
{
    struct chat *c = userdata;
    const char *p = ev->data, *end = ev->data + ev->data_len, *v;
    long n;
    c->events++;
    if (c->done)
        return 0;
    if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
        c->done = 1;
        return 0;
    }
    if (ev->event_len == 5 && memcmp(ev->event, "error", 5) == 0) {
        fprintf(stderr, "\nstream_chat: error event: %.*s\n", (int)ev->data_len, ev->data);
        return 0;
    }
    /* choices[0].delta.content: the first "delta" after "choices", then its
     * "content" (null for role-only or finish chunks). */
    if ((p = find_key(p, end, "choices")) == NULL || (p = find_key(p, end, "delta")) == NULL ||
        (v = find_key(p, end, "content")) == NULL)
        return 0;
    n = print_json_string(v, end, stdout);
    if (n > 0) {
        c->chars += n;
        fflush(stdout);
    }
    return 0;
}

static int copy_base_url(char *dst, size_t cap, const char *src, const char *suffix)
{
    size_t n = strlen(src);
    while (n > 0 && src[n - 1] == '/')
        n--;
    if (n == 0 || n + strlen(suffix) >= cap)
        return -1;
    memcpy(dst, src, n);
    strcpy(dst + n, suffix);
    return 0;
}

static int fail(const char *what, aigw_status st, aigw_error *err)
{
    fprintf(stderr, "stream_chat: %s failed: %s (%d): %s\n", what, aigw_status_str((int)st),
            (int)st, err ? aigw_error_message(err) : "(no detail)");
    aigw_error_free(err);
    return 1;
}

int main(int argc, char **argv)
{
    const char *mock = getenv("AIGW_MOCK_URL");
    const char *key = argc > 2 ? argv[2] : "sk-demo";
    const char *model = argc > 3 ? argv[3] : "gpt-4o-mini";
    char base[1024], config[2048], body[2048], auth[1024];
    aigw_gateway *gw = NULL;
    aigw_request *req = NULL;
    aigw_response *head = NULL;
    aigw_error *err = NULL;
    aigw_stream_callbacks cb;
    struct chat chat;
    struct sigaction sa, old_sa;
    aigw_status st;
    int rc;

    if (argc > 4 || (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
        fprintf(stderr, "usage: %s [BASE_URL [API_KEY [MODEL]]]\n"
                        "  BASE_URL defaults to $AIGW_MOCK_URL/v1\n", argv[0]);
        return 2;
    }
    if ((argc > 1 ? copy_base_url(base, sizeof base, argv[1], "")
                  : mock != NULL ? copy_base_url(base, sizeof base, mock, "/v1") : -1) != 0) {
        fprintf(stderr, "usage: %s [BASE_URL [API_KEY [MODEL]]]\n"
                        "  (no BASE_URL given and AIGW_MOCK_URL is not set)\n", argv[0]);
        return 2;
    }

    strcpy(config, "{\"providers\":{\"openai\":{\"base_url\":\"");
    strcpy(body, "{\"model\":\"");
    if (json_escape(config, sizeof config - 8, base) != 0 ||
        json_escape(body, sizeof body - 128, model) != 0 ||
        (size_t)snprintf(auth, sizeof auth, "Bearer %s", key) >= sizeof auth) {
        fprintf(stderr, "stream_chat: argument too long\n");
        return 2;
    }
    strcat(config, "\"}}}");
    strcat(body, "\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                 "\"content\":\"Say hello from aigw.\"}]}");

    st = aigw_gateway_new(config, &gw, &err);
    if (st != AIGW_OK)
        return fail("aigw_gateway_new", st, err);
    if ((st = aigw_request_new("POST", "openai/chat/completions", &req)) != AIGW_OK ||
        (st = aigw_request_set_header(req, "Authorization", auth)) != AIGW_OK ||
        (st = aigw_request_set_header(req, "Content-Type", "application/json")) != AIGW_OK ||
        (st = aigw_request_set_header(req, "Accept", "text/event-stream")) != AIGW_OK ||
        (st = aigw_request_set_body(req, (const uint8_t *)body, strlen(body))) != AIGW_OK) {
        aigw_request_free(req);
        aigw_gateway_free(gw);
        return fail("building the request", st, NULL);
    }
    memset(auth, 0, sizeof auth); /* the request has its own copy */

    /* Ctrl-C -> cancel. */
    g_cancel = aigw_cancel_new();
    if (g_cancel == NULL || aigw_request_set_cancel(req, g_cancel) != AIGW_OK) {
        aigw_cancel_free(g_cancel);
        aigw_request_free(req);
        aigw_gateway_free(gw);
        fprintf(stderr, "stream_chat: could not set up the cancel handle\n");
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGINT, &sa, &old_sa) != 0) {
        perror("stream_chat: sigaction");
        aigw_cancel_free(g_cancel);
        aigw_request_free(req);
        aigw_gateway_free(gw);
        return 1;
    }

    memset(&chat, 0, sizeof chat);
    cb.userdata = &chat;
    cb.on_response = on_response;
    cb.on_data = on_data;
    cb.on_event = on_event;
    fprintf(stderr, "stream_chat: POST %s/chat/completions (model %s), Ctrl-C to cancel\n",
            base, model);
    st = aigw_send_stream(gw, req, &cb, &head, &err);

    /* Uninstall the handler before the handle goes away. */
    sigaction(SIGINT, &old_sa, NULL);
    aigw_request_free(req);
    aigw_cancel_free(g_cancel);
    g_cancel = NULL;

    printf("\n");
    fflush(stdout);
    if (chat.status != 0 && !chat.is_sse && (chat.status < 200 || chat.status > 299))
        fputc('\n', stderr); /* after the error body */
    if (st == AIGW_OK) {
        printf("-- HTTP %u, %ld events, %ld characters%s\n", (unsigned)aigw_response_status(head),
               chat.events, chat.chars, chat.is_sse && !chat.done ? ", no [DONE]" : "");
        rc = aigw_response_status(head) >= 200 && aigw_response_status(head) <= 299 ? 0 : 1;
        aigw_response_free(head);
    } else if (st == AIGW_ERR_CANCELLED) {
        if (chat.status != 0)
            printf("-- HTTP %u, cancelled after %ld events\n", chat.status, chat.events);
        else
            printf("-- cancelled before a response\n");
        fflush(stdout);
        fprintf(stderr, "stream_chat: cancelled\n");
        aigw_error_free(err);
        rc = 130;
    } else {
        if (chat.status != 0)
            printf("-- HTTP %u, stopped after %ld events\n", chat.status, chat.events);
        fflush(stdout);
        rc = fail("aigw_send_stream", st, err);
    }
    fflush(stdout);
    aigw_gateway_free(gw);
    return rc;
}
