/* The loopback HTTP server: aigw_server_start/port/free, their argument
 * checks, a request through the server with a plain socket client, and
 * aigw_server_free while streams are in flight (bounded time; valgrind
 * checks that nothing leaks). Against the mock (AIGW_MOCK_URL). */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CHAT "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
#define CHAT_STREAM \
    "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"

static int under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p != NULL && strstr(p, "vgpreload") != NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int dial(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *text)
{
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

static void post(int fd, const char *path, const char *extra_headers, const char *body)
{
    char req[2048];
    snprintf(req, sizeof req,
             "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             path, extra_headers, strlen(body), body);
    CHECK(send_all(fd, req) == 0);
}

/* Reads until EOF (or the buffer is full); returns the bytes read. */
static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    while (got + 1 < cap) {
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return got;
}

static void test_arguments(const aigw_gateway *gw)
{
    h_section("arguments");
    aigw_server *s = SENTINEL;
    aigw_error *err = NULL;
    CHECK_STATUS(aigw_server_start(NULL, NULL, &s, &err), AIGW_ERR_NULL_ARGUMENT);
    CHECK(s == SENTINEL);
    CHECK_ERROR(err, AIGW_ERR_NULL_ARGUMENT);
    aigw_error_free(err);
    CHECK_STATUS(aigw_server_start(gw, NULL, NULL, NULL), AIGW_ERR_NULL_ARGUMENT);

    err = NULL;
    CHECK_STATUS(aigw_server_start(gw, "{\"listen\":\"127.0.0.1:0\",\"max_conections\":5}", &s,
                                   &err),
                 AIGW_ERR_INVALID_CONFIG);
    CHECK(s == SENTINEL);
    CHECK_ERROR(err, AIGW_ERR_INVALID_CONFIG);
    CHECK_CONTAINS(aigw_error_message(err), "max_conections");
    aigw_error_free(err);

    err = NULL;
    CHECK_STATUS(aigw_server_start(gw, "{not json", &s, &err), AIGW_ERR_INVALID_CONFIG);
    aigw_error_free(err);

    /* Reachable from other machines only with a token. */
    err = NULL;
    CHECK_STATUS(aigw_server_start(gw, "{\"listen\":\"0.0.0.0:0\"}", &s, &err),
                 AIGW_ERR_INVALID_CONFIG);
    CHECK_CONTAINS(aigw_error_message(err), "auth_token");
    aigw_error_free(err);

    CHECK_STATUS(aigw_server_start(gw, "{\"listen\":\"\xff\"}", &s, NULL),
                 AIGW_ERR_INVALID_ARGUMENT);
    CHECK(s == SENTINEL);

    CHECK(aigw_server_port(NULL) == 0);
    aigw_server_free(NULL);
}

static void test_serve(const aigw_gateway *gw)
{
    h_section("serve");
    aigw_server *s = NULL;
    aigw_error *err = NULL;
    CHECK_STATUS(aigw_server_start(gw, NULL, &s, &err), AIGW_OK);
    if (s == NULL) {
        aigw_error_free(err);
        return;
    }
    uint16_t port = aigw_server_port(s);
    CHECK(port != 0);

    int fd = dial(port);
    CHECK(fd >= 0);
    if (fd >= 0) {
        post(fd, "/v1/ACCOUNT_TAG/GATEWAY/openai/chat/completions",
             "Authorization: Bearer sk-test\r\n", CHAT);
        char buf[8192];
        read_all(fd, buf, sizeof buf);
        const char *text = buf;
        CHECK_CONTAINS(text, "HTTP/1.1 200");
        CHECK_CONTAINS(text, "Hello from the aigw mock.");
        CHECK_CONTAINS(text, "cf-aig-log-id");
        close(fd);
    }
    /* A second server on the same gateway, with a token. */
    aigw_server *t = NULL;
    CHECK_STATUS(aigw_server_start(gw, "{\"auth_token\":\"tok\"}", &t, NULL), AIGW_OK);
    if (t != NULL) {
        CHECK(aigw_server_port(t) != port);
        fd = dial(aigw_server_port(t));
        if (fd >= 0) {
            post(fd, "/openai/chat/completions", "", CHAT);
            char buf[4096];
            read_all(fd, buf, sizeof buf);
            const char *text = buf;
            CHECK_CONTAINS(text, "HTTP/1.1 401");
            close(fd);
        }
    }
    aigw_server_free(t);
    aigw_server_free(s);
    /* Stopped: the port no longer answers. */
    fd = dial(port);
    CHECK(fd < 0);
    if (fd >= 0)
        close(fd);
}

#define STREAMS 4

struct client {
    uint16_t port;
    atomic_int got_first; /* the stream's first bytes arrived */
    int ended;            /* the connection closed after the free */
    pthread_t thread;
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    int fd = dial(c->port);
    if (fd < 0)
        return NULL;
    post(fd, "/openai/chat/completions", "x-mock: stall_after=1\r\n", CHAT_STREAM);
    char buf[4096];
    if (read(fd, buf, sizeof buf) > 0)
        atomic_store(&c->got_first, 1);
    /* The stream stalls; it ends only when the server is freed. */
    read_all(fd, buf, sizeof buf);
    c->ended = 1;
    close(fd);
    return NULL;
}

static void test_free_in_flight(void)
{
    h_section("free with streams in flight");
    aigw_gateway *gw = h_gateway(NULL);
    if (gw == NULL)
        return;
    aigw_server *s = NULL;
    CHECK_STATUS(aigw_server_start(gw, "{\"shutdown_grace_ms\":100}", &s, NULL), AIGW_OK);
    if (s == NULL) {
        aigw_gateway_free(gw);
        return;
    }
    struct client clients[STREAMS];
    for (int i = 0; i < STREAMS; i++) {
        clients[i].port = aigw_server_port(s);
        atomic_init(&clients[i].got_first, 0);
        clients[i].ended = 0;
        CHECK(pthread_create(&clients[i].thread, NULL, client_main, &clients[i]) == 0);
    }
    double wait_until = h_now_ms() + 10000;
    for (int i = 0; i < STREAMS; i++)
        while (!atomic_load(&clients[i].got_first) && h_now_ms() < wait_until)
            sleep_ms(10);
    for (int i = 0; i < STREAMS; i++)
        CHECKF(atomic_load(&clients[i].got_first), "stream %d never started", i);

    double started = h_now_ms();
    aigw_server_free(s);
    double took = h_now_ms() - started;
    double bound = under_valgrind() ? 5000.0 : 1500.0;
    CHECKF(took < bound, "aigw_server_free took %.0f ms (bound %.0f)", took, bound);
    printf("  aigw_server_free with %d stalled streams: %.0f ms\n", STREAMS, took);
    for (int i = 0; i < STREAMS; i++) {
        pthread_join(clients[i].thread, NULL);
        CHECK(clients[i].ended);
    }
    /* The server no longer uses the gateway: it can go. */
    aigw_gateway_free(gw);
}

int main(void)
{
    aigw_gateway *gw = h_gateway(NULL);
    if (gw != NULL) {
        test_arguments(gw);
        test_serve(gw);
        aigw_gateway_free(gw);
    }
    test_free_in_flight();
    return h_finish();
}
