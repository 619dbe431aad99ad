/* The unified API and stored provider keys from C, against the mock's
 * Anthropic and Gemini dialects (AIGW_MOCK_URL). */
#include "harness.h"

#define CHAT(model, extra)                                                             \
    "{\"model\":\"" model "\"" extra ",\"messages\":[{\"role\":\"user\",\"content\":" \
    "\"hi\"}]}"

static aigw_gateway *compat_gateway(const char *extra)
{
    char config[2048];
    aigw_gateway *gw = NULL;
    aigw_error *err = NULL;
    const char *u = h_mock_url();
    snprintf(config, sizeof config,
             "{\"providers\":{\"anthropic\":{\"base_url\":\"%s\"%s},"
             "\"google-ai-studio\":{\"base_url\":\"%s\"},\"openai\":{\"base_url\":\"%s/v1\"}}}",
             u, extra ? extra : "", u, u);
    CHECK_STATUS(aigw_gateway_new(config, &gw, &err), AIGW_OK);
    if (err)
        fprintf(stderr, "gateway: %s\n", aigw_error_message(err));
    aigw_error_free(err);
    return gw;
}

struct stream_rec {
    int events;
    int done_last;
    size_t bytes;
    size_t event_bytes;
};

static int on_data(void *u, const uint8_t *d, size_t n)
{
    struct stream_rec *r = u;
    (void)d;
    r->bytes += n;
    return 0;
}

static int on_event(void *u, const aigw_sse_event *ev)
{
    struct stream_rec *r = u;
    r->events++;
    /* "data: " + data + "\n\n" for OpenAI chunks. */
    r->event_bytes += 6 + ev->data_len + 2;
    r->done_last = ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0;
    return 0;
}

static void test_chat_to_anthropic(void)
{
    h_section("compat/chat/completions to anthropic");
    aigw_gateway *gw = compat_gateway(NULL);
    const char *hdrs[] = {"Authorization", "Bearer sk-c", NULL};
    aigw_request *req = h_request("POST", "compat/chat/completions", hdrs,
                                  CHAT("anthropic/claude-3-5-haiku", ""));
    aigw_response *r = SEND_OK(gw, req);
    if (r) {
        char *body = h_body(r);
        CHECK(aigw_response_status(r) == 200);
        CHECK(aigw_response_header(r, "cf-aig-provider") != NULL &&
              strcmp(aigw_response_header(r, "cf-aig-provider"), "anthropic") == 0);
        CHECK(aigw_response_header(r, "cf-aig-model") != NULL &&
              strcmp(aigw_response_header(r, "cf-aig-model"), "claude-3-5-haiku") == 0);
        CHECK_CONTAINS(body, "\"object\":\"chat.completion\"");
        CHECK_CONTAINS(body, "Hello from the aigw mock.");
        CHECK_CONTAINS(body, "\"finish_reason\":\"stop\"");
        free(body);
    }
    aigw_response_free(r);
    aigw_request_free(req);
    aigw_gateway_free(gw);
}

static void test_refusals(void)
{
    h_section("refused before upstream contact");
    aigw_gateway *gw = compat_gateway(NULL);
    struct {
        const char *body;
        long want;
        const char *needle;
    } cases[] = {
        {CHAT("claude-3-5-haiku", ""), AIGW_ERR_INVALID_REQUEST, "provider"},
        {CHAT("nosuch/model", ""), AIGW_ERR_UNKNOWN_PROVIDER, "nosuch"},
        {CHAT("anthropic/c", ",\"n\":2"), AIGW_ERR_INVALID_REQUEST, "\"n\""},
        {"{\"model\":\"anthropic/c\"", AIGW_ERR_INVALID_REQUEST, "JSON"},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        aigw_request *req = h_request("POST", "compat/chat/completions", NULL, cases[i].body);
        aigw_error *err = SEND_FAIL(gw, req, cases[i].want);
        CHECK_CONTAINS(err ? aigw_error_message(err) : NULL, cases[i].needle);
        aigw_error_free(err);
        aigw_request_free(req);
    }
    aigw_gateway_free(gw);
}

static void test_stream_from_gemini(void)
{
    h_section("streamed from google-ai-studio");
    aigw_gateway *gw = compat_gateway(NULL);
    const char *hdrs[] = {"x-mock", "events=4", NULL};
    aigw_request *req = h_request("POST", "compat/chat/completions", hdrs,
                                  CHAT("google-ai-studio/gemini-2.0-flash", ",\"stream\":true"));
    struct stream_rec rec = {0, 0, 0, 0};
    aigw_stream_callbacks cb = {&rec, NULL, on_data, on_event};
    aigw_response *head = NULL;
    aigw_error *err = NULL;
    CHECK_STATUS(aigw_send_stream(gw, req, &cb, &head, &err), AIGW_OK);
    if (head) {
        const char *ct = aigw_response_header(head, "content-type");
        CHECK(ct != NULL && strcmp(ct, "text/event-stream") == 0);
    }
    /* role chunk, 4 text chunks, finish chunk, [DONE] */
    CHECKF(rec.events == 7, "%d events", rec.events);
    CHECK(rec.done_last);
    CHECKF(rec.bytes == rec.event_bytes, "%zu bytes for %zu in events", rec.bytes,
           rec.event_bytes);
    aigw_response_free(head);
    aigw_error_free(err);
    aigw_request_free(req);

    /* A stream that ends before Gemini's final finishReason. */
    const char *cut[] = {"x-mock", "no_end", NULL};
    req = h_request("POST", "compat/chat/completions", cut,
                    CHAT("google-ai-studio/gemini-2.0-flash", ",\"stream\":true"));
    memset(&rec, 0, sizeof rec);
    head = SENTINEL;
    err = NULL;
    CHECK_STATUS(aigw_send_stream(gw, req, &cb, &head, &err), AIGW_ERR_STREAM_INTERRUPTED);
    CHECK(head == SENTINEL);
    CHECK_ERROR(err, AIGW_ERR_STREAM_INTERRUPTED);
    CHECK(!rec.done_last);
    aigw_error_free(err);
    aigw_request_free(req);
    aigw_gateway_free(gw);
}

static void test_messages_and_errors(void)
{
    h_section("compat/messages and upstream errors");
    aigw_gateway *gw = compat_gateway(NULL);
    const char *hdrs[] = {"x-api-key", "sk-ant", NULL};
    aigw_request *req = h_request(
        "POST", "compat/v1/messages", hdrs,
        "{\"model\":\"google-ai-studio/gemini-2.0-flash\",\"max_tokens\":20,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    aigw_response *r = SEND_OK(gw, req);
    if (r) {
        char *body = h_body(r);
        CHECK_CONTAINS(body, "\"type\":\"message\"");
        CHECK_CONTAINS(body, "\"stop_reason\":\"end_turn\"");
        free(body);
    }
    aigw_response_free(r);
    aigw_request_free(req);

    const char *fail[] = {"x-mock", "status=429", NULL};
    req = h_request("POST", "compat/chat/completions", fail, CHAT("anthropic/c", ""));
    r = SEND_OK(gw, req);
    if (r) {
        char *body = h_body(r);
        CHECK(aigw_response_status(r) == 429);
        CHECK_CONTAINS(body, "\"error\":{");
        CHECK_CONTAINS(body, "mock status 429");
        free(body);
    }
    aigw_response_free(r);
    aigw_request_free(req);
    aigw_gateway_free(gw);
}

static void test_stored_keys(void)
{
    h_section("stored provider keys");
    aigw_gateway *gw = compat_gateway(",\"api_key\":\"ant-stored-secret\"");
    const char *echo[] = {"x-mock", "echo", "anthropic-version", "2023-06-01", NULL};
    aigw_request *req = h_request("POST", "anthropic/v1/messages", echo, "{}");
    aigw_response *r = SEND_OK(gw, req);
    if (r) {
        char *body = h_body(r);
        CHECK_CONTAINS(body, "[\"x-api-key\",\"ant-stored-secret\"]");
        free(body);
    }
    aigw_response_free(r);
    aigw_request_free(req);

    /* The request's own key wins. */
    const char *own[] = {"x-mock", "echo", "x-api-key", "mine", NULL};
    req = h_request("POST", "anthropic/v1/messages", own, "{}");
    r = SEND_OK(gw, req);
    if (r) {
        char *body = h_body(r);
        CHECK_CONTAINS(body, "[\"x-api-key\",\"mine\"]");
        CHECK_NOT_CONTAINS(body, "ant-stored-secret");
        free(body);
    }
    aigw_response_free(r);
    aigw_request_free(req);
    aigw_gateway_free(gw);

    aigw_gateway *none = SENTINEL;
    aigw_error *err = NULL;
    CHECK_STATUS(aigw_gateway_new("{\"providers\":{\"anthropic\":{\"api_key_env\":"
                                  "\"AIGW_C_TEST_UNSET_VARIABLE\"}}}",
                                  &none, &err),
                 AIGW_ERR_INVALID_CONFIG);
    CHECK(none == SENTINEL);
    CHECK_ERROR(err, AIGW_ERR_INVALID_CONFIG);
    CHECK_CONTAINS(err ? aigw_error_message(err) : NULL, "AIGW_C_TEST_UNSET_VARIABLE");
    aigw_error_free(err);
}

int main(void)
{
    test_chat_to_anthropic();
    test_refusals();
    test_stream_from_gemini();
    test_messages_and_errors();
    test_stored_keys();
    return h_finish();
}
