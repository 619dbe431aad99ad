/* aigw_gateway_new / aigw_gateway_free: defaults, config validation, errors. */
#include "harness.h"

static void expect_ok(const char *config, int line)
{
    aigw_gateway *gw = NULL;
    aigw_error *err = NULL;
    aigw_status st = aigw_gateway_new(config, &gw, &err);
    h_check(st == AIGW_OK && gw != NULL, __FILE__, line, "aigw_gateway_new(config) == AIGW_OK",
            "config %s: got %s: %s", config ? config : "NULL", aigw_status_str((int)st),
            err ? aigw_error_message(err) : "(no error object)");
    h_check(err == NULL, __FILE__, line, "no error object on success", NULL);
    aigw_error_free(err);
    if (st == AIGW_OK)
        aigw_gateway_free(gw);
}
#define EXPECT_OK(config) expect_ok((config), __LINE__)

/* Expects `want`, an error object naming `mention` (if not NULL), and the
 * out-param left alone. */
static void expect_fail(const char *config, aigw_status want, const char *mention, int line)
{
    aigw_gateway *gw = SENTINEL;
    aigw_error *err = NULL;
    aigw_status st = aigw_gateway_new(config, &gw, &err);
    h_check_status((long)st, (long)want, __FILE__, line, "aigw_gateway_new(config)");
    if (st == AIGW_OK) {
        fprintf(stderr, "    config was: %s\n", config);
        aigw_gateway_free(gw);
        return;
    }
    h_check(gw == SENTINEL, __FILE__, line, "*out untouched on failure", NULL);
    if (h_check_error(err, (long)want, __FILE__, line) && mention != NULL)
        h_check(h_contains(aigw_error_message(err), mention), __FILE__, line,
                "error message names the problem", "\"%s\" not in \"%s\"", mention,
                aigw_error_message(err));
    aigw_error_free(err);

    /* The error pointer is optional. */
    gw = SENTINEL;
    st = aigw_gateway_new(config, &gw, NULL);
    h_check_status((long)st, (long)want, __FILE__, line, "aigw_gateway_new(config, &gw, NULL)");
    h_check(gw == SENTINEL, __FILE__, line, "*out untouched on failure (error NULL)", NULL);
    if (st == AIGW_OK)
        aigw_gateway_free(gw);
}
#define EXPECT_FAIL(config, want, mention) expect_fail((config), (want), (mention), __LINE__)

static void test_defaults(void)
{
    aigw_gateway *gw = NULL;
    h_section("defaults");
    EXPECT_OK(NULL);
    EXPECT_OK("{}");
    EXPECT_OK("  { }  ");
    /* The error pointer may be NULL on success too. */
    CHECK_STATUS(aigw_gateway_new("{}", &gw, NULL), AIGW_OK);
    CHECK(gw != NULL);
    aigw_gateway_free(gw);
}

static void test_full_config(void)
{
    h_section("full config from API.md");
    EXPECT_OK("{\"account_id\":\"ACCOUNT_TAG\","
              "\"providers\":{"
              "\"openai\":{\"base_url\":\"http://127.0.0.1:9000/v1\"},"
              "\"custom-local\":{\"base_url\":\"http://127.0.0.1:11434/v1\"}},"
              "\"request_timeout_ms\":0,\"max_attempts\":1,\"retry_delay_ms\":0,"
              "\"backoff\":\"constant\"}");
    /* Boundaries that are in range. */
    EXPECT_OK("{\"max_attempts\":5}");
    EXPECT_OK("{\"max_attempts\":1}");
    EXPECT_OK("{\"retry_delay_ms\":5000}");
    EXPECT_OK("{\"request_timeout_ms\":30000}");
    EXPECT_OK("{\"backoff\":\"constant\"}");
    EXPECT_OK("{\"backoff\":\"linear\"}");
    EXPECT_OK("{\"backoff\":\"exponential\"}");
    EXPECT_OK("{\"providers\":{}}");
    EXPECT_OK("{\"providers\":{\"huggingface\":{\"base_url\":\"http://127.0.0.1:1/models\"},"
              "\"workers-ai\":{\"base_url\":\"http://127.0.0.1:1/ai/run\"},"
              "\"replicate\":{\"base_url\":\"http://127.0.0.1:1/v1\"}}}");
}

static void test_invalid(void)
{
    h_section("invalid configs");
    EXPECT_FAIL("{", AIGW_ERR_INVALID_CONFIG, NULL);
    EXPECT_FAIL("not json", AIGW_ERR_INVALID_CONFIG, NULL);
    EXPECT_FAIL("{\"max_attempts\":1,}", AIGW_ERR_INVALID_CONFIG, NULL);
    EXPECT_FAIL("[]", AIGW_ERR_INVALID_CONFIG, NULL);
    EXPECT_FAIL("42", AIGW_ERR_INVALID_CONFIG, NULL);
    /* Unknown keys name the key (typos are caught). */
    EXPECT_FAIL("{\"max_attemps\":2}", AIGW_ERR_INVALID_CONFIG, "max_attemps");
    EXPECT_FAIL("{\"providers\":{\"openai\":{\"base_url\":\"http://127.0.0.1:1/v1\","
                "\"bsae_url_typo\":\"x\"}}}",
                AIGW_ERR_INVALID_CONFIG, "bsae_url_typo");
    /* Out-of-range and mistyped values. */
    EXPECT_FAIL("{\"max_attempts\":0}", AIGW_ERR_INVALID_CONFIG, "max_attempts");
    EXPECT_FAIL("{\"max_attempts\":6}", AIGW_ERR_INVALID_CONFIG, "max_attempts");
    EXPECT_FAIL("{\"max_attempts\":-1}", AIGW_ERR_INVALID_CONFIG, NULL);
    EXPECT_FAIL("{\"max_attempts\":\"3\"}", AIGW_ERR_INVALID_CONFIG, NULL);
    EXPECT_FAIL("{\"retry_delay_ms\":5001}", AIGW_ERR_INVALID_CONFIG, "retry_delay_ms");
    EXPECT_FAIL("{\"retry_delay_ms\":-5}", AIGW_ERR_INVALID_CONFIG, NULL);
    EXPECT_FAIL("{\"request_timeout_ms\":-1}", AIGW_ERR_INVALID_CONFIG, NULL);
    /* The message names the bad value. */
    EXPECT_FAIL("{\"backoff\":\"sideways\"}", AIGW_ERR_INVALID_CONFIG, "sideways");
    EXPECT_FAIL("{\"backoff\":1}", AIGW_ERR_INVALID_CONFIG, NULL);
    EXPECT_FAIL("{\"providers\":[]}", AIGW_ERR_INVALID_CONFIG, NULL);
    EXPECT_FAIL("{\"providers\":{\"openai\":{\"base_url\":42}}}", AIGW_ERR_INVALID_CONFIG,
                NULL);
    EXPECT_FAIL("{\"providers\":{\"openai\":{\"base_url\":\"not a url\"}}}",
                AIGW_ERR_INVALID_CONFIG, NULL);
}

static void test_invalid_utf8(void)
{
    aigw_gateway *gw = SENTINEL;
    aigw_error *err = NULL;
    h_section("config that is not UTF-8");
    CHECK_STATUS(aigw_gateway_new("{\"account_id\":\"\xff\"}", &gw, &err),
                 AIGW_ERR_INVALID_ARGUMENT);
    CHECK(gw == SENTINEL);
    CHECK_ERROR(err, AIGW_ERR_INVALID_ARGUMENT);
    aigw_error_free(err);
}

static void test_null_out(void)
{
    aigw_error *err = NULL;
    h_section("NULL out");
    CHECK_STATUS(aigw_gateway_new("{}", NULL, &err), AIGW_ERR_NULL_ARGUMENT);
    /* An error object is optional here, but if given it must say the same. */
    if (err != NULL)
        CHECK_ERROR(err, AIGW_ERR_NULL_ARGUMENT);
    aigw_error_free(err);
    CHECK_STATUS(aigw_gateway_new("{}", NULL, NULL), AIGW_ERR_NULL_ARGUMENT);
    CHECK_STATUS(aigw_gateway_new(NULL, NULL, NULL), AIGW_ERR_NULL_ARGUMENT);
}

static void test_many(void)
{
    aigw_gateway *gws[16];
    size_t i;
    h_section("many gateways at once");
    for (i = 0; i < sizeof gws / sizeof gws[0]; i++)
        CHECK_STATUS(aigw_gateway_new(NULL, &gws[i], NULL), AIGW_OK);
    for (i = 0; i < sizeof gws / sizeof gws[0]; i++)
        aigw_gateway_free(gws[i]);
}

int main(void)
{
    test_defaults();
    test_full_config();
    test_invalid();
    test_invalid_utf8();
    test_null_out();
    test_many();
    return h_finish();
}
