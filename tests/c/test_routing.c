/* Routes validated at aigw_gateway_new, and cooldowns on Universal steps,
 * from C. (Requests through "dynamic/<route>" need the unified API.) */
#include "harness.h"

#define ROUTE_OK                                                                            \
    ",\"routes\":{\"tiers\":{\"elements\":["                                                \
    "{\"id\":\"start\",\"type\":\"start\",\"outputs\":{\"next\":{\"elementId\":\"c\"}}},"   \
    "{\"id\":\"c\",\"type\":\"conditional\","                                               \
    "\"properties\":{\"condition\":{\"metadata.plan\":{\"$eq\":\"paid\"}}},"                \
    "\"outputs\":{\"true\":{\"elementId\":\"big\"},\"false\":{\"elementId\":\"small\"}}},"  \
    "{\"id\":\"big\",\"type\":\"model\",\"properties\":{\"provider\":\"openai\","           \
    "\"model\":\"gpt-4o\"},\"outputs\":{\"success\":{\"elementId\":\"end\"},"               \
    "\"fallback\":{\"elementId\":\"small\"}}},"                                             \
    "{\"id\":\"small\",\"type\":\"model\",\"properties\":{\"provider\":\"openai\","         \
    "\"model\":\"gpt-4o-mini\"},\"outputs\":{\"success\":{\"elementId\":\"end\"}}},"        \
    "{\"id\":\"end\",\"type\":\"end\"}]}}"

static void check_bad_config(const char *extra, const char *needle)
{
    char config[4096];
    aigw_gateway *gw = SENTINEL;
    aigw_error *err = NULL;
    h_mock_config(config, sizeof config, extra);
    CHECK_STATUS(aigw_gateway_new(config, &gw, &err), AIGW_ERR_INVALID_CONFIG);
    CHECK(gw == SENTINEL);
    CHECK_ERROR(err, AIGW_ERR_INVALID_CONFIG);
    if (err != NULL)
        CHECK_CONTAINS(aigw_error_message(err), needle);
    aigw_error_free(err);
}

static void test_route_validation(void)
{
    h_section("routes are validated at aigw_gateway_new");
    aigw_gateway *gw = h_gateway(ROUTE_OK ",\"route_seed\":7");
    aigw_gateway_free(gw);
    check_bad_config(",\"routes\":{\"r\":{\"elements\":["
                     "{\"id\":\"s\",\"type\":\"start\",\"outputs\":{\"next\":{\"elementId\":\"x\"}}}]}}",
                     "routes.r: element \"s\": output \"next\" leads to a missing id \"x\"");
    check_bad_config(",\"routes\":{\"r\":{\"elements\":[{\"id\":\"e\",\"type\":\"end\"}]}}",
                     "routes.r: no \"start\" element");
    check_bad_config(",\"routes\":{\"r\":{\"elements\":["
                     "{\"id\":\"s\",\"type\":\"start\",\"outputs\":{\"next\":{\"elementId\":\"p\"}}},"
                     "{\"id\":\"p\",\"type\":\"percentage\",\"outputs\":{\"70%\":{\"elementId\":\"e\"},"
                     "\"40%\":{\"elementId\":\"e\"}}},{\"id\":\"e\",\"type\":\"end\"}]}}",
                     "element \"p\": percentages add up to 110%");
    check_bad_config(",\"cooldown\":{\"after_failures\":0,\"seconds\":5}", "cooldown.after_failures");
}

static void test_cooldown_skips(void)
{
    h_section("a failing provider and model cools down");
    char key[64], steps[1024];
    aigw_gateway *gw = h_gateway(",\"cooldown\":{\"after_failures\":2,\"seconds\":60}");
    static const char *const json_ct[] = {"Content-Type", "application/json", NULL};
    h_unique_key(key, sizeof key, "cool");
    snprintf(steps, sizeof steps,
             "[{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
             "\"headers\":{\"x-mock\":\"status=503,key=%s\"},\"query\":{\"model\":\"flaky\"}},"
             "{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
             "\"query\":{\"model\":\"steady\"}}]",
             key);
    for (int i = 0; i < 3; i++) {
        aigw_request *req = h_request("POST", "", json_ct, steps);
        aigw_response *resp = SEND_OK(gw, req);
        if (resp != NULL) {
            CHECK(aigw_response_status(resp) == 200);
            CHECK(aigw_response_step(resp) == 1);
        }
        aigw_response_free(resp);
        aigw_request_free(req);
    }
    /* The third request skipped the cooled-down step. */
    CHECK(h_mock_key_count(gw, key) == 2);
    char *text = NULL;
    CHECK_STATUS(aigw_gateway_metrics(gw, AIGW_METRICS_PROMETHEUS, &text), AIGW_OK);
    CHECK_CONTAINS(text, "aigw_cooldown_skips_total{provider=\"openai\",model=\"flaky\"} 1");
    CHECK_CONTAINS(text, "aigw_cooldown_active{provider=\"openai\",model=\"flaky\"} 1");
    aigw_string_free(text);
    aigw_gateway_free(gw);
}

int main(void)
{
    test_route_validation();
    test_cooldown_skips();
    return h_finish();
}
