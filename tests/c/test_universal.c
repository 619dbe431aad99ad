/* The Universal Endpoint: step parsing, fallback, retries, timeouts. */
#include "harness.h"

#define CHAT_QUERY "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"

static const char *const json_ct[] = {"Content-Type", "application/json", NULL};

/* Sends `steps` to the Universal Endpoint (path "") and returns the
 * response, CHECKing AIGW_OK. */
static aigw_response *universal_ok(aigw_gateway *gw, const char *steps, int line)
{
    aigw_request *req = h_request("POST", "", json_ct, steps);
    aigw_response *resp = h_send_ok(gw, req, __FILE__, line);
    aigw_request_free(req);
    return resp;
}
#define UNIVERSAL_OK(gw, steps) universal_ok((gw), (steps), __LINE__)

static aigw_error *universal_fail(aigw_gateway *gw, const char *steps, aigw_status want,
                                  int line)
{
    aigw_request *req = h_request("POST", "", json_ct, steps);
    aigw_error *err = h_send_fail(gw, req, (long)want, __FILE__, line);
    if (err == NULL)
        fprintf(stderr, "    (steps were: %s)\n", steps);
    aigw_request_free(req);
    return err;
}
#define UNIVERSAL_FAIL(gw, steps, want) universal_fail((gw), (steps), (want), __LINE__)

static void check_served_by(aigw_response *resp, int step, unsigned status, int line)
{
    char want[16];
    const char *hdr;
    if (resp == NULL)
        return;
    h_check(aigw_response_status(resp) == status, __FILE__, line, "response status",
            "got %u, want %u", (unsigned)aigw_response_status(resp), status);
    h_check(aigw_response_step(resp) == step, __FILE__, line, "aigw_response_step",
            "got %d, want %d", (int)aigw_response_step(resp), step);
    if (status >= 200 && status <= 299) {
        snprintf(want, sizeof want, "%d", step);
        hdr = aigw_response_header(resp, "cf-aig-step");
        h_check(hdr != NULL && strcmp(hdr, want) == 0, __FILE__, line, "cf-aig-step header",
                "got %s, want %s", hdr ? hdr : "(absent)", want);
    }
}
#define CHECK_SERVED_BY(resp, step, status) check_served_by((resp), (step), (status), __LINE__)

static void test_malformed(aigw_gateway *gw)
{
    h_section("malformed Universal bodies");
    aigw_error_free(UNIVERSAL_FAIL(gw, "not json", AIGW_ERR_INVALID_REQUEST));
    aigw_error_free(UNIVERSAL_FAIL(gw, "[", AIGW_ERR_INVALID_REQUEST));
    aigw_error_free(UNIVERSAL_FAIL(gw, "[]", AIGW_ERR_INVALID_REQUEST));
    aigw_error_free(UNIVERSAL_FAIL(gw, "42", AIGW_ERR_INVALID_REQUEST));
    aigw_error_free(UNIVERSAL_FAIL(gw, "[1]", AIGW_ERR_INVALID_REQUEST));
    aigw_error_free(UNIVERSAL_FAIL(
        gw, "[{\"endpoint\":\"chat/completions\",\"query\":{}}]", AIGW_ERR_INVALID_REQUEST));
    aigw_error_free(UNIVERSAL_FAIL(
        gw, "[{\"provider\":42,\"endpoint\":\"chat/completions\",\"query\":{}}]",
        AIGW_ERR_INVALID_REQUEST));
    aigw_error_free(UNIVERSAL_FAIL(
        gw,
        "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\",\"query\":{},"
        "\"config\":{\"maxAttempts\":9}}]",
        AIGW_ERR_INVALID_REQUEST));
    aigw_error_free(UNIVERSAL_FAIL(
        gw,
        "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\",\"query\":{},"
        "\"config\":{\"backoff\":\"sideways\"}}]",
        AIGW_ERR_INVALID_REQUEST));
    aigw_error_free(UNIVERSAL_FAIL(
        gw,
        "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\",\"query\":{},"
        "\"headers\":{\"cf-aig-max-attempts\":\"0\"}}]",
        AIGW_ERR_INVALID_REQUEST));

    {
        aigw_error *err = UNIVERSAL_FAIL(
            gw, "[{\"provider\":\"nosuchprovider\",\"endpoint\":\"x\",\"query\":{}}]",
            AIGW_ERR_UNKNOWN_PROVIDER);
        if (err != NULL)
            CHECK_CONTAINS(aigw_error_message(err), "nosuchprovider");
        aigw_error_free(err);
    }

    /* No body at all. */
    {
        aigw_request *req = h_request("POST", "", json_ct, NULL);
        aigw_error_free(SEND_FAIL(gw, req, AIGW_ERR_INVALID_REQUEST));
        aigw_request_free(req);
    }
}

static void test_single_and_root_slash(aigw_gateway *gw)
{
    aigw_response *resp;
    aigw_request *req;
    h_section("one step object; path \"/\"");
    resp = UNIVERSAL_OK(gw, "{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                            "\"authorization\":\"Bearer sk-x\",\"query\":" CHAT_QUERY "}");
    CHECK_SERVED_BY(resp, 0, 200);
    aigw_response_free(resp);

    req = h_request("POST", "/", json_ct,
                    "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                    "\"query\":" CHAT_QUERY "}]");
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    CHECK_SERVED_BY(resp, 0, 200);
    aigw_response_free(resp);
}

static void test_step_forwarding(aigw_gateway *gw)
{
    aigw_response *resp;
    char *body;
    h_section("step headers, authorization and query reach the upstream");
    resp = UNIVERSAL_OK(gw, "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                            "\"authorization\":\"Bearer sk-univ-AUTHMARK\","
                            "\"headers\":{\"x-mock\":\"echo\",\"X-Step-Header\":\"STEPMARK\","
                            "\"cf-aig-max-attempts\":\"2\"},"
                            "\"query\":{\"model\":\"QUERYMARK-model\",\"messages\":[]}}]");
    CHECK_SERVED_BY(resp, 0, 200);
    if (resp != NULL) {
        body = h_body(resp);
        CHECK_CONTAINS(body, "/v1/chat/completions");
        CHECK_CONTAINS(body, "authorization");
        CHECK_CONTAINS(body, "sk-univ-AUTHMARK");
        CHECK_CONTAINS(body, "x-step-header");
        CHECK_CONTAINS(body, "STEPMARK");
        CHECK_CONTAINS(body, "QUERYMARK-model");
        CHECK_NOT_CONTAINS(body, "cf-aig");
        free(body);
    }
    aigw_response_free(resp);
}

static void test_fallback(aigw_gateway *gw)
{
    aigw_response *resp;
    char *body;
    h_section("step 0 fails (503), step 1 serves");
    resp = UNIVERSAL_OK(gw, "[{\"provider\":\"huggingface\",\"endpoint\":\"bigcode/starcoder\","
                            "\"headers\":{\"x-mock\":\"status=503\"},\"query\":{\"inputs\":\"a\"}},"
                            "{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                            "\"authorization\":\"Bearer sk-x\",\"query\":" CHAT_QUERY "}]");
    CHECK_SERVED_BY(resp, 1, 200);
    if (resp != NULL) {
        body = h_body(resp);
        CHECK_CONTAINS(body, "choices");
        free(body);
    }
    aigw_response_free(resp);

    h_section("a non-retryable 4xx also falls back");
    resp = UNIVERSAL_OK(gw, "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                            "\"headers\":{\"x-mock\":\"status=400\"},\"query\":" CHAT_QUERY "},"
                            "{\"provider\":\"huggingface\",\"endpoint\":\"bigcode/starcoder\","
                            "\"query\":{\"inputs\":\"a\"}}]");
    CHECK_SERVED_BY(resp, 1, 200);
    aigw_response_free(resp);

    h_section("the first 2xx wins: later steps are not contacted");
    {
        char key[128], steps[1024];
        h_unique_key(key, sizeof key, "univ-unused");
        snprintf(steps, sizeof steps,
                 "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                 "\"query\":" CHAT_QUERY "},"
                 "{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                 "\"headers\":{\"x-mock\":\"key=%s\"},\"query\":" CHAT_QUERY "}]",
                 key);
        resp = UNIVERSAL_OK(gw, steps);
        CHECK_SERVED_BY(resp, 0, 200);
        aigw_response_free(resp);
        CHECKF(h_mock_key_count(gw, key) <= 0, "step 1 was contacted %ld times",
               h_mock_key_count(gw, key));
    }

    h_section("three steps, the third serves");
    resp = UNIVERSAL_OK(gw, "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                            "\"headers\":{\"x-mock\":\"status=500\"},\"query\":{}},"
                            "{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                            "\"headers\":{\"x-mock\":\"drop\"},\"query\":{}},"
                            "{\"provider\":\"custom-local\",\"endpoint\":\"chat/completions\","
                            "\"query\":" CHAT_QUERY "}]");
    CHECK_SERVED_BY(resp, 2, 200);
    aigw_response_free(resp);
}

static void test_all_fail_http(aigw_gateway *gw)
{
    aigw_response *resp;
    h_section("every step answers non-2xx: AIGW_OK with the last response");
    resp = UNIVERSAL_OK(gw, "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                            "\"headers\":{\"x-mock\":\"status=503\"},\"query\":{}},"
                            "{\"provider\":\"huggingface\",\"endpoint\":\"bigcode/starcoder\","
                            "\"headers\":{\"x-mock\":\"status=502\"},\"query\":{}}]");
    CHECK_SERVED_BY(resp, 1, 502);
    aigw_response_free(resp);

    h_section("HTTP failure then connect failure: the HTTP response is returned");
    {
        char steps[1024], config[1024];
        int port = h_closed_port();
        aigw_gateway *gw2 = NULL;
        snprintf(config, sizeof config,
                 "{\"providers\":{\"openai\":{\"base_url\":\"%s/v1\"},"
                 "\"custom-dead\":{\"base_url\":\"http://127.0.0.1:%d\"}}}",
                 h_mock_url(), port);
        if (!CHECK_STATUS(aigw_gateway_new(config, &gw2, NULL), AIGW_OK))
            return;
        snprintf(steps, sizeof steps,
                 "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                 "\"headers\":{\"x-mock\":\"status=429\"},\"query\":{}},"
                 "{\"provider\":\"custom-dead\",\"endpoint\":\"x\",\"query\":{}}]");
        resp = UNIVERSAL_OK(gw2, steps);
        CHECK_SERVED_BY(resp, 0, 429);
        aigw_response_free(resp);
        aigw_gateway_free(gw2);
    }
}

static void test_none_reachable(void)
{
    char config[512];
    aigw_gateway *gw = NULL;
    aigw_error *err;
    int port = h_closed_port();
    h_section("no step reachable: AIGW_ERR_CONNECT listing every step, no credentials");
    if (!CHECK(port > 0))
        return;
    snprintf(config, sizeof config,
             "{\"providers\":{\"openai\":{\"base_url\":\"http://127.0.0.1:%d/v1\"},"
             "\"huggingface\":{\"base_url\":\"http://127.0.0.1:%d/models\"}}}",
             port, port);
    if (!CHECK_STATUS(aigw_gateway_new(config, &gw, NULL), AIGW_OK))
        return;
    err = UNIVERSAL_FAIL(gw,
                         "[{\"provider\":\"huggingface\",\"endpoint\":\"bigcode/starcoder\","
                         "\"headers\":{\"Authorization\":\"Bearer sk-SECRET123\"},"
                         "\"query\":{\"inputs\":\"a\"}},"
                         "{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                         "\"authorization\":\"Bearer sk-SECRET123\",\"query\":{}}]",
                         AIGW_ERR_CONNECT);
    if (err != NULL) {
        const char *msg = aigw_error_message(err);
        CHECK_CONTAINS(msg, "huggingface");
        CHECK_CONTAINS(msg, "openai");
        CHECK_CONTAINS(msg, "0");
        CHECK_CONTAINS(msg, "1");
        CHECK_CONTAINS(msg, "127.0.0.1");
        CHECK_NOT_CONTAINS(msg, "SECRET123");
    }
    aigw_error_free(err);
    aigw_gateway_free(gw);
}

static void test_timeouts(aigw_gateway *gw)
{
    aigw_response *resp;
    aigw_error *err;
    double t0, elapsed;

    h_section("a stalled step is abandoned at its requestTimeout and the next serves");
    t0 = h_now_ms();
    resp = UNIVERSAL_OK(gw, "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                            "\"headers\":{\"x-mock\":\"stall=5000\"},\"query\":{},"
                            "\"config\":{\"requestTimeout\":200}},"
                            "{\"provider\":\"huggingface\",\"endpoint\":\"bigcode/starcoder\","
                            "\"query\":{\"inputs\":\"a\"}}]");
    elapsed = h_now_ms() - t0;
    CHECK_SERVED_BY(resp, 1, 200);
    CHECKF(elapsed < 3000.0, "took %.0f ms", elapsed);
    aigw_response_free(resp);

    h_section("request-level cf-aig-request-timeout applies to steps");
    {
        static const char *const h[] = {
            "Content-Type", "application/json", "cf-aig-request-timeout", "200", NULL,
        };
        aigw_request *req =
            h_request("POST", "", h,
                      "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                      "\"headers\":{\"x-mock\":\"stall=5000\"},\"query\":{}},"
                      "{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                      "\"query\":" CHAT_QUERY "}]");
        t0 = h_now_ms();
        resp = SEND_OK(gw, req);
        elapsed = h_now_ms() - t0;
        aigw_request_free(req);
        CHECK_SERVED_BY(resp, 1, 200);
        CHECKF(elapsed < 3000.0, "took %.0f ms", elapsed);
        aigw_response_free(resp);
    }

    h_section("every step times out: AIGW_ERR_TIMEOUT, quickly");
    t0 = h_now_ms();
    err = UNIVERSAL_FAIL(gw,
                         "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                         "\"headers\":{\"x-mock\":\"stall=5000\"},\"query\":{},"
                         "\"config\":{\"requestTimeout\":200}},"
                         "{\"provider\":\"huggingface\",\"endpoint\":\"bigcode/starcoder\","
                         "\"headers\":{\"x-mock\":\"stall=5000\"},\"query\":{},"
                         "\"config\":{\"requestTimeout\":300}}]",
                         AIGW_ERR_TIMEOUT);
    elapsed = h_now_ms() - t0;
    CHECKF(elapsed < 3500.0, "took %.0f ms", elapsed);
    if (err != NULL) {
        CHECK_CONTAINS(aigw_error_message(err), "openai");
        CHECK_CONTAINS(aigw_error_message(err), "huggingface");
    }
    aigw_error_free(err);
}

static void test_retries(aigw_gateway *gw)
{
    char key[128], steps[1024];
    aigw_response *resp;

    h_section("step config maxAttempts: fail=2 with maxAttempts 3 serves from step 0");
    h_unique_key(key, sizeof key, "univ-retry");
    snprintf(steps, sizeof steps,
             "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
             "\"headers\":{\"x-mock\":\"fail=2,key=%s\"},\"query\":" CHAT_QUERY ","
             "\"config\":{\"maxAttempts\":3,\"retryDelay\":0,\"backoff\":\"exponential\"}},"
             "{\"provider\":\"huggingface\",\"endpoint\":\"bigcode/starcoder\",\"query\":{}}]",
             key);
    resp = UNIVERSAL_OK(gw, steps);
    CHECK_SERVED_BY(resp, 0, 200);
    aigw_response_free(resp);
    CHECKF(h_mock_key_count(gw, key) == 3, "attempts: %ld", h_mock_key_count(gw, key));

    h_section("request cf-aig-max-attempts applies to steps without config");
    {
        static const char *h[] = {
            "Content-Type", "application/json", "cf-aig-max-attempts", "3", NULL,
        };
        aigw_request *req;
        h_unique_key(key, sizeof key, "univ-req-retry");
        snprintf(steps, sizeof steps,
                 "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                 "\"headers\":{\"x-mock\":\"fail=2,key=%s\"},\"query\":" CHAT_QUERY "},"
                 "{\"provider\":\"huggingface\",\"endpoint\":\"bigcode/starcoder\","
                 "\"query\":{}}]",
                 key);
        req = h_request("POST", "", h, steps);
        resp = SEND_OK(gw, req);
        aigw_request_free(req);
        CHECK_SERVED_BY(resp, 0, 200);
        aigw_response_free(resp);
        CHECKF(h_mock_key_count(gw, key) == 3, "attempts: %ld", h_mock_key_count(gw, key));

        h_section("step config overrides the request's cf-aig-max-attempts");
        h_unique_key(key, sizeof key, "univ-step-wins");
        snprintf(steps, sizeof steps,
                 "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                 "\"headers\":{\"x-mock\":\"fail=2,key=%s\"},\"query\":" CHAT_QUERY ","
                 "\"config\":{\"maxAttempts\":1}},"
                 "{\"provider\":\"huggingface\",\"endpoint\":\"bigcode/starcoder\","
                 "\"query\":{}}]",
                 key);
        req = h_request("POST", "", h, steps);
        resp = SEND_OK(gw, req);
        aigw_request_free(req);
        CHECK_SERVED_BY(resp, 1, 200);
        aigw_response_free(resp);
        CHECKF(h_mock_key_count(gw, key) == 1, "attempts: %ld", h_mock_key_count(gw, key));

        h_section("step cf-aig-* header overrides the request's");
        h_unique_key(key, sizeof key, "univ-stephdr-wins");
        snprintf(steps, sizeof steps,
                 "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
                 "\"headers\":{\"x-mock\":\"fail=2,key=%s\",\"cf-aig-max-attempts\":\"1\"},"
                 "\"query\":" CHAT_QUERY "},"
                 "{\"provider\":\"huggingface\",\"endpoint\":\"bigcode/starcoder\","
                 "\"query\":{}}]",
                 key);
        req = h_request("POST", "", h, steps);
        resp = SEND_OK(gw, req);
        aigw_request_free(req);
        CHECK_SERVED_BY(resp, 1, 200);
        aigw_response_free(resp);
        CHECKF(h_mock_key_count(gw, key) == 1, "attempts: %ld", h_mock_key_count(gw, key));
    }
}

int main(void)
{
    aigw_gateway *gw = h_gateway(NULL);
    if (gw == NULL)
        return h_finish();
    test_malformed(gw);
    test_single_and_root_slash(gw);
    test_step_forwarding(gw);
    test_fallback(gw);
    test_all_fail_http(gw);
    test_none_reachable();
    test_timeouts(gw);
    test_retries(gw);
    aigw_gateway_free(gw);
    return h_finish();
}
