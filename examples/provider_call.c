/*
 * provider_call: one call to a provider endpoint through aigw.
 *
 *   provider_call [MOCK_URL]        (default: $AIGW_MOCK_URL)
 *
 * Creates a gateway whose config points the built-in `openai` provider at
 * MOCK_URL/v1, sends `POST openai/chat/completions` with an Authorization
 * header and a chat-completions body, prints the status and the body, and
 * exits 0 on a 2xx status.
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
    fprintf(stderr, "provider_call: %s failed: %s (%d): %s\n", what,
            aigw_status_str((int)st), (int)st, error_text(err));
    aigw_error_free(err);
    return 1;
}

/* Copies the base URL without a trailing '/', refusing characters that
 * would need escaping inside a JSON string. */
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
    char config[1024];
    static const char body[] =
        "{\"model\":\"gpt-4o-mini\","
        "\"messages\":[{\"role\":\"user\",\"content\":\"Say hello from aigw\"}]}";
    aigw_gateway *gw = NULL;
    aigw_request *req = NULL;
    aigw_response *resp = NULL;
    aigw_error *err = NULL;
    aigw_status st;
    const uint8_t *data;
    size_t len = 0;
    uint16_t status;

    if (arg == NULL || copy_base_url(base, sizeof base, arg) != 0) {
        fprintf(stderr, "usage: %s MOCK_URL   (or set AIGW_MOCK_URL)\n", argv[0]);
        return 2;
    }
    snprintf(config, sizeof config,
             "{\"providers\":{\"openai\":{\"base_url\":\"%s/v1\"}}}", base);

    printf("aigw %s\n", aigw_version());

    st = aigw_gateway_new(config, &gw, &err);
    if (st != AIGW_OK)
        return report("aigw_gateway_new", st, err);

    st = aigw_request_new("POST", "openai/chat/completions", &req);
    if (st != AIGW_OK) {
        aigw_gateway_free(gw);
        return report("aigw_request_new", st, NULL);
    }
    if ((st = aigw_request_set_header(req, "Authorization", "Bearer sk-demo")) != AIGW_OK ||
        (st = aigw_request_set_header(req, "Content-Type", "application/json")) != AIGW_OK ||
        (st = aigw_request_set_body(req, (const uint8_t *)body, sizeof body - 1)) != AIGW_OK) {
        aigw_request_free(req);
        aigw_gateway_free(gw);
        return report("building the request", st, NULL);
    }

    st = aigw_send(gw, req, &resp, &err);
    aigw_request_free(req); /* the response does not depend on the request */
    if (st != AIGW_OK) {
        aigw_gateway_free(gw);
        return report("aigw_send", st, err);
    }

    status = aigw_response_status(resp);
    data = aigw_response_body(resp, &len);
    printf("POST openai/chat/completions -> HTTP %u\n", (unsigned)status);
    if (data != NULL && len > 0)
        fwrite(data, 1, len, stdout);
    printf("\n");

    aigw_response_free(resp);
    aigw_gateway_free(gw);

    if (status < 200 || status > 299) {
        fprintf(stderr, "provider_call: upstream answered HTTP %u\n", (unsigned)status);
        return 1;
    }
    return 0;
}
