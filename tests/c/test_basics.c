/* Status codes, version, error objects on NULL, and every *_free(NULL). */
#include "harness.h"

#include <limits.h>

static void test_status_str(void)
{
    static const int codes[] = {
        AIGW_OK, AIGW_ERR_NULL_ARGUMENT, AIGW_ERR_INVALID_ARGUMENT, AIGW_ERR_INVALID_CONFIG,
        AIGW_ERR_INVALID_REQUEST, AIGW_ERR_UNKNOWN_PROVIDER, AIGW_ERR_CONNECT,
        AIGW_ERR_TIMEOUT, AIGW_ERR_TLS, AIGW_ERR_PROTOCOL, AIGW_ERR_RATE_LIMITED,
        AIGW_ERR_BODY_TOO_LARGE, AIGW_ERR_ABORTED, AIGW_ERR_CANCELLED,
        AIGW_ERR_STREAM_INTERRUPTED, AIGW_ERR_PANIC,
    };
    static const int unknown[] = {-1, 16, 17, 100, 999, INT_MAX, INT_MIN};
    const size_t ncodes = sizeof codes / sizeof codes[0];
    const char *unknown_text;
    size_t i, j;

    h_section("aigw_status_str");
    /* The enum values are fixed by API.md. */
    CHECK(AIGW_OK == 0);
    CHECK(AIGW_ERR_NULL_ARGUMENT == 1);
    CHECK(AIGW_ERR_INVALID_ARGUMENT == 2);
    CHECK(AIGW_ERR_INVALID_CONFIG == 3);
    CHECK(AIGW_ERR_INVALID_REQUEST == 4);
    CHECK(AIGW_ERR_UNKNOWN_PROVIDER == 5);
    CHECK(AIGW_ERR_CONNECT == 6);
    CHECK(AIGW_ERR_TIMEOUT == 7);
    CHECK(AIGW_ERR_TLS == 8);
    CHECK(AIGW_ERR_PROTOCOL == 9);
    CHECK(AIGW_ERR_RATE_LIMITED == 10);
    CHECK(AIGW_ERR_BODY_TOO_LARGE == 11);
    CHECK(AIGW_ERR_ABORTED == 12);
    CHECK(AIGW_ERR_CANCELLED == 13);
    CHECK(AIGW_ERR_STREAM_INTERRUPTED == 14);
    CHECK(AIGW_ERR_PANIC == 15);

    unknown_text = aigw_status_str(999);
    for (i = 0; i < ncodes; i++) {
        const char *s = aigw_status_str(codes[i]);
        CHECKF(s != NULL && s[0] != '\0', "code %d", codes[i]);
        if (s == NULL)
            continue;
        /* Stable: the same pointer or at least the same text each time. */
        CHECKF(strcmp(s, aigw_status_str(codes[i])) == 0, "code %d", codes[i]);
        /* Every known code has its own text, distinct from the unknown one. */
        CHECKF(unknown_text == NULL || strcmp(s, unknown_text) != 0,
               "code %d has the unknown-code text \"%s\"", codes[i], s);
        for (j = 0; j < i; j++) {
            const char *t = aigw_status_str(codes[j]);
            CHECKF(t == NULL || strcmp(s, t) != 0, "codes %d and %d share \"%s\"", codes[i],
                   codes[j], s);
        }
    }
    for (i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *s = aigw_status_str(unknown[i]);
        CHECKF(s != NULL && s[0] != '\0', "unknown code %d", unknown[i]);
    }
}

static void test_version(void)
{
    char expected[64];
    const char *v = aigw_version();
    h_section("aigw_version");
    snprintf(expected, sizeof expected, "%d.%d.%d", (int)AIGW_VERSION_MAJOR,
             (int)AIGW_VERSION_MINOR, (int)AIGW_VERSION_PATCH);
    CHECK(v != NULL);
    CHECKF(v != NULL && strcmp(v, expected) == 0, "aigw_version() = \"%s\", header says %s",
           v ? v : "(null)", expected);
#ifdef AIGW_VERSION
    CHECK(v != NULL && strcmp(v, AIGW_VERSION) == 0);
#endif
    CHECK(v == aigw_version() || (v != NULL && strcmp(v, aigw_version()) == 0));
}

static void test_error_null(void)
{
    const char *msg;
    aigw_status st;
    h_section("aigw_error_* on NULL");
    /* A NULL error object is a missing required pointer. */
    st = aigw_error_status(NULL);
    CHECK_STATUS(st, AIGW_ERR_NULL_ARGUMENT);
    msg = aigw_error_message(NULL);
    /* Documented in the header: never NULL; a static "" for a NULL error. */
    CHECK(msg != NULL && msg[0] == '\0');
    aigw_error_free(NULL);
    CHECK(1);
}

static void test_free_null(void)
{
    h_section("*_free(NULL) is a no-op");
    aigw_error_free(NULL);
    aigw_gateway_free(NULL);
    aigw_request_free(NULL);
    aigw_response_free(NULL);
    CHECK(1);
}

static void test_response_getters_null(void)
{
    size_t len = 12345;
    const char *name = SENTINEL;
    const char *value = SENTINEL;
    h_section("aigw_response_* on NULL");
    CHECK(aigw_response_status(NULL) == 0);
    CHECK(aigw_response_step(NULL) == -1); /* documented in the header */
    CHECK(aigw_response_header(NULL, "content-type") == NULL);
    CHECK(aigw_response_header_count(NULL) == 0);
    CHECK_STATUS(aigw_response_header_at(NULL, 0, &name, &value), AIGW_ERR_NULL_ARGUMENT);
    CHECK(name == SENTINEL && value == SENTINEL);
    CHECK(aigw_response_body(NULL, &len) == NULL);
    CHECK(len == 0);
    CHECK(aigw_response_body(NULL, NULL) == NULL);
}

static void test_error_object_roundtrip(void)
{
    aigw_gateway *gw = SENTINEL;
    aigw_error *err = NULL;
    const char *m1, *m2;
    h_section("error object lifetime");
    CHECK_STATUS(aigw_gateway_new("{", &gw, &err), AIGW_ERR_INVALID_CONFIG);
    CHECK(gw == SENTINEL);
    CHECK_ERROR(err, AIGW_ERR_INVALID_CONFIG);
    /* The message is borrowed and stays the same until the free. */
    m1 = aigw_error_message(err);
    m2 = aigw_error_message(err);
    CHECK(m1 != NULL && m2 != NULL && strcmp(m1, m2) == 0);
    CHECK_STATUS(aigw_error_status(err), AIGW_ERR_INVALID_CONFIG);
    aigw_error_free(err);
}

int main(void)
{
    test_status_str();
    test_version();
    test_error_null();
    test_free_null();
    test_response_getters_null();
    test_error_object_roundtrip();
    return h_finish();
}
