/* "model": "dynamic/<route>" through the unified API from C, against the
 * mock (AIGW_MOCK_URL): fallback across dialects, a routed stream, a route
 * budget refusing, an unknown route, and the log record's route fields. */
#include "harness.h"

#define CHAT(model, extra)                                                             \
    "{\"model\":\"" model "\"" extra ",\"messages\":[{\"role\":\"user\",\"content\":" \
    "\"hi\"}]}"

/* anthropic always answers 503; google-ai-studio and openai are healthy. */
static aigw_gateway *route_gateway(void)
{
    char config[4096];
    aigw_gateway *gw = NULL;
    aigw_error *err = NULL;
    const char *u = h_mock_url();
    snprintf(config, sizeof config,
             "{\"providers\":{\"anthropic\":{\"base_url\":\"%s/_mock/status=503\"},"
             "\"google-ai-studio\":{\"base_url\":\"%s\"},\"openai\":{\"base_url\":\"%s/v1\"}},"
             "\"routes\":{"
             "\"r\":{\"elements\":["
             "{\"id\":\"start\",\"type\":\"start\",\"outputs\":{\"next\":{\"elementId\":\"a\"}}},"
             "{\"id\":\"a\",\"type\":\"model\",\"properties\":{\"provider\":\"anthropic\","
             "\"model\":\"claude-3-5-haiku\"},\"outputs\":{\"success\":{\"elementId\":\"end\"},"
             "\"fallback\":{\"elementId\":\"g\"}}},"
             "{\"id\":\"g\",\"type\":\"model\",\"properties\":{\"provider\":\"google-ai-studio\","
             "\"model\":\"gemini-2.0-flash\"},\"outputs\":{\"success\":{\"elementId\":\"end\"}}},"
             "{\"id\":\"end\",\"type\":\"end\"}]},"
             "\"budget\":{\"elements\":["
             "{\"id\":\"start\",\"type\":\"start\",\"outputs\":{\"next\":{\"elementId\":\"b\"}}},"
             "{\"id\":\"b\",\"type\":\"rate_limit\",\"properties\":{\"limitType\":\"count\","
             "\"limit\":1,\"interval\":3600},\"outputs\":{\"success\":{\"elementId\":\"o\"}}},"
             "{\"id\":\"o\",\"type\":\"model\",\"properties\":{\"provider\":\"openai\","
             "\"model\":\"gpt-4o-mini\"},\"outputs\":{\"success\":{\"elementId\":\"end\"}}},"
             "{\"id\":\"end\",\"type\":\"end\"}]}}}",
             u, u, u);
    CHECK_STATUS(aigw_gateway_new(config, &gw, &err), AIGW_OK);
    if (err)
        fprintf(stderr, "gateway: %s\n", aigw_error_message(err));
    aigw_error_free(err);
    return gw;
}

static int header_is(const aigw_response *r, const char *name, const char *want)
{
    const char *v = aigw_response_header(r, name);
    return v != NULL && strcmp(v, want) == 0;
}

static void test_fallback_across_dialects(aigw_gateway *gw)
{
    h_section("dynamic/r falls back from anthropic (503) to google-ai-studio");
    const char *hdrs[] = {"Authorization", "Bearer sk-c", NULL};
    aigw_request *req = h_request("POST", "compat/chat/completions", hdrs, CHAT("dynamic/r", ""));
    aigw_response *r = SEND_OK(gw, req);
    if (r) {
        char *body = h_body(r);
        CHECK(aigw_response_status(r) == 200);
        CHECK(header_is(r, "cf-aig-route", "r"));
        CHECK(header_is(r, "cf-aig-provider", "google-ai-studio"));
        CHECK(header_is(r, "cf-aig-model", "gemini-2.0-flash"));
        CHECK_CONTAINS(body, "\"object\":\"chat.completion\"");
        CHECK_CONTAINS(body, "Hello from the aigw mock.");
        free(body);
    }
    aigw_response_free(r);
    aigw_request_free(req);

    char *logs = NULL;
    CHECK_STATUS(aigw_gateway_logs(gw, NULL, &logs), AIGW_OK);
    CHECK_CONTAINS(logs, "\"route\":\"r\"");
    CHECK_CONTAINS(logs, "\"route_elements\":[\"start\",\"a\",\"g\",\"end\"]");
    aigw_string_free(logs);
}

struct stream_rec {
    int events;
    int done_last;
};

static int on_data(void *u, const uint8_t *d, size_t n)
{
    (void)u;
    (void)d;
    (void)n;
    return 0;
}

static int on_event(void *u, const aigw_sse_event *ev)
{
    struct stream_rec *r = u;
    r->events++;
    r->done_last = ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0;
    return 0;
}

static void test_routed_stream(aigw_gateway *gw)
{
    h_section("a routed stream");
    aigw_request *req =
        h_request("POST", "compat/chat/completions", NULL, CHAT("dynamic/r", ",\"stream\":true"));
    struct stream_rec rec = {0, 0};
    aigw_stream_callbacks cb = {&rec, NULL, on_data, on_event};
    aigw_response *head = NULL;
    aigw_error *err = NULL;
    CHECK_STATUS(aigw_send_stream(gw, req, &cb, &head, &err), AIGW_OK);
    if (head) {
        CHECK(aigw_response_status(head) == 200);
        CHECK(header_is(head, "cf-aig-route", "r"));
        CHECK(header_is(head, "cf-aig-provider", "google-ai-studio"));
        CHECK(header_is(head, "content-type", "text/event-stream"));
    }
    /* role chunk, 5 text chunks, finish chunk, [DONE] */
    CHECKF(rec.events == 8, "%d events", rec.events);
    CHECK(rec.done_last);
    aigw_response_free(head);
    aigw_error_free(err);
    aigw_request_free(req);
}

static void test_budget_and_unknown_route(aigw_gateway *gw)
{
    h_section("a spent route budget and an unknown route are refused");
    aigw_request *req = h_request("POST", "compat/chat/completions", NULL, CHAT("dynamic/budget", ""));
    aigw_response *r = SEND_OK(gw, req);
    if (r)
        CHECK(header_is(r, "cf-aig-model", "gpt-4o-mini"));
    aigw_response_free(r);
    aigw_error *err = SEND_FAIL(gw, req, AIGW_ERR_RATE_LIMITED);
    CHECK_CONTAINS(err ? aigw_error_message(err) : NULL, "route budget: element b");
    aigw_error_free(err);
    aigw_request_free(req);

    req = h_request("POST", "compat/chat/completions", NULL, CHAT("dynamic/missing", ""));
    err = SEND_FAIL(gw, req, AIGW_ERR_UNKNOWN_PROVIDER);
    CHECK_CONTAINS(err ? aigw_error_message(err) : NULL, "\"missing\"");
    aigw_error_free(err);
    aigw_request_free(req);
}

int main(void)
{
    aigw_gateway *gw = route_gateway();
    if (gw) {
        test_fallback_across_dialects(gw);
        test_routed_stream(gw);
        test_budget_and_unknown_route(gw);
    }
    aigw_gateway_free(gw);
    return h_finish();
}
