/* Eight threads share one gateway; each sends a mix of provider and
 * Universal requests. Also: one response read from every thread at once. */
#include "harness.h"

#include <pthread.h>

#define THREADS 8
#define PER_THREAD 50

#define CHAT_BODY \
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"

static const char *const provider_headers[] = {
    "Authorization", "Bearer sk-thread", "Content-Type", "application/json", NULL,
};
static const char *const universal_headers[] = {"Content-Type", "application/json", NULL};
static const char universal_steps[] =
    "[{\"provider\":\"huggingface\",\"endpoint\":\"bigcode/starcoder\","
    "\"headers\":{\"x-mock\":\"status=503\"},\"query\":{\"inputs\":\"a\"}},"
    "{\"provider\":\"openai\",\"endpoint\":\"chat/completions\","
    "\"authorization\":\"Bearer sk-thread\",\"query\":" CHAT_BODY "}]";

struct worker {
    const aigw_gateway *gw;
    int index;
    int provider_ok;
    int universal_ok;
    int failures;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    int i;
    /* One reusable request of each kind per thread, plus fresh ones. */
    aigw_request *provider = h_request("POST", "openai/chat/completions", provider_headers,
                                       CHAT_BODY);
    aigw_request *universal = h_request("POST", "", universal_headers, universal_steps);
    for (i = 0; i < PER_THREAD; i++) {
        int use_universal = (i + w->index) % 2 == 1;
        int fresh = i % 5 == 0;
        aigw_request *req;
        aigw_response *resp = NULL;
        aigw_error *err = NULL;
        aigw_status st;
        if (fresh)
            req = use_universal
                      ? h_request("POST", "", universal_headers, universal_steps)
                      : h_request("POST", "openai/chat/completions", provider_headers, CHAT_BODY);
        else
            req = use_universal ? universal : provider;
        if (req == NULL) {
            w->failures++;
            continue;
        }
        st = aigw_send(w->gw, req, &resp, &err);
        if (fresh)
            aigw_request_free(req);
        if (!CHECKF(st == AIGW_OK, "thread %d request %d: %s: %s", w->index, i,
                    aigw_status_str((int)st), err ? aigw_error_message(err) : "")) {
            aigw_error_free(err);
            w->failures++;
            continue;
        }
        if (use_universal) {
            const char *step = aigw_response_header(resp, "cf-aig-step");
            if (CHECKF(aigw_response_status(resp) == 200 && aigw_response_step(resp) == 1 &&
                           step != NULL && strcmp(step, "1") == 0,
                       "thread %d request %d: status %u step %d", w->index, i,
                       (unsigned)aigw_response_status(resp), (int)aigw_response_step(resp)))
                w->universal_ok++;
            else
                w->failures++;
        } else {
            size_t len = 0;
            if (CHECKF(aigw_response_status(resp) == 200 && aigw_response_step(resp) == 0 &&
                           aigw_response_body(resp, &len) != NULL && len > 0,
                       "thread %d request %d: status %u", w->index, i,
                       (unsigned)aigw_response_status(resp)))
                w->provider_ok++;
            else
                w->failures++;
        }
        aigw_response_free(resp);
    }
    aigw_request_free(provider);
    aigw_request_free(universal);
    return NULL;
}

struct reader {
    const aigw_response *resp;
    const char *expected_body;
    size_t expected_len;
    int mismatches;
};

static void *read_shared(void *arg)
{
    struct reader *r = arg;
    int i;
    for (i = 0; i < 2000; i++) {
        size_t len = 0;
        const uint8_t *body = aigw_response_body(r->resp, &len);
        const char *ct = aigw_response_header(r->resp, "content-type");
        if (body == NULL || len != r->expected_len ||
            memcmp(body, r->expected_body, len) != 0 || ct == NULL ||
            aigw_response_status(r->resp) != 200 || aigw_response_header_count(r->resp) == 0)
            r->mismatches++;
    }
    return NULL;
}

int main(void)
{
    aigw_gateway *gw = h_gateway(NULL);
    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    int i, started = 0, provider_ok = 0, universal_ok = 0, failures = 0;
    double t0;

    if (gw == NULL)
        return h_finish();

    h_section("8 threads x 50 requests through one gateway");
    t0 = h_now_ms();
    for (i = 0; i < THREADS; i++) {
        workers[i].gw = gw;
        workers[i].index = i;
        workers[i].provider_ok = workers[i].universal_ok = workers[i].failures = 0;
        if (CHECK(pthread_create(&threads[i], NULL, work, &workers[i]) == 0))
            started++;
        else
            break;
    }
    for (i = 0; i < started; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        provider_ok += workers[i].provider_ok;
        universal_ok += workers[i].universal_ok;
        failures += workers[i].failures;
    }
    printf("# %d provider + %d universal requests succeeded in %.0f ms\n", provider_ok,
           universal_ok, h_now_ms() - t0);
    CHECK(started == THREADS);
    CHECKF(failures == 0, "%d failures", failures);
    CHECKF(provider_ok == THREADS * PER_THREAD / 2, "provider ok: %d", provider_ok);
    CHECKF(universal_ok == THREADS * PER_THREAD / 2, "universal ok: %d", universal_ok);
    CHECK(provider_ok + universal_ok == THREADS * PER_THREAD);

    h_section("one response read from 8 threads at once");
    {
        aigw_request *req =
            h_request("POST", "openai/chat/completions", provider_headers, CHAT_BODY);
        aigw_response *resp = SEND_OK(gw, req);
        aigw_request_free(req);
        if (resp != NULL) {
            struct reader readers[THREADS];
            char *body = h_body(resp);
            int mismatches = 0;
            started = 0;
            for (i = 0; i < THREADS; i++) {
                readers[i].resp = resp;
                readers[i].expected_body = body;
                readers[i].expected_len = strlen(body);
                readers[i].mismatches = 0;
                if (CHECK(pthread_create(&threads[i], NULL, read_shared, &readers[i]) == 0))
                    started++;
                else
                    break;
            }
            for (i = 0; i < started; i++) {
                CHECK(pthread_join(threads[i], NULL) == 0);
                mismatches += readers[i].mismatches;
            }
            CHECKF(mismatches == 0, "%d mismatching reads", mismatches);
            free(body);
            aigw_response_free(resp);
        }
    }

    aigw_gateway_free(gw);
    return h_finish();
}
