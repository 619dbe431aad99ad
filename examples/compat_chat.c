/*
 * compat_chat: one request format for every provider, streamed, with
 * fallback from anthropic to google-ai-studio.
 *
 *   compat_chat [MOCK_URL]   (default: $AIGW_MOCK_URL)
 *
 * The program speaks only OpenAI Chat Completions. A Universal request holds
 * two `compat` steps: step 0 asks anthropic/claude-3-5-haiku (the config
 * points anthropic at MOCK_URL/_mock/status=529, an overloaded upstream),
 * step 1 asks google-ai-studio/gemini-2.0-flash (the mock's Gemini dialect).
 * The gateway translates each step to its provider's own API, falls back
 * from step 0 to step 1, and streams Gemini's answer back as
 * chat.completion.chunk events. The program prints the text as it arrives
 * and exits 0 only if step 1 served it and the stream ended with [DONE].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aigw.h"

struct progress {
    int chunks;
    int done;
};

static const char *error_text(const aigw_error *err)
{
    const char *msg = err ? aigw_error_message(err) : NULL;
    return msg ? msg : "(no detail)";
}

static int report(const char *what, aigw_status st, aigw_error *err)
{
    fprintf(stderr, "compat_chat: %s failed: %s (%d): %s\n", what, aigw_status_str((int)st),
            (int)st, error_text(err));
    aigw_error_free(err);
    return 1;
}

static int copy_base_url(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    size_t i;
    while (n > 0 && src[n - 1] == '/')
        n--;
    if (n == 0 || n >= cap)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c < 0x20 || c == '"' || c == '\\')
            return -1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

/* Prints the "content":"..." of a chunk (a real program would use a JSON
 * parser; the mock's text has no escapes). */
static void print_content(const char *data, size_t len)
{
    static const char key[] = "\"content\":\"";
    const char *end = data + len;
    const char *p = data;
    while ((size_t)(end - p) >= sizeof key - 1) {
        if (memcmp(p, key, sizeof key - 1) == 0) {
            const char *q = p + sizeof key - 1;
            const char *stop = q;
            while (stop < end && *stop != '"')
                stop++;
            fwrite(q, 1, (size_t)(stop - q), stdout);
            fflush(stdout);
            return;
        }
        p++;
    }
}

static int on_event(void *userdata, const aigw_sse_event *ev)
{
    struct progress *pr = userdata;
    if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
        pr->done = 1;
        return 0;
    }
    pr->chunks++;
    print_content(ev->data, ev->data_len);
    return 0;
}

int main(int argc, char **argv)
{
    const char *arg = argc > 1 ? argv[1] : getenv("AIGW_MOCK_URL");
    char base[512];
    char config[1536];
    static const char steps[] =
        "["
        "{\"provider\":\"compat\",\"endpoint\":\"chat/completions\","
        "\"authorization\":\"Bearer sk-ant-demo\","
        "\"query\":{\"model\":\"anthropic/claude-3-5-haiku\",\"stream\":true,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"Count to five\"}]}},"
        "{\"provider\":\"compat\",\"endpoint\":\"chat/completions\","
        "\"authorization\":\"Bearer goog-demo\","
        "\"query\":{\"model\":\"google-ai-studio/gemini-2.0-flash\",\"stream\":true,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"Count to five\"}]}}"
        "]";
    struct progress pr = {0, 0};
    aigw_stream_callbacks cb;
    aigw_gateway *gw = NULL;
    aigw_request *req = NULL;
    aigw_response *head = NULL;
    aigw_error *err = NULL;
    aigw_status st;
    const char *provider;
    int32_t step;
    int ok;

    if (arg == NULL || copy_base_url(base, sizeof base, arg) != 0) {
        fprintf(stderr, "usage: %s MOCK_URL   (or set AIGW_MOCK_URL)\n", argv[0]);
        return 2;
    }
    snprintf(config, sizeof config,
             "{\"providers\":{"
             "\"anthropic\":{\"base_url\":\"%s/_mock/status=529\"},"
             "\"google-ai-studio\":{\"base_url\":\"%s\"}}}",
             base, base);

    st = aigw_gateway_new(config, &gw, &err);
    if (st != AIGW_OK)
        return report("aigw_gateway_new", st, err);
    st = aigw_request_new("POST", "", &req);
    if (st != AIGW_OK) {
        aigw_gateway_free(gw);
        return report("aigw_request_new", st, NULL);
    }
    st = aigw_request_set_body(req, (const uint8_t *)steps, sizeof steps - 1);
    if (st != AIGW_OK) {
        aigw_request_free(req);
        aigw_gateway_free(gw);
        return report("aigw_request_set_body", st, NULL);
    }

    memset(&cb, 0, sizeof cb);
    cb.userdata = &pr;
    cb.on_event = on_event;
    st = aigw_send_stream(gw, req, &cb, &head, &err);
    aigw_request_free(req);
    if (st != AIGW_OK) {
        aigw_gateway_free(gw);
        return report("aigw_send_stream", st, err);
    }
    step = aigw_response_step(head);
    provider = aigw_response_header(head, "cf-aig-provider");
    printf("\nHTTP %u, %d chunks, served by step %d (%s)%s\n",
           (unsigned)aigw_response_status(head), pr.chunks, (int)step,
           provider ? provider : "?", pr.done ? ", ended with [DONE]" : "");
    ok = aigw_response_status(head) == 200 && step == 1 && provider != NULL &&
         strcmp(provider, "google-ai-studio") == 0 && pr.done && pr.chunks > 0;
    aigw_response_free(head);
    aigw_gateway_free(gw);
    return ok ? 0 : 1;
}
