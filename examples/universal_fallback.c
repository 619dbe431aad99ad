/*
 * universal_fallback: a Universal Endpoint request with two steps.
 *
 *   universal_fallback [MOCK_URL]   (default: $AIGW_MOCK_URL)
 *
 * Step 0 asks `huggingface` for bigcode/starcoder, but the config points
 * huggingface at MOCK_URL/_mock/status=503, so that upstream always fails.
 * Step 1 asks `openai` for chat/completions, served by the mock at
 * MOCK_URL/v1. The gateway falls back from step 0 to step 1; the program
 * prints which step served the response and exits 0 only if it was step 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aigw.h"

static const char *error_text(const aigw_error *err)
{
    const char *msg = err ? aigw_error_message(err) : NULL;
    return msg ? msg : "(no detail)";
}

static int report(const char *what, aigw_status st, aigw_error *err)
{
    fprintf(stderr, "universal_fallback: %s failed: %s (%d): %s\n", what,
            aigw_status_str((int)st), (int)st, error_text(err));
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

int main(int argc, char **argv)
{
    const char *arg = argc > 1 ? argv[1] : getenv("AIGW_MOCK_URL");
    char base[512];
    char config[1536];
    static const char steps[] =
        "["
        "{\"provider\":\"huggingface\",\"endpoint\":\"bigcode/starcoder\","
        "\"headers\":{\"Authorization\":\"Bearer hf-demo\","
        "\"Content-Type\":\"application/json\"},"
        "\"query\":{\"inputs\":\"console.log\"}},"
        "{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
        "\"authorization\":\"Bearer sk-demo\","
        "\"headers\":{\"Content-Type\":\"application/json\"},"
        "\"query\":{\"model\":\"gpt-4o-mini\","
        "\"messages\":[{\"role\":\"user\",\"content\":\"Say hello from step 1\"}]}}"
        "]";
    aigw_gateway *gw = NULL;
    aigw_request *req = NULL;
    aigw_response *resp = NULL;
    aigw_error *err = NULL;
    aigw_status st;
    const uint8_t *data;
    const char *step_header;
    size_t len = 0;
    uint16_t status;
    int32_t step;
    int ok;

    if (arg == NULL || copy_base_url(base, sizeof base, arg) != 0) {
        fprintf(stderr, "usage: %s MOCK_URL   (or set AIGW_MOCK_URL)\n", argv[0]);
        return 2;
    }
    snprintf(config, sizeof config,
             "{\"providers\":{"
             "\"huggingface\":{\"base_url\":\"%s/_mock/status=503\"},"
             "\"openai\":{\"base_url\":\"%s/v1\"}}}",
             base, base);

    st = aigw_gateway_new(config, &gw, &err);
    if (st != AIGW_OK)
        return report("aigw_gateway_new", st, err);

    st = aigw_request_new("POST", "", &req);
    if (st != AIGW_OK) {
        aigw_gateway_free(gw);
        return report("aigw_request_new", st, NULL);
    }
    if ((st = aigw_request_set_header(req, "Content-Type", "application/json")) != AIGW_OK ||
        (st = aigw_request_set_body(req, (const uint8_t *)steps, sizeof steps - 1)) != AIGW_OK) {
        aigw_request_free(req);
        aigw_gateway_free(gw);
        return report("building the request", st, NULL);
    }

    st = aigw_send(gw, req, &resp, &err);
    aigw_request_free(req);
    if (st != AIGW_OK) {
        aigw_gateway_free(gw);
        return report("aigw_send", st, err);
    }

    status = aigw_response_status(resp);
    step = aigw_response_step(resp);
    step_header = aigw_response_header(resp, "cf-aig-step");
    data = aigw_response_body(resp, &len);

    /* AIGW_OK means "an HTTP answer came back", not "a step served it": when
     * every step failed, the response is the latest failure's. */
    if (status >= 200 && status <= 299)
        printf("HTTP %u, served by step %d (cf-aig-step: %s)\n", (unsigned)status,
               (int)step, step_header ? step_header : "(absent)");
    else
        printf("HTTP %u: every step failed; this is step %d's answer\n", (unsigned)status,
               (int)step);
    if (data != NULL && len > 0)
        fwrite(data, 1, len, stdout);
    printf("\n");

    ok = status >= 200 && status <= 299 && step == 1 && step_header != NULL &&
         strcmp(step_header, "1") == 0;
    if (!ok)
        fprintf(stderr,
                "universal_fallback: expected a 2xx served by step 1 (cf-aig-step: 1)\n");

    aigw_response_free(resp);
    aigw_gateway_free(gw);
    return ok ? 0 : 1;
}
