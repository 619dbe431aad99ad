/* aigw_request_*: argument checking (no network). */
#include "harness.h"

static void test_new(void)
{
    aigw_request *req = SENTINEL;
    h_section("aigw_request_new");
    CHECK_STATUS(aigw_request_new(NULL, "openai/chat/completions", &req), AIGW_ERR_NULL_ARGUMENT);
    CHECK(req == SENTINEL);
    CHECK_STATUS(aigw_request_new("POST", NULL, &req), AIGW_ERR_NULL_ARGUMENT);
    CHECK(req == SENTINEL);
    CHECK_STATUS(aigw_request_new("POST", "openai/chat/completions", NULL),
                 AIGW_ERR_NULL_ARGUMENT);
    CHECK_STATUS(aigw_request_new("\xff", "openai/chat/completions", &req),
                 AIGW_ERR_INVALID_ARGUMENT);
    CHECK(req == SENTINEL);
    CHECK_STATUS(aigw_request_new("POST", "openai/\xff", &req), AIGW_ERR_INVALID_ARGUMENT);
    CHECK(req == SENTINEL);
    CHECK_STATUS(aigw_request_new("POST", "\xc3", &req), AIGW_ERR_INVALID_ARGUMENT);
    CHECK(req == SENTINEL);

    /* Valid requests, including the Universal Endpoint's "" and "/". */
    req = NULL;
    CHECK_STATUS(aigw_request_new("POST", "openai/chat/completions", &req), AIGW_OK);
    CHECK(req != NULL && req != SENTINEL);
    aigw_request_free(req);
    req = NULL;
    CHECK_STATUS(aigw_request_new("POST", "", &req), AIGW_OK);
    CHECK(req != NULL);
    aigw_request_free(req);
    req = NULL;
    CHECK_STATUS(aigw_request_new("POST", "/", &req), AIGW_OK);
    CHECK(req != NULL);
    aigw_request_free(req);
    req = NULL;
    CHECK_STATUS(aigw_request_new("GET", "custom-local/models?limit=2", &req), AIGW_OK);
    aigw_request_free(req);
    /* UTF-8 beyond ASCII is fine in a path. */
    req = NULL;
    CHECK_STATUS(aigw_request_new("POST", "custom-local/caf\xc3\xa9", &req), AIGW_OK);
    aigw_request_free(req);
}

static void test_set_header(void)
{
    aigw_request *req = NULL;
    h_section("aigw_request_set_header");
    if (!CHECK_STATUS(aigw_request_new("POST", "openai/chat/completions", &req), AIGW_OK))
        return;
    CHECK_STATUS(aigw_request_set_header(NULL, "x-a", "b"), AIGW_ERR_NULL_ARGUMENT);
    CHECK_STATUS(aigw_request_set_header(req, NULL, "b"), AIGW_ERR_NULL_ARGUMENT);
    CHECK_STATUS(aigw_request_set_header(req, "x-a", NULL), AIGW_ERR_NULL_ARGUMENT);

    /* Not UTF-8. */
    CHECK_STATUS(aigw_request_set_header(req, "x-\xff", "b"), AIGW_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(aigw_request_set_header(req, "x-a", "b\xff"), AIGW_ERR_INVALID_ARGUMENT);
    /* Bad names. */
    CHECK_STATUS(aigw_request_set_header(req, "", "b"), AIGW_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(aigw_request_set_header(req, "x a", "b"), AIGW_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(aigw_request_set_header(req, "x:a", "b"), AIGW_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(aigw_request_set_header(req, "x-a\r\n", "b"), AIGW_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(aigw_request_set_header(req, "x\ta", "b"), AIGW_ERR_INVALID_ARGUMENT);
    /* Values with CR or LF would split the header. */
    CHECK_STATUS(aigw_request_set_header(req, "x-a", "b\r\nx-injected: 1"),
                 AIGW_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(aigw_request_set_header(req, "x-a", "b\ninjected"), AIGW_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(aigw_request_set_header(req, "x-a", "b\rinjected"), AIGW_ERR_INVALID_ARGUMENT);

    /* Good headers. */
    CHECK_STATUS(aigw_request_set_header(req, "Authorization", "Bearer sk-test"), AIGW_OK);
    CHECK_STATUS(aigw_request_set_header(req, "Content-Type", "application/json"), AIGW_OK);
    CHECK_STATUS(aigw_request_set_header(req, "x-empty", ""), AIGW_OK);
    CHECK_STATUS(aigw_request_set_header(req, "X-Mixed-Case", "v a l u e"), AIGW_OK);
    /* Control headers are accepted here; they are checked at send time. */
    CHECK_STATUS(aigw_request_set_header(req, "cf-aig-max-attempts", "3"), AIGW_OK);
    aigw_request_free(req);
}

static void test_set_body(void)
{
    aigw_request *req = NULL;
    static const uint8_t bytes[] = {0x00, 0xff, 0x10, 0x00, 'x'};
    h_section("aigw_request_set_body");
    if (!CHECK_STATUS(aigw_request_new("POST", "openai/chat/completions", &req), AIGW_OK))
        return;
    CHECK_STATUS(aigw_request_set_body(NULL, bytes, sizeof bytes), AIGW_ERR_NULL_ARGUMENT);
    CHECK_STATUS(aigw_request_set_body(req, NULL, 5), AIGW_ERR_NULL_ARGUMENT);
    CHECK_STATUS(aigw_request_set_body(req, NULL, 0), AIGW_OK);
    /* Bodies are bytes: NULs and non-UTF-8 are fine. */
    CHECK_STATUS(aigw_request_set_body(req, bytes, sizeof bytes), AIGW_OK);
    CHECK_STATUS(aigw_request_set_body(req, bytes, 0), AIGW_OK);
    /* Replacing the body many times does not leak (valgrind checks). */
    CHECK_STATUS(aigw_request_set_body(req, (const uint8_t *)"{\"a\":1}", 7), AIGW_OK);
    CHECK_STATUS(aigw_request_set_body(req, (const uint8_t *)"{\"a\":2}", 7), AIGW_OK);
    /* A length no process can hold is a status, not an abort; nothing
     * past the one real byte is read. */
    CHECK_STATUS(aigw_request_set_body(req, bytes, (size_t)1 << 62), AIGW_ERR_BODY_TOO_LARGE);
    CHECK_STATUS(aigw_request_set_body(req, bytes, SIZE_MAX), AIGW_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(aigw_request_set_body(req, bytes, 1), AIGW_OK);
    aigw_request_free(req);
}

static void test_free_populated(void)
{
    aigw_request *req = NULL;
    int i;
    char name[32];
    h_section("free a populated request");
    if (!CHECK_STATUS(aigw_request_new("POST", "custom-local/x", &req), AIGW_OK))
        return;
    for (i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "x-h-%d", i);
        CHECK_STATUS(aigw_request_set_header(req, name, "value"), AIGW_OK);
    }
    CHECK_STATUS(aigw_request_set_body(req, (const uint8_t *)"hello", 5), AIGW_OK);
    aigw_request_free(req);
}

int main(void)
{
    test_new();
    test_set_header();
    test_set_body();
    test_free_populated();
    return h_finish();
}
