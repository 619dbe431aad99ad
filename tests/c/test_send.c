/* aigw_send through provider endpoints, against the mock (AIGW_MOCK_URL). */
#include "harness.h"

#define CHAT_BODY \
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"

static const char *const chat_headers[] = {
    "Authorization", "Bearer sk-test", "Content-Type", "application/json", NULL,
};

static void test_provider_basic(aigw_gateway *gw)
{
    aigw_request *req = h_request("POST", "openai/chat/completions", chat_headers, CHAT_BODY);
    aigw_response *resp;
    const char *ct, *name, *value;
    char *body;
    size_t count, i, len = 0;
    int seen_count_header = 0;

    h_section("provider endpoint: status, body, headers");
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp == NULL)
        return;
    CHECKF(aigw_response_status(resp) == 200, "status %u", (unsigned)aigw_response_status(resp));
    CHECK(aigw_response_step(resp) == 0);
    CHECK(aigw_response_body(resp, &len) != NULL);
    CHECK(len > 0);
    body = h_body(resp);
    CHECK_CONTAINS(body, "choices");
    CHECK_CONTAINS(body, "gpt-4o-mini");
    free(body);

    /* Headers by name, case-insensitively; first value; NULL if absent. */
    ct = aigw_response_header(resp, "content-type");
    CHECK_CONTAINS(ct, "application/json");
    CHECK(aigw_response_header(resp, "Content-Type") == ct ||
          (aigw_response_header(resp, "Content-Type") != NULL &&
           strcmp(aigw_response_header(resp, "Content-Type"), ct ? ct : "") == 0));
    CHECK(aigw_response_header(resp, "CONTENT-TYPE") != NULL);
    CHECK(aigw_response_header(resp, "X-Mock-Request-Count") != NULL);
    CHECK(aigw_response_header(resp, "x-definitely-absent") == NULL);
    CHECK(aigw_response_header(resp, "") == NULL);
    CHECK(aigw_response_header(resp, NULL) == NULL);
    /* A provider endpoint response carries no cf-aig-step. */
    CHECK(aigw_response_header(resp, "cf-aig-step") == NULL);

    count = aigw_response_header_count(resp);
    CHECK(count > 0);
    for (i = 0; i < count; i++) {
        name = NULL;
        value = NULL;
        CHECK_STATUS(aigw_response_header_at(resp, i, &name, &value), AIGW_OK);
        CHECK(name != NULL && value != NULL);
        if (name != NULL && value != NULL && h_contains(name, "x-mock-request-count") &&
            strlen(name) == strlen("x-mock-request-count")) {
            seen_count_header = 1;
            CHECK(atol(value) > 0);
        }
    }
    CHECK(seen_count_header);
    name = SENTINEL;
    value = SENTINEL;
    CHECK_STATUS(aigw_response_header_at(resp, count, &name, &value), AIGW_ERR_INVALID_ARGUMENT);
    CHECK(name == SENTINEL && value == SENTINEL);
    CHECK_STATUS(aigw_response_header_at(resp, (size_t)-1, &name, &value),
                 AIGW_ERR_INVALID_ARGUMENT);
    CHECK(name == SENTINEL && value == SENTINEL);
    CHECK_STATUS(aigw_response_header_at(resp, 0, NULL, &value), AIGW_ERR_NULL_ARGUMENT);
    CHECK_STATUS(aigw_response_header_at(resp, 0, &name, NULL), AIGW_ERR_NULL_ARGUMENT);
    CHECK(name == SENTINEL && value == SENTINEL);
    aigw_response_free(resp);
}

static void test_non_2xx_is_ok(aigw_gateway *gw)
{
    static const char *const h[] = {"x-mock", "status=404", NULL};
    static const char *const h5[] = {"x-mock", "status=503", NULL};
    aigw_request *req = h_request("POST", "openai/chat/completions", h, CHAT_BODY);
    aigw_response *resp;
    char *body;
    h_section("a non-2xx upstream answer is AIGW_OK with its status");
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp != NULL) {
        CHECKF(aigw_response_status(resp) == 404, "status %u",
               (unsigned)aigw_response_status(resp));
        body = h_body(resp);
        CHECK_CONTAINS(body, "error");
        free(body);
        aigw_response_free(resp);
    }
    req = h_request("POST", "openai/chat/completions", h5, CHAT_BODY);
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp != NULL) {
        CHECKF(aigw_response_status(resp) == 503, "status %u",
               (unsigned)aigw_response_status(resp));
        aigw_response_free(resp);
    }
}

static void test_echo(aigw_gateway *gw)
{
    static const char *const h[] = {
        "x-mock", "echo",
        "Authorization", "Bearer sk-echo-test",
        "X-Custom-Thing", "custom-value-42",
        "Content-Type", "application/json",
        "cf-aig-max-attempts", "2",
        "cf-aig-retry-delay", "10",
        "cf-aig-backoff", "linear",
        "cf-aig-request-timeout", "10000",
        NULL,
    };
    aigw_request *req =
        h_request("POST", "openai/chat/completions", h, "{\"marker\":\"BODYMARKER123\"}");
    aigw_response *resp;
    char *body;
    h_section("echo: headers and body reach the upstream, cf-aig-* do not");
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp == NULL)
        return;
    CHECK(aigw_response_status(resp) == 200);
    body = h_body(resp);
    CHECK_CONTAINS(body, "/v1/chat/completions");
    CHECK_CONTAINS(body, "POST");
    CHECK_CONTAINS(body, "x-custom-thing");
    CHECK_CONTAINS(body, "custom-value-42");
    CHECK_CONTAINS(body, "sk-echo-test");
    CHECK_CONTAINS(body, "BODYMARKER123");
    CHECK_NOT_CONTAINS(body, "cf-aig");
    free(body);
    aigw_response_free(resp);
}

static void test_echo_path_query_and_custom(aigw_gateway *gw)
{
    static const char *const h[] = {"x-mock", "echo", NULL};
    aigw_request *req;
    aigw_response *resp;
    char *body;

    h_section("custom-local provider from config; path and query forwarded");
    req = h_request("GET", "custom-local/models/list-them?limit=7&order=desc", h, NULL);
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp != NULL) {
        CHECK(aigw_response_status(resp) == 200);
        CHECK(aigw_response_step(resp) == 0);
        body = h_body(resp);
        CHECK_CONTAINS(body, "/local/v1/models/list-them");
        CHECK_CONTAINS(body, "limit=7");
        CHECK_CONTAINS(body, "order=desc");
        CHECK_CONTAINS(body, "GET");
        free(body);
        aigw_response_free(resp);
    }

    /* A custom provider's normal answer. */
    req = h_request("POST", "custom-local/chat/completions", chat_headers, CHAT_BODY);
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp != NULL) {
        CHECK(aigw_response_status(resp) == 200);
        body = h_body(resp);
        CHECK_CONTAINS(body, "choices");
        free(body);
        aigw_response_free(resp);
    }

    /* Huggingface with the configured base. */
    req = h_request("POST", "huggingface/bigcode/starcoder", h, "{\"inputs\":\"x\"}");
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp != NULL) {
        body = h_body(resp);
        CHECK_CONTAINS(body, "/models/bigcode/starcoder");
        free(body);
        aigw_response_free(resp);
    }
}

static void test_body_copied_and_request_reuse(aigw_gateway *gw)
{
    static const char *const h[] = {"x-mock", "echo", NULL};
    char buf[64];
    aigw_request *req = h_request("POST", "custom-local/echo", h, NULL);
    aigw_response *r1, *r2;
    char *body;

    h_section("body is copied; request reusable and freeable before reading");
    if (req == NULL)
        return;
    strcpy(buf, "{\"first\":\"COPYMARKER1\"}");
    CHECK_STATUS(aigw_request_set_body(req, (const uint8_t *)buf, strlen(buf)), AIGW_OK);
    /* Overwrite the caller's buffer: the request kept its own copy. */
    memset(buf, 'Z', sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';

    r1 = SEND_OK(gw, req);
    r2 = SEND_OK(gw, req); /* reuse */
    aigw_request_free(req); /* before reading either response */
    if (r1 != NULL) {
        body = h_body(r1);
        CHECK_CONTAINS(body, "COPYMARKER1");
        CHECK_NOT_CONTAINS(body, "ZZZZ");
        free(body);
    }
    if (r2 != NULL) {
        body = h_body(r2);
        CHECK_CONTAINS(body, "COPYMARKER1");
        free(body);
    }
    aigw_response_free(r1);
    aigw_response_free(r2);

    /* A request with no body at all. */
    req = h_request("POST", "custom-local/nobody", h, NULL);
    r1 = SEND_OK(gw, req);
    aigw_request_free(req);
    if (r1 != NULL)
        CHECK(aigw_response_status(r1) == 200);
    aigw_response_free(r1);
}

static void test_send_null_args(aigw_gateway *gw)
{
    aigw_request *req = h_request("POST", "openai/chat/completions", NULL, CHAT_BODY);
    aigw_response *resp = SENTINEL;
    aigw_error *err = NULL;
    h_section("aigw_send with NULL arguments");
    CHECK_STATUS(aigw_send(NULL, req, &resp, &err), AIGW_ERR_NULL_ARGUMENT);
    CHECK(resp == SENTINEL);
    if (err != NULL)
        CHECK_ERROR(err, AIGW_ERR_NULL_ARGUMENT);
    aigw_error_free(err);
    err = NULL;
    CHECK_STATUS(aigw_send(gw, NULL, &resp, &err), AIGW_ERR_NULL_ARGUMENT);
    CHECK(resp == SENTINEL);
    aigw_error_free(err);
    err = NULL;
    CHECK_STATUS(aigw_send(gw, req, NULL, &err), AIGW_ERR_NULL_ARGUMENT);
    aigw_error_free(err);
    CHECK_STATUS(aigw_send(gw, req, NULL, NULL), AIGW_ERR_NULL_ARGUMENT);
    aigw_request_free(req);
}

static void test_unknown_provider(aigw_gateway *gw)
{
    aigw_request *req;
    aigw_error *err;
    aigw_response *resp = SENTINEL;
    h_section("unknown provider");
    req = h_request("POST", "nosuchprovider/chat/completions", chat_headers, CHAT_BODY);
    err = SEND_FAIL(gw, req, AIGW_ERR_UNKNOWN_PROVIDER);
    if (err != NULL)
        CHECK_CONTAINS(aigw_error_message(err), "nosuchprovider");
    aigw_error_free(err);
    /* The error pointer is optional. */
    CHECK_STATUS(aigw_send(gw, req, &resp, NULL), AIGW_ERR_UNKNOWN_PROVIDER);
    CHECK(resp == SENTINEL);
    aigw_request_free(req);

    /* A custom- slug that the config does not define. */
    req = h_request("POST", "custom-unconfigured/x", NULL, NULL);
    aigw_error_free(SEND_FAIL(gw, req, AIGW_ERR_UNKNOWN_PROVIDER));
    aigw_request_free(req);
}

static void test_bad_control_headers(aigw_gateway *gw)
{
    static const char *const bad[][2] = {
        {"cf-aig-max-attempts", "0"},
        {"cf-aig-max-attempts", "6"},
        {"cf-aig-max-attempts", "abc"},
        {"cf-aig-max-attempts", ""},
        {"cf-aig-max-attempts", "-1"},
        {"cf-aig-retry-delay", "5001"},
        {"cf-aig-retry-delay", "-1"},
        {"cf-aig-retry-delay", "soon"},
        {"cf-aig-backoff", "sideways"},
        {"cf-aig-backoff", ""},
        {"cf-aig-request-timeout", "-1"},
        {"cf-aig-request-timeout", "1.5s"},
        {"CF-AIG-MAX-ATTEMPTS", "9"},
    };
    static const char *const good[][2] = {
        {"cf-aig-max-attempts", "1"},
        {"cf-aig-max-attempts", "5"},
        {"cf-aig-retry-delay", "0"},
        {"cf-aig-retry-delay", "5000"},
        {"cf-aig-backoff", "constant"},
        {"cf-aig-backoff", "linear"},
        {"cf-aig-backoff", "exponential"},
        {"cf-aig-request-timeout", "10000"},
    };
    size_t i;
    h_section("malformed cf-aig-* values are AIGW_ERR_INVALID_REQUEST");
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *h[3];
        aigw_request *req;
        aigw_error *err;
        h[0] = bad[i][0];
        h[1] = bad[i][1];
        h[2] = NULL;
        req = h_request("POST", "openai/chat/completions", h, CHAT_BODY);
        err = SEND_FAIL(gw, req, AIGW_ERR_INVALID_REQUEST);
        if (err != NULL)
            CHECKF(h_contains(aigw_error_message(err), bad[i][0]),
                   "message for %s: %s should name the header: %s", bad[i][0], bad[i][1],
                   aigw_error_message(err));
        else
            fprintf(stderr, "    (was %s: \"%s\")\n", bad[i][0], bad[i][1]);
        aigw_error_free(err);
        aigw_request_free(req);
    }
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        const char *h[3];
        aigw_request *req;
        aigw_response *resp;
        h[0] = good[i][0];
        h[1] = good[i][1];
        h[2] = NULL;
        req = h_request("POST", "openai/chat/completions", h, CHAT_BODY);
        resp = SEND_OK(gw, req);
        if (resp == NULL)
            fprintf(stderr, "    (was %s: \"%s\")\n", good[i][0], good[i][1]);
        else
            CHECK(aigw_response_status(resp) == 200);
        aigw_response_free(resp);
        aigw_request_free(req);
    }
}

static void test_retries(aigw_gateway *gw)
{
    char key[128], directive[192];
    const char *h[7];
    aigw_request *req;
    aigw_response *resp;
    double t0, elapsed;

    h_section("retries: fail=2 with cf-aig-max-attempts 3 succeeds on the 3rd attempt");
    h_unique_key(key, sizeof key, "send-retry");
    snprintf(directive, sizeof directive, "fail=2,key=%s", key);
    h[0] = "x-mock";
    h[1] = directive;
    h[2] = "cf-aig-max-attempts";
    h[3] = "3";
    h[4] = NULL;
    req = h_request("POST", "openai/chat/completions", h, CHAT_BODY);
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp != NULL) {
        CHECKF(aigw_response_status(resp) == 200, "status %u",
               (unsigned)aigw_response_status(resp));
        aigw_response_free(resp);
    }
    CHECKF(h_mock_key_count(gw, key) == 3, "attempts for %s: %ld", key,
           h_mock_key_count(gw, key));

    h_section("retries: fail=2 with cf-aig-max-attempts 2 returns the failure");
    h_unique_key(key, sizeof key, "send-retry2");
    snprintf(directive, sizeof directive, "fail=2,key=%s", key);
    h[3] = "2";
    req = h_request("POST", "openai/chat/completions", h, CHAT_BODY);
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp != NULL) {
        CHECKF(aigw_response_status(resp) >= 500, "status %u",
               (unsigned)aigw_response_status(resp));
        aigw_response_free(resp);
    }
    CHECKF(h_mock_key_count(gw, key) == 2, "attempts: %ld", h_mock_key_count(gw, key));

    h_section("retries: no retry by default (max_attempts 1)");
    h_unique_key(key, sizeof key, "send-noretry");
    snprintf(directive, sizeof directive, "fail=1,key=%s", key);
    h[2] = NULL;
    req = h_request("POST", "openai/chat/completions", h, CHAT_BODY);
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp != NULL) {
        CHECK(aigw_response_status(resp) >= 500);
        aigw_response_free(resp);
    }
    CHECKF(h_mock_key_count(gw, key) == 1, "attempts: %ld", h_mock_key_count(gw, key));

    h_section("retries: a 4xx other than 408/429 is not retried");
    h_unique_key(key, sizeof key, "send-400");
    snprintf(directive, sizeof directive, "status=400,key=%s", key);
    h[2] = "cf-aig-max-attempts";
    h[3] = "3";
    h[4] = NULL;
    req = h_request("POST", "openai/chat/completions", h, CHAT_BODY);
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp != NULL) {
        CHECK(aigw_response_status(resp) == 400);
        aigw_response_free(resp);
    }
    CHECKF(h_mock_key_count(gw, key) == 1, "attempts: %ld", h_mock_key_count(gw, key));

    h_section("retries: 429 is retried");
    h_unique_key(key, sizeof key, "send-429");
    snprintf(directive, sizeof directive, "status=429,key=%s", key);
    req = h_request("POST", "openai/chat/completions", h, CHAT_BODY);
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp != NULL) {
        CHECK(aigw_response_status(resp) == 429);
        aigw_response_free(resp);
    }
    CHECKF(h_mock_key_count(gw, key) == 3, "attempts: %ld", h_mock_key_count(gw, key));

    h_section("retries: cf-aig-retry-delay is waited between attempts");
    h_unique_key(key, sizeof key, "send-delay");
    snprintf(directive, sizeof directive, "fail=2,key=%s", key);
    h[4] = "cf-aig-retry-delay";
    h[5] = "200";
    h[6] = NULL;
    req = h_request("POST", "openai/chat/completions", h, CHAT_BODY);
    t0 = h_now_ms();
    resp = SEND_OK(gw, req);
    elapsed = h_now_ms() - t0;
    aigw_request_free(req);
    if (resp != NULL) {
        CHECK(aigw_response_status(resp) == 200);
        aigw_response_free(resp);
    }
    CHECKF(elapsed >= 380.0, "two 200 ms delays took only %.0f ms", elapsed);
    CHECKF(h_mock_key_count(gw, key) == 3, "attempts: %ld", h_mock_key_count(gw, key));
}

static void test_gateway_level_defaults(void)
{
    aigw_gateway *gw = h_gateway(",\"max_attempts\":3");
    char key[128], directive[192];
    const char *h[5];
    aigw_request *req;
    aigw_response *resp;

    h_section("gateway max_attempts is the default; cf-aig-max-attempts overrides it");
    if (gw == NULL)
        return;
    h_unique_key(key, sizeof key, "gw-retry");
    snprintf(directive, sizeof directive, "fail=2,key=%s", key);
    h[0] = "x-mock";
    h[1] = directive;
    h[2] = NULL;
    req = h_request("POST", "openai/chat/completions", h, CHAT_BODY);
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp != NULL) {
        CHECK(aigw_response_status(resp) == 200);
        aigw_response_free(resp);
    }
    CHECKF(h_mock_key_count(gw, key) == 3, "attempts: %ld", h_mock_key_count(gw, key));

    h_unique_key(key, sizeof key, "gw-retry-override");
    snprintf(directive, sizeof directive, "fail=2,key=%s", key);
    h[2] = "cf-aig-max-attempts";
    h[3] = "1";
    h[4] = NULL;
    req = h_request("POST", "openai/chat/completions", h, CHAT_BODY);
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp != NULL) {
        CHECK(aigw_response_status(resp) >= 500);
        aigw_response_free(resp);
    }
    CHECKF(h_mock_key_count(gw, key) == 1, "attempts: %ld", h_mock_key_count(gw, key));
    aigw_gateway_free(gw);
}

static void test_timeout(aigw_gateway *gw)
{
    static const char *const h[] = {
        "x-mock", "stall=5000", "cf-aig-request-timeout", "200", NULL,
    };
    aigw_request *req;
    aigw_error *err;
    aigw_gateway *gw2;
    double t0, elapsed;

    h_section("cf-aig-request-timeout: a stalled upstream times out quickly");
    req = h_request("POST", "openai/chat/completions", h, CHAT_BODY);
    t0 = h_now_ms();
    err = SEND_FAIL(gw, req, AIGW_ERR_TIMEOUT);
    elapsed = h_now_ms() - t0;
    CHECKF(elapsed < 3000.0, "took %.0f ms", elapsed);
    CHECKF(elapsed >= 150.0, "took only %.0f ms", elapsed);
    if (err != NULL)
        CHECK_CONTAINS(aigw_error_message(err), "200");
    aigw_error_free(err);
    aigw_request_free(req);

    h_section("gateway request_timeout_ms applies too");
    gw2 = h_gateway(",\"request_timeout_ms\":200");
    if (gw2 != NULL) {
        static const char *const h2[] = {"x-mock", "stall=5000", NULL};
        req = h_request("POST", "openai/chat/completions", h2, CHAT_BODY);
        t0 = h_now_ms();
        aigw_error_free(SEND_FAIL(gw2, req, AIGW_ERR_TIMEOUT));
        elapsed = h_now_ms() - t0;
        CHECKF(elapsed < 3000.0, "took %.0f ms", elapsed);
        aigw_request_free(req);
        aigw_gateway_free(gw2);
    }
}

static void test_connect_error(void)
{
    char config[512];
    aigw_gateway *gw = NULL;
    aigw_request *req;
    aigw_error *err;
    int port = h_closed_port();
    static const char *const h[] = {"Authorization", "Bearer sk-SECRET123", NULL};

    h_section("connect error: nobody listening");
    if (!CHECK(port > 0))
        return;
    snprintf(config, sizeof config,
             "{\"providers\":{\"custom-dead\":{\"base_url\":\"http://127.0.0.1:%d/v1\"}}}", port);
    if (!CHECK_STATUS(aigw_gateway_new(config, &gw, NULL), AIGW_OK))
        return;
    req = h_request("POST", "custom-dead/chat/completions", h, CHAT_BODY);
    err = SEND_FAIL(gw, req, AIGW_ERR_CONNECT);
    if (err != NULL) {
        const char *msg = aigw_error_message(err);
        CHECK_CONTAINS(msg, "127.0.0.1");
        CHECK_NOT_CONTAINS(msg, "SECRET123");
    }
    aigw_error_free(err);
    aigw_request_free(req);
    aigw_gateway_free(gw);
}

static void test_drop(aigw_gateway *gw)
{
    static const char *const h[] = {"x-mock", "drop", NULL};
    aigw_request *req = h_request("POST", "openai/chat/completions", h, CHAT_BODY);
    aigw_response *resp = SENTINEL;
    aigw_error *err = NULL;
    aigw_status st;
    h_section("a dropped connection is an error, not a response");
    if (req == NULL)
        return;
    st = aigw_send(gw, req, &resp, &err);
    CHECKF(st == AIGW_ERR_CONNECT || st == AIGW_ERR_PROTOCOL, "got %s",
           aigw_status_str((int)st));
    if (st != AIGW_OK) {
        CHECK(resp == SENTINEL);
        CHECK_ERROR(err, st);
    } else {
        aigw_response_free(resp);
    }
    aigw_error_free(err);
    aigw_request_free(req);
}

static void test_response_header_directive(aigw_gateway *gw)
{
    static const char *const h[] = {
        "x-mock", "header=X-Dup:first,header=X-Dup:second,header=X-Single:only", NULL,
    };
    aigw_request *req = h_request("POST", "openai/chat/completions", h, CHAT_BODY);
    aigw_response *resp;
    size_t i, count, dups = 0;
    h_section("response headers: first value, every value via header_at");
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp == NULL)
        return;
    CHECK(aigw_response_header(resp, "x-single") != NULL &&
          strcmp(aigw_response_header(resp, "x-single"), "only") == 0);
    CHECK(aigw_response_header(resp, "X-DUP") != NULL &&
          strcmp(aigw_response_header(resp, "X-DUP"), "first") == 0);
    count = aigw_response_header_count(resp);
    for (i = 0; i < count; i++) {
        const char *name = NULL, *value = NULL;
        if (aigw_response_header_at(resp, i, &name, &value) == AIGW_OK && name != NULL &&
            strlen(name) == 5 && h_contains(name, "x-dup"))
            dups++;
    }
    CHECKF(dups == 2, "saw %zu x-dup headers", dups);
    aigw_response_free(resp);
}

static void test_bad_paths(aigw_gateway *gw)
{
    static const char *const paths[] = {
        "openai/chat completions", /* space */
        "openai/../../etc/passwd", /* dot-dot segments */
        "openai/chat/completions#frag",
        "openai/chat/\x01completions",
        "/",                       /* with GET: not the Universal Endpoint's POST */
    };
    size_t i;
    h_section("bad paths are AIGW_ERR_INVALID_REQUEST at send");
    for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        const char *method = paths[i][0] == '/' ? "GET" : "POST";
        aigw_request *req = h_request(method, paths[i], NULL, NULL);
        aigw_error *err = SEND_FAIL(gw, req, AIGW_ERR_INVALID_REQUEST);
        if (err == NULL)
            fprintf(stderr, "    (path was %s %s)\n", method, paths[i]);
        aigw_error_free(err);
        aigw_request_free(req);
    }
}

static void test_forwarding_details(aigw_gateway *gw)
{
    static const char *const h[] = {
        "x-mock", "echo",
        "X-Multi", "multi-one",
        "X-Multi", "multi-two",
        "Content-Length", "3",     /* framing is the transport's job */
        "Connection", "close",
        NULL,
    };
    aigw_request *req;
    aigw_response *resp;
    char *body;
    h_section("repeated headers forwarded; caller framing headers do not break the body");
    req = h_request("POST", "custom-local/forward", h, "{\"long\":\"FULLBODYMARKER-0123456789\"}");
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp != NULL) {
        CHECK(aigw_response_status(resp) == 200);
        body = h_body(resp);
        CHECK_CONTAINS(body, "multi-one");
        CHECK_CONTAINS(body, "multi-two");
        CHECK_CONTAINS(body, "FULLBODYMARKER-0123456789");
        free(body);
        aigw_response_free(resp);
    }

    h_section("a base ending in /v1 and a path starting v1/ do not double it");
    {
        static const char *const e[] = {"x-mock", "echo", NULL};
        req = h_request("POST", "openai/v1/chat/completions", e, "{}");
        resp = SEND_OK(gw, req);
        aigw_request_free(req);
        if (resp != NULL) {
            const char *p = aigw_response_header(resp, "x-mock-path");
            CHECKF(p != NULL && strcmp(p, "/v1/chat/completions") == 0, "upstream path %s",
                   p ? p : "(none)");
            aigw_response_free(resp);
        }
    }

    h_section("header values with control characters are refused");
    req = h_request("POST", "custom-local/x", NULL, NULL);
    if (req != NULL) {
        CHECK_STATUS(aigw_request_set_header(req, "x-a", "bell\x07"), AIGW_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(aigw_request_set_header(req, "x-a", "\x7f"), AIGW_ERR_INVALID_ARGUMENT);
        aigw_request_free(req);
    }

    h_section("aigw_response_header with a non-UTF-8 name is NULL");
    req = h_request("POST", "openai/chat/completions", chat_headers, CHAT_BODY);
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp != NULL) {
        CHECK(aigw_response_header(resp, "content-type\xff") == NULL);
        aigw_response_free(resp);
    }
}

int main(void)
{
    aigw_gateway *gw = h_gateway(NULL);
    if (gw == NULL)
        return h_finish();
    test_provider_basic(gw);
    test_non_2xx_is_ok(gw);
    test_echo(gw);
    test_echo_path_query_and_custom(gw);
    test_body_copied_and_request_reuse(gw);
    test_send_null_args(gw);
    test_unknown_provider(gw);
    test_bad_control_headers(gw);
    test_retries(gw);
    test_gateway_level_defaults();
    test_timeout(gw);
    test_connect_error();
    test_drop(gw);
    test_response_header_directive(gw);
    test_bad_paths(gw);
    test_forwarding_details(gw);
    aigw_gateway_free(gw);
    return h_finish();
}
