/* Shared state from C: two gateways naming one redis-server (started here
 * on a free loopback port, persistence off, killed at the end) share a rate
 * limit and a cache; when Redis dies, fail_open serves and logs the error,
 * fail_closed refuses with AIGW_ERR_CONNECT naming Redis. Mirrors
 * tests/shared_state.rs. Skipped (counted as one pass) without redis-server. */
#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define BODY "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"

static const char *const AUTH[] = {"Authorization", "Bearer sk-test-key", NULL};

static int can_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static pid_t start_redis(int port)
{
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    char *argv[] = {"redis-server", "--port", port_text, "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", "/tmp", "--loglevel", "warning", NULL};
    pid_t pid;
    posix_spawn_file_actions_t quiet;
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&quiet, 1, 2);
    int spawned = posix_spawnp(&pid, "redis-server", &quiet, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&quiet);
    if (spawned != 0)
        return -1;
    for (double t0 = h_now_ms(); h_now_ms() - t0 < 10000;) {
        if (can_connect(port))
            return pid;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void stop_redis(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static aigw_gateway *shared_gateway(int port, const char *prefix, const char *extra)
{
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             ",\"shared_state\":{\"redis_url\":\"redis://127.0.0.1:%d/0\",\"key_prefix\":\"%s\"%s}",
             port, prefix, extra);
    return h_gateway(cfg);
}

static const char *cache_status(aigw_response *r)
{
    const char *s = r ? aigw_response_header(r, "cf-aig-cache-status") : NULL;
    return s ? s : "";
}

int main(void)
{
    int port = h_closed_port();
    pid_t redis = start_redis(port);
    if (redis < 0) {
        printf("redis-server not available: skipped\n");
        CHECK(1);
        return h_finish();
    }

    h_section("rate limit and cache shared by two gateways");
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             ",\"shared_state\":{\"redis_url\":\"redis://127.0.0.1:%d/0\",\"key_prefix\":\"c-rl:\","
             "\"on_error\":\"fail_closed\"},\"rate_limit\":{\"limit\":3,\"interval_s\":3600,"
             "\"technique\":\"sliding\"}",
             port);
    aigw_gateway *a = h_gateway(cfg);
    aigw_gateway *b = h_gateway(cfg);
    aigw_request *req = h_request("POST", "openai/chat/completions", AUTH, BODY);
    aigw_response *r;
    r = SEND_OK(a, req);
    aigw_response_free(r);
    r = SEND_OK(b, req);
    aigw_response_free(r);
    r = SEND_OK(a, req);
    aigw_response_free(r);
    aigw_error *e = SEND_FAIL(b, req, AIGW_ERR_RATE_LIMITED);
    aigw_error_free(e);
    aigw_gateway_free(a);
    aigw_gateway_free(b);

    const char *const cached_headers[] = {"Authorization", "Bearer sk-test-key",
                                          "cf-aig-cache-ttl", "60", NULL};
    aigw_request *cached = h_request("POST", "openai/chat/completions", cached_headers, BODY);
    a = shared_gateway(port, "c-cache:", "");
    b = shared_gateway(port, "c-cache:", "");
    r = SEND_OK(a, cached);
    CHECKF(strcmp(cache_status(r), "MISS") == 0, "first: '%s'", cache_status(r));
    aigw_response_free(r);
    r = SEND_OK(b, cached);
    CHECKF(strcmp(cache_status(r), "HIT") == 0, "other gateway: '%s'", cache_status(r));
    aigw_response_free(r);
    aigw_gateway_free(a);
    aigw_gateway_free(b);

    h_section("Redis killed: fail_open serves, fail_closed refuses");
    aigw_gateway *open_gw = shared_gateway(port, "c-open:", ",\"on_error\":\"fail_open\"");
    aigw_gateway *closed_gw = shared_gateway(port, "c-closed:", ",\"on_error\":\"fail_closed\"");
    stop_redis(redis);
    double t0 = h_now_ms();
    r = SEND_OK(open_gw, cached);
    CHECKF(strcmp(cache_status(r), "MISS") == 0, "uncached: '%s'", cache_status(r));
    aigw_response_free(r);
    char *logs = NULL;
    CHECK_STATUS(aigw_gateway_logs(open_gw, NULL, &logs), AIGW_OK);
    CHECK_CONTAINS(logs, "\"shared_state_error\":\"Redis at 127.0.0.1:");
    aigw_string_free(logs);
    e = SEND_FAIL(closed_gw, cached, AIGW_ERR_CONNECT);
    CHECK_CONTAINS(e ? aigw_error_message(e) : NULL, "Redis at 127.0.0.1:");
    aigw_error_free(e);
    CHECKF(h_now_ms() - t0 < 2000, "took %.0f ms", h_now_ms() - t0);
    aigw_gateway_free(open_gw);
    aigw_gateway_free(closed_gw);

    h_section("bad shared_state config, credentials never echoed");
    aigw_gateway *gw = SENTINEL;
    e = NULL;
    CHECK_STATUS(aigw_gateway_new("{\"shared_state\":{\"redis_url\":\"http://u:s3cret@h\"}}", &gw, &e),
                 AIGW_ERR_INVALID_CONFIG);
    CHECK(gw == SENTINEL);
    CHECK_CONTAINS(e ? aigw_error_message(e) : NULL, "redis_url");
    CHECK_NOT_CONTAINS(e ? aigw_error_message(e) : NULL, "s3cret");
    aigw_error_free(e);

    aigw_request_free(req);
    aigw_request_free(cached);
    return h_finish();
}
